"""Schedules as methods (`xltlib.methods.schedules`) on the tiny world: each name parses into the stages it says, a
sequential schedule's target stage enters from the intermediate stage's encoder with a fresh head, a joint stage
draws its tasks as its sampler says, the names are what metrics.csv records, and a bad name, task type or sampler
is a one-line error before any model loads. The intermediate task (MNLI) is written from the world's XNLI rows.
"""
import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from xltlib.app import cli
from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError
from xltlib.methods.recipes import Stage
from xltlib.methods.samplers import probabilities
from xltlib.methods.schedules import intermediate_tasks
from xltlib.methods.spec import Perturbation
from xltlib.run import stages as stages_module
from xltlib.run.experiment import load_stage_data, load_task_data, method_plan, run_experiment, run_key
from xltlib.run.multitask import TaskBatchSampler
from xltlib.run.plan import plan
from xltlib.run.stages import StageInputs, run_schedule, selection, start_model
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.models import InitFrom, fresh_head_model, load_model, load_tokenizer
from xltlib.tasks.spec import TaskSpec

from test_cli import one_line_error, scratch_project
from test_recipes import split as encoder_and_head, same, within

SEED = 3
BUDGET = dict(world_preset="tiny", seeds=[SEED], eval_langs=["en"], generalized=False, max_train_samples=32,
              max_eval_samples=32, num_train_epochs=1.0, per_device_train_batch_size=16, per_device_eval_batch_size=64,
              learning_rate=1e-3, warmup_ratio=0.0, export_predictions=False)


@pytest.fixture(scope="module")
def world(cached_tiny_world):
    return cached_tiny_world


@pytest.fixture(scope="module")
def mnli_files(world, tmp_path_factory) -> dict:
    """MNLI in its hub schema, made from the world's English XNLI rows (the same fields and labels)."""
    root = tmp_path_factory.mktemp("mnli")
    files = {}
    for split, name in (("train", "train"), ("validation", "validation")):
        rows = Path(world.data_files("xnli")[split]["en"]).read_text().splitlines()[:48]
        (root / f"{name}.jsonl").write_text("\n".join(rows) + "\n")
        files[split] = {"en": str(root / f"{name}.jsonl")}
    return files


def config(mnli_files, **changes) -> RunConfig:
    return RunConfig(**{**BUDGET, "tasks": ["xnli"], "data_files": {"mnli": mnli_files}, **changes})


def stages_of(method: str, **changes) -> tuple[Stage, ...]:
    cfg = RunConfig(**{**BUDGET, "tasks": ["xnli"], "methods": [method], **changes})
    return method_plan(plan(cfg)["xnli"], method).stages


def test_each_schedule_name_says_its_stages():
    previous = InitFrom.PREVIOUS_ENCODER
    # the intermediate stage selected on its own task's dev (multi: its last weights), so it is the same whatever the
    # target (`intermediate_select_on`)
    assert stages_of("seq:mnli") == (Stage(("mnli",), select_on="own"), Stage(("xnli",), init=previous))
    assert stages_of("seq:mnli@de,fr") == (Stage(("mnli",), langs=("de", "fr"), select_on="own"),
                                           Stage(("xnli",), init=previous))
    multi = stages_of("multi:mnli+squad")
    assert multi == (Stage(("mnli", "squad"), sampler={"proportional": {}}, select_on="last"),
                     Stage(("xnli",), init=previous))
    on_target = stages_of("seq:mnli", method_options={"seq:mnli": {"intermediate_select_on": "target"}})
    assert selection(on_target[0], TASKS["xnli"]) == "target"  # MNLI is of XNLI's type: XTREME-R's rule
    assert stages_of("multi:all")[0].tasks == intermediate_tasks() and "mnli" in intermediate_tasks()
    assert "image_text" not in intermediate_tasks()  # it trains projections of its own: no multi-task head
    assert "xnli" not in intermediate_tasks() and "tatoeba" not in intermediate_tasks()  # benchmark, not fine-tuned
    assert stages_of("joint:mnli+squad") == (Stage(("mnli", "squad", "xnli"), sampler={"proportional": {}}),)
    temperature = {"temperature": {"temperature": 3, "cap": 1000}}
    joint = stages_of("joint:mnli", method_options={"joint:mnli": {"sampler": temperature,
                                                                   "intermediate_budget": {"num_train_epochs": 2}}})
    assert joint == (Stage(("mnli", "xnli"), sampler=temperature, budget={"num_train_epochs": 2}),)
    assert selection(joint[0], TASKS["xnli"]) == "target"  # a joint stage selects on the target's English dev
    few = stages_of("seq:mnli+fs4s2", eval_langs=["en", "de", "fr"])
    assert few[:2] == stages_of("seq:mnli") and len(few) == 3
    assert few[2] == Stage(("xnli",), split="validation", langs=("de", "fr"), init=InitFrom.PREVIOUS,
                           shots={"k": 4, "shot_set": 2, "from": None})
    assert stages_of("standard+fs1", eval_langs=["en", "de"])[1].shots == {"k": 1, "shot_set": 0, "from": None}
    last = stages_of("standard+fs1", eval_langs=["en", "de"], method_options={"standard+fs1": {"shots_select_on": "last"}})
    assert last[1].select_on == "last" and selection(last[1], TASKS["xnli"]) == "last"


