"""Bad input is a clear ConfigError naming the value at fault, raised by `xltlib.run.plan.plan` (or by RunConfig
itself for types and ranges) before any model, tokenizer, data or world loads. Every loader is replaced by one
that fails the test if called, and each bad config also goes through the notebooks' `setup` and `run_experiment`,
the paths a user takes, which must refuse it the same way.
"""
import pytest

import xltlib.run.experiment as experiment
import xltlib.tasks.models as models
from xltlib.app.notebook import setup
from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError
from xltlib.run.plan import plan


class Loaded(AssertionError):
    """Something loaded before the config was checked."""


@pytest.fixture
def nothing_loads(monkeypatch):
    """Every way to a model, tokenizer, task data or the embedded world raises `Loaded`."""

    def refuse(what):
        def loader(*args, **kwargs):
            raise Loaded(f"{what} was called before the config was refused")

        return loader

    import transformers

    import xltlib.world.build as build

    for module in (models, experiment):
        for name in ("load_model", "load_tokenizer", "resolve_model_path", "fresh_head_model"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse(f"{module.__name__}.{name}"))
    for name in ("load_task_data", "load_stage_data"):
        monkeypatch.setattr(experiment, name, refuse(f"run.experiment.{name}"))
    for name in ("AutoModel", "AutoModelForSequenceClassification", "AutoModelForTokenClassification",
                 "AutoModelForQuestionAnswering", "AutoModelForMultipleChoice", "AutoModelForMaskedLM",
                 "AutoTokenizer", "AutoConfig"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse(f"transformers.{name}"))
    monkeypatch.setattr(build, "get_world", refuse("the world builder"))
    monkeypatch.setattr(build, "build_world", refuse("the world builder"), raising=False)


def refused(tmp_path, expected: tuple[str, ...], **params) -> str:
    """The message of the ConfigError that plan, setup and run_experiment each raise for `params`; each of
    `expected` appears in it."""
    cfg = RunConfig(**params)
    with pytest.raises(ConfigError) as by_plan:
        plan(cfg)
    message = str(by_plan.value)
    for part in expected:
        assert part in message, f"{part!r} not in: {message}"
    with pytest.raises(ConfigError) as by_setup:
        setup(dict(params), "test_plan")
    assert str(by_setup.value) == message
    with pytest.raises(ConfigError) as by_run:
        experiment.run_experiment(cfg, tmp_path / "run", world=None)
    assert str(by_run.value) == message
    assert not (tmp_path / "run").exists(), "run_experiment wrote a run directory before refusing the config"
    return message


# (params, what the message names): methods, attacks and smoothing that are not defined for a task's type.
UNDEFINED = {
    "rs_da on retrieval": (dict(tasks=["tatoeba"], methods=["rs_da"]), ("'rs_da'", "'tatoeba'")),
    "at on retrieval": (dict(tasks=["tatoeba"], methods=["at"]), ("'at'", "'tatoeba'")),
    "free_at on retrieval": (dict(tasks=["xnli", "tatoeba"], methods=["standard", "free_at"]),
                             ("'free_at'", "'tatoeba'", "sentence_retrieval")),
    "synonym attack on tagging": (dict(tasks=["udpos"], methods=["standard"], attacks={"synonym": {}}),
                                  ("attack 'synonym'", "'udpos'", "tagging")),
    "codeswitch attack on span QA": (dict(tasks=["xquad"], methods=["standard"],
                                          attacks={"codeswitch": {"target_lang": "de"}}),
                                     ("attack 'codeswitch'", "'xquad'")),
    "gaussian smoothing on span QA": (dict(tasks=["xquad"], methods=["standard"], smoothing={"gaussian": {}}),
                                      ("smoothing 'gaussian'", "'xquad'", "span_qa")),
    "rs_rp voting on tagging": (dict(tasks=["udpos"], methods=["rs_rp"],
                                     method_options={"rs_rp": {"smooth_predictions": True}}),
                                ("'rs_rp'", "'udpos'", "'vote'")),
    "pgd attack on retrieval": (dict(tasks=["tatoeba"], methods=["standard"], attacks={"pgd": {}}),
                                ("attack 'pgd'", "'tatoeba'")),
}


@pytest.mark.parametrize("params, expected", UNDEFINED.values(), ids=UNDEFINED.keys())
def test_a_method_or_attack_not_defined_for_the_task_is_refused(nothing_loads, tmp_path, params, expected):
    refused(tmp_path, expected, **params)


def test_a_later_task_is_checked_before_the_first_task_loads(nothing_loads, tmp_path):
    """The plan covers every task of the run: xnli is fine, but tatoeba, listed second, refuses `at` before
    xnli's data or model loads."""
    refused(tmp_path, ("'at'", "'tatoeba'"), tasks=["xnli", "tatoeba"], methods=["standard", "at"])


