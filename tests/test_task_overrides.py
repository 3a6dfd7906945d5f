"""Per-task settings (`RunConfig.task_overrides`): applied to that task's runs only, validated like the run's own
fields with errors naming the task and field, part of the run key; and notebook 03's parameter files, whose
real-path variants carry XTREME's baseline hyperparameters per task family."""
from pathlib import Path

import pytest

from xltlib.core.config import RunConfig, load_params_file
from xltlib.core.errors import ConfigError, UnknownNameError
from xltlib.run.experiment import run_key
from xltlib.run.plan import plan

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "params" / "03_xtreme_r_baseline"


def test_overrides_apply_to_their_task_only():
    cfg = RunConfig(tasks=["udpos", "xquad"], learning_rate=1e-3, max_train_samples=100,
                    task_overrides={"xquad": {"learning_rate": 3e-5, "max_train_samples": None, "max_seq_length": 384}})
    qa, tagging = cfg.for_task("xquad"), cfg.for_task("udpos")
    assert (qa.learning_rate, qa.max_train_samples, qa.max_seq_length) == (3e-5, None, 384)
    assert (tagging.learning_rate, tagging.max_train_samples, tagging.max_seq_length) == (1e-3, 100, 128)
    assert qa.task_overrides == {} and qa.for_task("xquad") == qa  # applying twice changes nothing


@pytest.mark.parametrize("overrides, fragments", [
    ({"xquad": {"learnig_rate": 1e-3}}, ["task_overrides['xquad']", "'learnig_rate'", "learning_rate"]),
    ({"xquad": {"learning_rate": -1.0}}, ["task_overrides['xquad']", "'learning_rate'", "positive"]),
    ({"xquad": {"max_seq_length": "384"}}, ["task_overrides['xquad']", "'max_seq_length'", "integer"]),
    ({"xquad": {"tasks": ["xnli"]}}, ["task_overrides['xquad']", "unknown field 'tasks'"]),
    ({"xquad": 3e-5}, ["task_overrides['xquad']", "must map field names"]),
])
def test_bad_overrides_name_the_task_and_field(overrides, fragments):
    with pytest.raises(ConfigError) as info:
        RunConfig.from_params({"task_overrides": overrides}, "params/run.yaml")
    message = str(info.value)
    assert message.startswith("params/run.yaml: ")
    for fragment in fragments:
        assert fragment in message, message


def test_an_override_for_an_unknown_task_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="xquadd.*xquad"):
        plan(RunConfig(task_overrides={"xquadd": {"learning_rate": 1e-3}}))  # names are the plan's to check


def test_an_override_changes_the_run_key_of_its_task_only():
    base = RunConfig(tasks=["udpos", "tatoeba"])
    changed = base.replace(task_overrides={"udpos": {"learning_rate": 5e-4}, "tatoeba": {"retrieval_layer": 2}})

    def key(cfg, task):
        task_plan = plan(cfg)[task]  # its cfg is cfg.for_task(task)
        return run_key(task_plan.cfg, task_plan, "standard", 1, "model", None)

    assert key(changed, "udpos") != key(base, "udpos")
    assert key(changed, "tatoeba") != key(base, "tatoeba")  # the retrieval layer decides retrieval scores
    assert key(base.replace(task_overrides={"xnli": {"learning_rate": 5e-4}}), "udpos") == key(base, "udpos")


# What google-research/xtreme's scripts set, per model and task family (see each file's header):
# (learning rate, epochs, max length, effective batch) and the retrieval layer.
XTREME = {
    "mbert.yaml": {"udpos": (2e-5, 10, 128, 32), "panx": (2e-5, 10, 128, 32), "xnli": (2e-5, 5, 128, 32),
                   "xcopa": (2e-5, 5, 128, 32), "xquad": (3e-5, 3, 384, 32), "mlqa": (3e-5, 3, 384, 32),
                   "tydiqa": (3e-5, 3, 384, 32), "lareqa": (2e-5, 3, 256, 32), "mewslix": (2e-5, 2, 64, 256),
                   "layer": 7},
    "xlmr-base.yaml": {"udpos": (2e-5, 10, 128, 32), "panx": (2e-5, 10, 128, 32), "xnli": (2e-5, 5, 128, 32),
                       "xcopa": (2e-5, 5, 128, 32), "xquad": (3e-5, 3, 384, 32), "mlqa": (3e-5, 3, 384, 32),
                       "tydiqa": (3e-5, 3, 384, 32), "lareqa": (2e-5, 3, 256, 32), "mewslix": (2e-5, 2, 64, 256),
                       "layer": 7},
    "xlmr-large.yaml": {"udpos": (2e-5, 10, 128, 32), "panx": (2e-5, 10, 128, 32), "xnli": (3e-5, 5, 128, 32),
                        "xcopa": (3e-5, 5, 128, 32), "xquad": (3e-5, 2, 384, 32), "mlqa": (3e-5, 2, 384, 32),
                        "tydiqa": (3e-5, 2, 384, 32), "lareqa": (2e-5, 3, 256, 32), "mewslix": (1e-5, 2, 64, 32),
                        "layer": 13},
}


@pytest.mark.parametrize("name", sorted(XTREME))
def test_real_path_files_carry_xtremes_settings_per_task_family(name):
    cfg = RunConfig.from_params(load_params_file(PARAMS / name), name)
    assert cfg.world == "real" and cfg.max_train_samples is None and cfg.max_eval_samples is None
    for task, expected in XTREME[name].items():
        if task == "layer":
            assert cfg.for_task("tatoeba").retrieval_layer == expected
            continue
        run = cfg.for_task(task)
        got = (run.learning_rate, run.num_train_epochs, run.max_seq_length,
               run.per_device_train_batch_size * run.gradient_accumulation_steps)
        assert got == expected, (task, got)
    assert cfg.for_task("tatoeba").max_seq_length == 512
    assert set(cfg.tasks) == {"xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "lareqa",
                              "mewslix"}
    assert cfg.for_task("lareqa").gradient_accumulation_steps == 1  # in-batch negatives come from one batch
    assert set(cfg.data_files["mewslix"]) == {"train", "validation", "test"}  # no hub copy: the release's files


def test_smoke_file_runs_one_task_per_xtreme_r_group_on_the_tiny_world():
    from xltlib.tasks.catalogue import TASKS

    params = load_params_file(PARAMS / "smoke.yaml")
    assert params["world_preset"] == "tiny" and len(params["seeds"]) >= 2  # intervals need two seeds
    assert {TASKS[t].group.value for t in params["tasks"]} == {"classification", "structured_prediction", "qa",
                                                               "retrieval"}