def test_schedule_methods_have_their_own_run_keys_and_leave_standards_alone(world):
    cfg = RunConfig(**{**BUDGET, "tasks": ["xnli"], "eval_langs": ["en", "de"],
                       "methods": ["standard", "seq:mnli", "seq:mnli@de", "seq:mnli+fs4", "seq:mnli+fs4s1"]})
    task_plan = plan(cfg)["xnli"]
    keys = {m: run_key(cfg, method_plan(task_plan, m), m, SEED, "model", world) for m in cfg.methods}
    assert len(set(keys.values())) == len(keys), keys
    alone = RunConfig(**{**BUDGET, "tasks": ["xnli"], "eval_langs": ["en", "de"], "methods": ["standard"]})
    assert run_key(alone, plan(alone)["xnli"], "standard", SEED, "model", world) == keys["standard"]


def inputs_for(cfg: RunConfig, world, method: str) -> tuple[StageInputs, tuple[Stage, ...]]:
    task_plan = method_plan(plan(cfg)["xnli"], method, world)
    data = load_task_data(task_plan.cfg, "xnli", world)
    stage_data = {name: load_stage_data(task_plan.cfg, name, s.split, s.langs, world)
                  for s in task_plan.stages for name in s.tasks if name != "xnli"}
    inputs = StageInputs(data, stage_data, str(world.encoder_dir), InitFrom.PRETRAINED_ENCODER, Perturbation(), SEED,
                         load_tokenizer(str(world.encoder_dir)), method)
    return inputs, task_plan.stages


def test_a_sequential_schedule_enters_the_target_from_stage_ones_encoder_with_a_fresh_head(world, mnli_files,
                                                                                          tmp_path):
    inputs, stages = inputs_for(config(mnli_files, methods=["seq:mnli"]), world, "seq:mnli")
    first, result = run_schedule(stages[:1], inputs, config(mnli_files), tmp_path / "mnli")
    assert result.global_step == 2  # 32 MNLI rows, batch 16
    pretrained = load_model(inputs.model_path, TASKS["xnli"], InitFrom.PRETRAINED_ENCODER, SEED)
    first_encoder, first_head = encoder_and_head(first)
    assert not same(first_encoder, encoder_and_head(pretrained)[0])  # stage 1 trained the encoder

    second = start_model(stages[1], 1, first, inputs)
    encoder, head = encoder_and_head(second)
    assert same(encoder, first_encoder)  # stage 2 starts from stage 1's encoder...
    assert not same(head, first_head)  # ...not from its head (MNLI's and XNLI's heads have the same shape)
    assert same(head, encoder_and_head(fresh_head_model(pretrained, TASKS["xnli"], SEED))[1])  # a fresh, seeded one


def test_a_joint_stage_draws_its_tasks_as_its_sampler_says(world, mnli_files, monkeypatch, tmp_path):
    weights = {"mnli": 3, "xnli": 1}
    method = "joint:mnli"
    cfg = config(mnli_files, methods=[method], method_options={method: {"sampler": {"specified": {"weights": weights}}}})
    inputs, stages = inputs_for(cfg, world, method)
    (stage,) = stages
    assert stage.tasks == ("mnli", "xnli")
    seen = {}

    def capture(model, examples, collate, args, **kwargs):  # the stage's training call, not run: its sampler counted
        seen.update(kwargs, examples=examples)
        return "trained"

    monkeypatch.setattr(stages_module, "train", capture)
    model = start_model(stage, 0, None, inputs)
    assert stages_module.train_stage(stage, 0, model, inputs, cfg, tmp_path) == "trained"
    sizes = {"mnli": 32, "xnli": 32}
    assert Counter(e["_task"] for e in seen["examples"]) == sizes
    sampler = seen["batch_sampler"](torch.Generator())
    counts, n = Counter(), 0
    for epoch in range(200):
        sampler.generator.manual_seed(epoch)
        for batch in sampler:
            counts["mnli" if batch[0] < sizes["mnli"] else "xnli"] += 1
            n += 1
    within(counts, n, {"mnli": 0.75, "xnli": 0.25})
    # The default, proportional: equal sizes, equal shares.
    default = probabilities({"proportional": {}}, sizes)
    assert isinstance(sampler, TaskBatchSampler) and math.isclose(default["mnli"], 0.5)