STAGES = {
    "unknown stage task": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["nope"]}]}),
                           ("stages['xcopa'][0]", "'nope'")),
    "negative sampler temperature": (
        dict(tasks=["xnli"], stages={"xnli": [{"tasks": ["xnli", "pawsx"],
                                               "sampler": {"temperature": {"temperature": -1}}}]}),
        ("temperature", "-1")),
    "sampler cap below 1": (
        dict(tasks=["xnli"], stages={"xnli": [{"tasks": ["xnli", "pawsx"],
                                               "sampler": {"temperature": {"cap": 0}}}]}),
        ("'cap'", "0")),
    "unknown sampler": (dict(tasks=["xnli"], stages={"xnli": [{"tasks": ["xnli", "pawsx"], "sampler": "annealed"}]}),
                        ("'annealed'",)),
    "specified weight missing a task": (
        dict(tasks=["xnli"], stages={"xnli": [{"tasks": ["xnli", "pawsx"],
                                               "sampler": {"specified": {"weights": {"xnli": 1}}}}]}),
        ("stages['xnli'][0]", "'specified'", "'pawsx'")),
    "specified weight for a task not in the stage": (
        dict(tasks=["xnli"], stages={"xnli": [{"tasks": ["xnli", "pawsx"],
                                               "sampler": {"specified": {"weights": {"xnli": 1, "pawsx": 1,
                                                                                     "pawx": 1}}}}]}),
        ("stages['xnli'][0]", "'pawx'")),
    "specified weights all zero": (
        dict(tasks=["xnli"], stages={"xnli": [{"tasks": ["xnli", "pawsx"],
                                               "sampler": {"specified": {"weights": {"xnli": 0, "pawsx": 0}}}}]}),
        ("'specified'", "weights")),
    "sampler on a one-task stage": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"],
                                                                             "sampler": "uniform"}]}),
                                    ("stages['xcopa'][0]", "'siqa'", "sampler")),
    "init on the first stage": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"], "init": "previous"}]}),
                                ("stages['xcopa'][0]", "'previous'")),
    "init scratch on a later stage": (
        dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"]}, {"tasks": ["xcopa"], "init": "scratch"}]}),
        ("stages['xcopa'][1]", "'scratch'")),
    "unknown init": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"]}, {"tasks": ["xcopa"],
                                                                                   "init": "warm"}]}),
                     ("stages['xcopa'][1]", "'warm'")),
    "unknown stage key": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"], "epochs": 2}]}),
                          ("stages['xcopa'][0]", "'epochs'")),
    "unknown budget field": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"],
                                                                      "budget": {"epochs": 2}}]}),
                             ("stages['xcopa'][0]", "'epochs'")),
    "training on test": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"], "split": "test"}]}),
                         ("stages['xcopa'][0]", "'test'")),
    "unknown select_on": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"], "select_on": "best"}]}),
                          ("'best'",)),
    "a task listed twice": (dict(tasks=["xnli"], stages={"xnli": [{"tasks": ["xnli", "xnli"]}]}),
                            ("stages['xnli'][0]", "twice")),
    "stages for an unknown task": (dict(tasks=["xcopa"], stages={"xcopaa": [{"tasks": ["siqa"]}]}),
                                   ("stages", "'xcopaa'")),
    "a stage on a retrieval task": (dict(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["tatoeba"]}]}),
                                    ("stages['xcopa']", "'tatoeba'", "not fine-tuned")),
    "stages for a retrieval task": (dict(tasks=["tatoeba"], stages={"tatoeba": [{"tasks": ["xnli"]}]}),
                                    ("stages['tatoeba']", "not fine-tuned")),
}


@pytest.mark.parametrize("params, expected", STAGES.values(), ids=STAGES.keys())
def test_a_bad_stage_is_refused(nothing_loads, tmp_path, params, expected):
    refused(tmp_path, expected, **{"methods": ["standard"], **params})


