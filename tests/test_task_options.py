"""A task's options as run parameters (`task_options: {task: {option: value}}`, over its handler's defaults):
checked by the plan before anything loads (an unknown task or option, a value of the wrong kind or out of range, a
task that takes none or is not in the run: one line naming `task_options.<task>.<option>` and what is accepted);
applied where the task trains, also as a stage of a schedule (`seq:image_text` on the tiny world: a fixed
temperature stays fixed through training steps, a learned one moves); and in a run's keys only when set otherwise
than the defaults, so every key stored before it stays as it was."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from xltlib.app import cli
from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError
from xltlib.run import stages as stages_module
from xltlib.run.experiment import plan_methods, run_key, stage_prefixes, training_key, warmup_prefixes
from xltlib.run.plan import plan
from xltlib.run.stages import run_schedule
from xltlib.tasks import images
from xltlib.tasks.handlers.image_text import CLIP_TEMPERATURE, ImageTextModel
from xltlib.world.build import World
from xltlib.world.presets import PRESETS

from test_cli import one_line_error, scratch_project
from test_schedules import BUDGET, inputs_for

ACCEPTED = ("projection_dim (an integer, default 256), temperature (a number, default 0.07), "
            "learnable_temperature (true or false, default True), matching (true or false, default False), "
            "matching_weight (a number, default 1.0)")


def config(**changes) -> RunConfig:
    return RunConfig(**{**BUDGET, "tasks": ["xnli"], "methods": ["seq:image_text"], **changes})


@pytest.mark.parametrize("task_options, message", [
    ({"image_text": {"temperatur": 0.1}},
     f"task_options.image_text.temperatur: unknown option of task 'image_text' (image_text); it takes: {ACCEPTED}"),
    ({"image_text": {"temperature": "hot"}},
     f"task_options.image_text.temperature: must be a number, got 'hot'; 'image_text' takes: {ACCEPTED}"),
    ({"image_text": {"learnable_temperature": "no"}},
     "task_options.image_text.learnable_temperature: must be true or false, got 'no'"),
    ({"image_text": {"projection_dim": 2.5}}, "task_options.image_text.projection_dim: must be an integer, got 2.5"),
    ({"image_text": {"matching": 1}}, "task_options.image_text.matching: must be true or false, got 1"),
    ({"image_text": {"temperature": 5}}, "task_options.image_text.temperature: must be in [0.01, 1], got 5.0"),
    ({"image_text": {"matching_weight": -1}}, "task_options.image_text.matching_weight: must be a number >= 0"),
    ({"imagetext": {"temperature": 0.1}}, "task_options.imagetext: unknown task 'imagetext'; known tasks: xnli, "),
    ({"xnli": {"temperature": 0.1}},
     "task_options.xnli: task 'xnli' (pair_classification) takes no options; task types with options: image_text"),
    ({"image_text": 0.1}, "task_options.image_text must map option names to values ({option: value}), got 0.1"),
])
def test_bad_task_options_are_one_line_naming_the_option_before_anything_loads(task_options, message):
    with pytest.raises(ConfigError) as info:
        plan(config(task_options=task_options))  # the check before any data, world or model
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_options_of_a_task_the_run_does_not_train_are_refused():
    with pytest.raises(ConfigError, match=r"task_options.image_text: task 'image_text' is not in this run "
                                          r"\(tasks: xnli; nor a stage of one, e.g. seq:image_text\)"):
        plan(config(methods=["standard"], task_options={"image_text": {"temperature": 0.1}}))


def test_xlt_run_refuses_a_misspelt_option_before_a_kernel_starts(tmp_path, monkeypatch, capsys):
    root = scratch_project(tmp_path, monkeypatch, "opts", 'tasks = ["xnli"]\nmethods = ["seq:image_text"]\n'
                                                         'task_options = {}')
    assert cli.main(["run", "opts", "-p", "task_options", "{image_text: {temperatur: 0.1}}"]) == 2
    assert "task_options.image_text.temperatur: unknown option" in one_line_error(capsys)
    assert not (root / "outputs").exists() and not (tmp_path / "worlds").exists()


def test_the_options_reach_the_handler_where_the_task_is_evaluated():
    options = {"image_text": {"temperature": 0.5, "learnable_temperature": False, "matching": True}}
    handler = plan(config(tasks=["image_text"], methods=["standard"], task_options=options))["image_text"].handler
    assert (handler.options.temperature, handler.options.learnable_temperature, handler.options.matching) == (
        0.5, False, True)
    assert plan(config(tasks=["image_text"], methods=["standard"]))["image_text"].handler.options.temperature == \
        CLIP_TEMPERATURE


def _trained_image_text_head(cfg, world, monkeypatch, tmp_path):
    """The image-text head after `seq:image_text`'s first stage on the tiny world (2 optimizer steps, its last
    weights kept: the temperature is what is looked at, not a dev score)."""
    cfg = cfg.replace(method_options={"seq:image_text": {"intermediate_select_on": "last"}})
    monkeypatch.setattr(images, "feature_cache_dir", lambda: tmp_path / "features")
    trained, train = [], stages_module.train

    def keep(model, *args, **kwargs):
        trained.append(model)
        return train(model, *args, **kwargs)

    monkeypatch.setattr(stages_module, "train", keep)
    inputs, stages = inputs_for(cfg, world, "seq:image_text")
    _, result = run_schedule(stages[:1], inputs, cfg, tmp_path / "run")
    assert result.global_step == 2 and isinstance(trained[0], ImageTextModel)
    return trained[0].head


def test_a_fixed_temperature_set_in_task_options_stays_fixed_through_a_schedules_stage(cached_tiny_world,
                                                                                      monkeypatch, tmp_path):
    fixed = config(task_options={"image_text": {"temperature": 0.5, "learnable_temperature": False,
                                                "matching": True}})
    head = _trained_image_text_head(fixed, cached_tiny_world, monkeypatch, tmp_path / "fixed")
    assert not head.logit_scale.requires_grad
    assert head.logit_scale.item() == torch.tensor(math.log(1 / 0.5)).item()  # exactly where it started, in float32
    assert head.matching is not None  # the matching loss trained beside InfoNCE
    learned = _trained_image_text_head(config(), cached_tiny_world, monkeypatch, tmp_path / "learned")
    assert learned.logit_scale.requires_grad and learned.matching is None
    assert learned.logit_scale.item() != pytest.approx(math.log(1 / CLIP_TEMPERATURE), abs=1e-6)  # it trained


# The keys of these runs as the code before task_options computed them (world at a fixed folder, model "model").
KEYS_BEFORE = {
    "standard": ("8c3a03c266", "7f79dfd29b", [], ["xnli-seed1-step2-14e1318d24"]),
    "at": ("066f636cea", "e748203afb", [], ["xnli-seed1-step2-14e1318d24"]),
    "seq:image_text": ("a538f39461", "4a1b6e7cf9",
                       ["image_text-seed1-stages1-60b0bb65ec", "xnli-seed1-stages2-08fa7c20fa"], []),
}


def keys(**changes) -> dict:
    cfg = RunConfig(world_preset="tiny", tasks=("xnli",), methods=tuple(KEYS_BEFORE), seeds=(1,),
                    eval_langs=("en", "rlx"), method_options={"at": {"start_step": 2}}, **changes)
    world = World(PRESETS["tiny"], Path("worlds/tiny-fixed"))
    plans = plan_methods(plan(cfg), cfg.methods, world)
    out = {}
    for method in cfg.methods:
        p = plans["xnli", method]
        out[method] = (training_key(cfg, p, method, 1, "model", world), run_key(cfg, p, method, 1, "model", world),
                       [s.directory.name for s in stage_prefixes(Path("store"), p, method, 1, "model", world)],
                       [w.directory.name for w in warmup_prefixes(Path("store"), p, method, 1, "model", world,
                                                                  cfg.methods)])
    return out


def test_a_run_without_task_options_keys_as_before_and_different_options_key_apart():
    assert keys() == KEYS_BEFORE
    assert keys(task_options={"image_text": {"temperature": CLIP_TEMPERATURE}}) == KEYS_BEFORE  # the defaults
    assert keys(task_options={"image_text": {}}) == KEYS_BEFORE
    warm, cold = (keys(task_options={"image_text": {"temperature": t}}) for t in (0.5, 0.1))
    for method in ("standard", "at"):  # they do not train image_text: their keys and warm-ups stay
        assert warm[method] == cold[method] == KEYS_BEFORE[method]
    assert len({warm["seq:image_text"][0], cold["seq:image_text"][0], KEYS_BEFORE["seq:image_text"][0]}) == 3
    assert len({warm["seq:image_text"][1], cold["seq:image_text"][1], KEYS_BEFORE["seq:image_text"][1]}) == 3
    # the shared image_text stage too: a stage trained at another temperature is never read back for this one
    first_stages = {k["seq:image_text"][2][0] for k in (warm, cold, KEYS_BEFORE)}
    assert len(first_stages) == 3