def test_schedule_methods_run_end_to_end_and_name_their_recipe_in_metrics(world, mnli_files, tmp_path):
    methods = ["seq:mnli", "joint:mnli"]
    records = run_experiment(config(mnli_files, methods=methods), tmp_path / "run", world)
    assert sorted(set(records.method)) == sorted(methods)
    test = records[(records.split == "test") & (records.metric == "accuracy")]
    assert len(test) == 2 and test.value.between(0, 1).all()
    store = json.loads((tmp_path / "run" / "store.json").read_text())
    assert len(store["misses"]) == 2 and any("xnli-seq:mnli-seed3" in m for m in store["misses"])
    again = run_experiment(config(mnli_files, methods=methods), tmp_path / "run", world)
    assert again.equals(records)  # read back from the store


@pytest.mark.parametrize("method, options, fragments", [
    ("seq:nosuchtask", {}, ["'seq:nosuchtask'", "unknown task 'nosuchtask'", "known tasks: xnli"]),
    ("seq:supertags", {}, ["task 'supertags' has type 'ccg_supertagging'", "handled types: ", "pair_classification"]),
    ("multi:mnli+squad", {"sampler": "roundrobin"}, ["unknown sampler 'roundrobin'", "uniform, proportional, "
                                                                                      "temperature, specified"]),
    ("joint:mnli", {"sampler": {"temperature": {"temprature": 2}}}, ["unknown option 'temprature'"]),
    ("multi:mnli", {}, ["'multi:mnli'", "seq:mnli"]),
    ("seq:mnli+squad", {}, ["seq: names one intermediate task", "multi:mnli+squad"]),
    ("seq:mnli+fs0", {}, ["k must be at least 1", "+fs0"]),
    ("joint:mnli@de", {}, ["'joint:mnli@de'", "seq:mnli@de"]),
    ("seq:mnli@Deutsch", {}, ["'@Deutsch'"]),
    ("seq:tatoeba", {}, ["task 'tatoeba'", "not fine-tuned"]),
    ("seq:xnli", {}, ["'xnli' is the target itself"]),
    ("seq:mnli+fs4", {}, ["few-shot stage", "source language only", "eval_langs"]),
    ("seq:mnli@mix", {}, ["'@mix'", "mnli has en", "data_files"]),
    ("seq:mnli", {"shots_split": "test"}, ["'shots_split'", "'test'"]),
    ("multi:mnli+image_text", {}, ["task 'image_text' (image_text) trains a module of its own", "seq:image_text"]),
    ("joint:lareqa", {}, ["task 'lareqa' (dense_retrieval) trains a module of its own"]),
])
def test_a_bad_schedule_is_one_line_naming_it_before_anything_loads(monkeypatch, mnli_files, method, options,
                                                                    fragments):
    monkeypatch.setitem(TASKS._entries, "supertags", TaskSpec(
        name="supertags", type="ccg_supertagging", group=None, metric="accuracy", langs=("en",), train=None, dev=None,
        test=None, text_fields=("tokens",)))
    cfg = config(mnli_files, world="real", model_name_or_path="bert-base-multilingual-cased", methods=[method],
                 method_options={method: options} if options else {},
                 data_files={"mnli": mnli_files} if "mnli" in method else {})
    with pytest.raises(ConfigError) as info:
        run_experiment(cfg, "unused")  # no world, no model: the error comes before either is needed
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_a_schedule_method_and_stages_for_the_same_task_are_refused(mnli_files):
    cfg = config(mnli_files, methods=["seq:mnli"], stages={"xnli": [{"tasks": ["mnli"]}]})
    with pytest.raises(ConfigError, match=r"method 'seq:mnli' says task 'xnli'.*stages\['xnli'\]"):
        run_experiment(cfg, "unused")


def test_xlt_run_refuses_a_bad_schedule_name_in_one_line(tmp_path, monkeypatch, capsys):
    scratch_project(tmp_path, monkeypatch, "sched", 'methods = ["standard"]')
    assert cli.main(["run", "sched", "-p", "methods", "[seq:hellaswagg]"]) == 2
    err = one_line_error(capsys)
    assert "'seq:hellaswagg'" in err and "unknown task 'hellaswagg'" in err