OPTIONS = {
    "at epsilon": (dict(methods=["at"], method_options={"at": {"epsilon": -1}}), ("'at'", "'epsilon'", "-1")),
    "at norm": (dict(methods=["at"], method_options={"at": {"norm": "l3"}}), ("'at'", "'norm'", "'l3'")),
    "rs_rp sigma": (dict(methods=["rs_rp"], method_options={"rs_rp": {"sigma": -0.5}}),
                    ("'rs_rp'", "'sigma'", "-0.5")),
    "free_at steps": (dict(methods=["free_at"], method_options={"free_at": {"steps": 0}}),
                      ("'free_at'", "'steps'", "0")),
    "rs_da copies": (dict(methods=["rs_da"], method_options={"rs_da": {"copies": 1.5}}),
                     ("'rs_da'", "'copies'", "1.5")),
    "unknown method option": (dict(methods=["at"], method_options={"at": {"epsilonn": 0.1}}),
                              ("'at'", "'epsilonn'", "epsilon")),
    "option of a method that takes none": (dict(methods=["standard"], method_options={"standard": {"lr": 1}}),
                                           ("'standard'", "'lr'")),
    "pgd attack epsilon": (dict(methods=["standard"], attacks={"pgd": {"epsilon": -0.1}}),
                           ("'pgd'", "'epsilon'", "-0.1")),
    "unknown attack option": (dict(methods=["standard"], attacks={"synonym": {"budget": 2}}),
                              ("'synonym'", "'budget'")),
    "gaussian smoothing sigma": (dict(methods=["standard"], smoothing={"gaussian": {"sigma": -1}}),
                                 ("'gaussian'", "'sigma'", "-1")),
    "a task override's method option": (dict(methods=["at"], task_overrides={"pawsx": {"method_options": {
        "at": {"steps": -2}}}}), ("'at'", "'steps'", "-2")),
}


@pytest.mark.parametrize("params, expected", OPTIONS.values(), ids=OPTIONS.keys())
def test_an_option_out_of_range_or_unknown_is_refused(nothing_loads, tmp_path, params, expected):
    refused(tmp_path, expected, **params)


NAMES = {
    "task": (dict(tasks=["xnlii"]), ("tasks", "'xnlii'", "xnli")),
    "method": (dict(methods=["standard", "fgsm"]), ("methods", "'fgsm'", "at")),
    "attack": (dict(attacks={"fgsm": {}}), ("'fgsm'", "pgd")),
    "smoothing": (dict(smoothing={"laplace": {}}), ("'laplace'", "gaussian")),
    "method_options' method": (dict(method_options={"att": {}}), ("method_options", "'att'")),
    "task_overrides' task": (dict(task_overrides={"xnlii": {"learning_rate": 1e-4}}), ("task_overrides", "'xnlii'")),
    "data_files' task": (dict(data_files={"xnlii": {"test": {"en": "x.jsonl"}}}), ("data_files", "'xnlii'")),
    "embedded model on the real path": (dict(world="real", model_name_or_path="embedded"), ("'embedded'", "'real'")),
    "model that is no name, directory or hub id": (dict(world="real", model_name_or_path="not a model!"),
                                                   ("'not a model!'",)),
}


@pytest.mark.parametrize("params, expected", NAMES.values(), ids=NAMES.keys())
def test_an_unknown_name_is_refused(nothing_loads, tmp_path, params, expected):
    refused(tmp_path, expected, **params)


def test_a_missing_model_directory_is_refused_before_loading(nothing_loads, tmp_path):
    """A path that does not exist is not a hub id either (`./models/mbert` has a dot and two slashes)."""
    refused(tmp_path, ("'./models/mbert'",), world="real", model_name_or_path="./models/mbert")


@pytest.mark.parametrize("params, expected", [
    (dict(learning_rate=-1), ("'learning_rate'", "-1")),
    (dict(seeds=[]), ("'seeds'",)),
    (dict(seeds=[1.5]), ("seeds[0]", "1.5")),
    (dict(methods="at"), ("'methods'", "'at'")),
    (dict(max_robustness_samples=0), ("'max_robustness_samples'", "0")),
    (dict(attacks={"pgd": 0.1}), ("attacks['pgd']", "0.1")),
    (dict(stages={"xcopa": "siqa"}), ("stages['xcopa']", "'siqa'")),
    (dict(task_overrides={"xquad": {"max_seq_lenght": 96}}), ("task_overrides['xquad']", "'max_seq_lenght'")),
    (dict(task_overrides={"xquad": {"max_seq_length": 0}}), ("task_overrides['xquad']", "'max_seq_length'", "0")),
])
def test_types_and_ranges_are_refused_when_the_config_is_built(nothing_loads, params, expected):
    with pytest.raises(ConfigError) as error:
        RunConfig(**params)
    for part in expected:
        assert part in str(error.value), f"{part!r} not in: {error.value}"
    with pytest.raises(ConfigError):
        setup(dict(params), "test_plan")


# The notebooks' own kinds of runs (02: pair tasks with every method and both attacks; an XTREME-R-like mix of
# tagging and span QA with the embedding methods and PGD; XCOPA's SIQA-then-COPA recipe): all plan.
VALID = {
    "pair tasks, robust methods, both attacks": dict(
        tasks=["xnli", "pawsx"], methods=["standard", "at", "rs_da"],
        method_options={"at": {"epsilon": 0.01, "steps": 1}},
        attacks={"pgd": {"epsilon": 0.1}, "synonym": {"max_words": 2, "max_candidates": 8}}),
    "tagging and span QA, embedding methods, pgd": dict(
        tasks=["udpos", "xquad"], methods=["standard", "at", "free_at", "rs_rp"],
        method_options={"free_at": {"epsilon": 0.05}, "rs_rp": {"sigma": 0.1}}, attacks={"pgd": {"epsilon": 0.1}},
        task_overrides={"xquad": {"max_seq_length": 96}}),
    "xcopa's recipe and a multi-task stage": dict(
        tasks=["xcopa", "xnli"], methods=["standard", "scratch"],
        stages={"xcopa": [{"tasks": ["siqa"]}, {"tasks": ["xcopa"], "init": "previous"}],
                "xnli": [{"tasks": ["pawsx", "xnli"], "sampler": {"specified": {"weights": {"pawsx": 1, "xnli": 0}}}},
                         {"tasks": ["xnli"], "init": "previous_encoder", "budget": {"num_train_epochs": 1}}]}),
    "a mixed run with the attacks turned off where undefined": dict(
        tasks=["xnli", "udpos", "tatoeba"], methods=["standard"], attacks={"pgd": {}, "synonym": {}},
        task_overrides={"udpos": {"attacks": {"pgd": {}}}, "tatoeba": {"attacks": {}}}),
}


@pytest.mark.parametrize("params", VALID.values(), ids=VALID.keys())
def test_valid_notebook_like_configs_plan(nothing_loads, monkeypatch, tmp_path, params):
    import xltlib.world.build as build

    cfg = RunConfig(**params)
    plans = plan(cfg)
    assert list(plans) == list(cfg.tasks)
    for task, task_plan in plans.items():
        assert task_plan.spec.name == task and set(task_plan.method_options) == set(cfg.methods)
        if task_plan.handler.fine_tuned:
            assert task_plan.stages and task in task_plan.stages[-1].tasks  # the last stage trains the task itself
        else:
            assert task_plan.stages == ()
        expected_attacks = cfg.for_task(task).attacks
        assert set(task_plan.attacks) == set(expected_attacks)
        for name, options in expected_attacks.items():  # resolved: the defaults filled in, the given ones kept
            assert options.items() <= task_plan.attacks[name].items()
    monkeypatch.setattr(build, "get_world", lambda preset: f"the {preset.name} world")  # a stand-in: nothing is built
    # the notebooks' setup plans it too, then opens the world (writing under tmp_path, not the project's outputs/)
    session = setup({**params, "output_dir": str(tmp_path / "run")}, "test_plan")
    assert session.cfg == cfg.replace(output_dir=str(tmp_path / "run")) and session.world == "the default world"


def test_the_plan_resolves_options_and_appends_the_target_stage(nothing_loads):
    plans = plan(RunConfig(tasks=["xcopa", "udpos"], methods=["at"], method_options={"at": {"steps": 1}},
                           stages={"xcopa": [{"tasks": ["siqa"]}]}))
    at = plans["xcopa"].method_options["at"]
    assert at["steps"] == 1 and at["epsilon"] == 0.1  # the given option over the defaults
    stages = plans["xcopa"].stages
    assert [s.tasks for s in stages] == [("siqa",), ("xcopa",)]
    assert stages[1].init.value == "previous_encoder"  # the appended stage: the previous encoder, a fresh head
    assert [s.tasks for s in plans["udpos"].stages] == [("udpos",)]


def test_the_guard_catches_a_run_that_gets_past_the_plan(nothing_loads, tmp_path):
    """The control for every refusal above: a valid run does reach the loaders, and the guard stops it there."""
    cfg = RunConfig(world="real", model_name_or_path="org/some-model", tasks=["xnli"], methods=["standard"])
    plan(cfg)
    with pytest.raises(Loaded):
        experiment.run_experiment(cfg, tmp_path / "run", world=None)


def test_world_seed_names_its_own_world(nothing_loads, monkeypatch, tmp_path):
    """`world_seed` builds the preset from another generator seed, cached apart from the preset's own world."""
    import xltlib.world.build as build

    monkeypatch.setattr(build, "get_world", lambda preset: preset)  # a stand-in: nothing is built
    run = str(tmp_path / "run")  # the session's folder, not the project's outputs/
    own = setup({"world_preset": "tiny", "output_dir": run}, "test_plan").world
    seeded = setup({"world_preset": "tiny", "world_seed": 2, "output_dir": run}, "test_plan").world
    assert (own.name, own.seed) == ("tiny", 0) and (seeded.name, seeded.seed) == ("tiny-seed2", 2)
    assert build.world_dir(own) != build.world_dir(seeded)
    with pytest.raises(ConfigError, match="world_seed must be a non-negative integer"):
        RunConfig(world_seed=-1)
