"""The stage mechanism on the tiny embedded world, at tiny budgets: a two-stage recipe is the same training as
running its stages by hand; a later stage entered from the previous encoder gets that encoder and a fresh, seeded
head; samplers draw tasks with the probabilities they state; a multi-task stage keeps one head per task on one
shared encoder; run keys hash the schedule.
"""
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from xltlib.core.config import RunConfig
from xltlib.methods.recipes import Stage, parse_schedule
from xltlib.methods.samplers import draw_tasks, probabilities, resolve_sampler
from xltlib.methods.spec import Perturbation
from xltlib.run.experiment import load_stage_data, load_task_data, run_experiment, run_key
from xltlib.run.loop import train
from xltlib.run.multitask import TASK_KEY, MultiTaskModel, TaskBatchSampler, multitask_collate, tagged
from xltlib.run.plan import plan
from xltlib.run.stages import StageInputs, run_schedule, selection, start_model
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.models import InitFrom, fresh_head_model, load_model, load_tokenizer

ROOT = Path(__file__).resolve().parent.parent
SEED = 3
BUDGET = dict(world_preset="tiny", methods=["standard"], seeds=[SEED], eval_langs=["en"], generalized=False,
              max_train_samples=64, max_eval_samples=32, num_train_epochs=1.0, per_device_train_batch_size=16,
              per_device_eval_batch_size=64, learning_rate=1e-3, warmup_ratio=0.0, export_predictions=False)
XCOPA_RECIPE = {"xcopa": [{"tasks": ["siqa"]}, {"tasks": ["xcopa"], "init": "previous"}]}


@pytest.fixture(scope="module")
def world(cached_tiny_world):
    return cached_tiny_world


@pytest.fixture(scope="module")
def tokenizer(world):
    return load_tokenizer(str(world.encoder_dir))


def config(**changes) -> RunConfig:
    return RunConfig(**{**BUDGET, **changes})


def stage_inputs(cfg: RunConfig, world, tokenizer, target: str) -> tuple[StageInputs, tuple[Stage, ...]]:
    """What run_experiment hands run_schedule for `target` (the same loaders, the same stage data)."""
    task_plan = plan(cfg)[target]
    data = load_task_data(task_plan.cfg, target, world)
    stage_data = {}
    for stage in task_plan.stages:
        own_dev = selection(stage, data.spec) == "own"
        for name in stage.tasks:
            if name != target or stage.split != "train" or stage.langs:
                stage_data[name] = load_stage_data(task_plan.cfg, name, stage.split, stage.langs, world,
                                                   with_dev=own_dev and name == stage.tasks[0])
    inputs = StageInputs(data, stage_data, str(world.encoder_dir), InitFrom.PRETRAINED_ENCODER, Perturbation(), SEED,
                         tokenizer, "standard")
    return inputs, task_plan.stages


class Tensors(dict):
    """A state dict whose repr names its tensors only, so a failed comparison prints a readable message."""

    def __repr__(self) -> str:
        return f"<{len(self)} tensors: {', '.join(list(self)[:4])}{', ...' if len(self) > 4 else ''}>"


def state(model) -> dict[str, torch.Tensor]:
    return Tensors({k: v.detach().clone() for k, v in model.state_dict().items()})


def split(model) -> tuple[dict, dict]:
    """(encoder tensors, head tensors) of a transformers task model, by the encoder's prefix."""
    prefix = model.base_model_prefix + "."
    tensors = state(model)
    return (Tensors({k: v for k, v in tensors.items() if k.startswith(prefix)}),
            Tensors({k: v for k, v in tensors.items() if not k.startswith(prefix)}))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_two_stage_recipe_is_its_stages_run_by_hand(world, tokenizer, tmp_path):
    cfg = config(tasks=["xcopa"], stages=XCOPA_RECIPE)
    inputs, stages = stage_inputs(cfg, world, tokenizer, "xcopa")
    assert [(s.tasks, s.init) for s in stages] == [(("siqa",), None), (("xcopa",), InitFrom.PREVIOUS)]
    assert len(inputs.stage_data["siqa"].train) == 64 and len(inputs.target.train) == 64
    scheduled, result = run_schedule(stages, inputs, cfg, tmp_path / "scheduled")
    assert result.global_step == 4 and result.best_dev_score is not None  # 64 rows / batch 16, one epoch

    # By hand: SIQA from the pretrained encoder, then the same model on COPA; both selected on COPA's English dev
    # (XTREME-R's recipe), with the same seed.
    xcopa, siqa = TASKS["xcopa"], TASKS["siqa"]
    handler = handler_for(xcopa)
    model = load_model(inputs.model_path, siqa, InitFrom.PRETRAINED_ENCODER, SEED)
    max_length = handler.max_length(model, cfg)
    dev = handler.dev_scorer(xcopa, inputs.target, tokenizer, cfg, max_length)
    pretrained = state(model)
    train(model, inputs.stage_data["siqa"].train, handler.collate(siqa, tokenizer, cfg, max_length), cfg, seed=SEED,
          dev_score=dev)
    after_siqa = state(model)
    assert not same(after_siqa, pretrained)
    train(model, inputs.target.train, handler.collate(xcopa, tokenizer, cfg, max_length), cfg, seed=SEED,
          dev_score=dev)
    by_hand = state(model)
    assert not same(by_hand, after_siqa)

    assert same(state(scheduled), by_hand)
    scores = [handler.evaluate(xcopa, m, tokenizer, inputs.target, cfg, max_length, None, SEED)[0]
              for m in (scheduled, model)]
    assert scores[0] == scores[1] and {r["lang"] for r in scores[0]} == {"en"}
    assert 0.0 <= scores[0][0]["value"] <= 1.0
    # The one run path trains the same schedule: its English test accuracy is the by-hand model's.
    records = run_experiment(cfg, tmp_path / "run", world)
    test = records[(records.split == "test") & (records.metric == "accuracy")]
    assert test.value.tolist() == [scores[1][0]["value"]]


def test_a_later_stage_starts_from_the_previous_encoder_and_a_fresh_head(world, tokenizer, tmp_path):
    cfg = config(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"]}]})  # xcopa's stage appended
    inputs, stages = stage_inputs(cfg, world, tokenizer, "xcopa")
    assert stages[1] == Stage(("xcopa",), init=InitFrom.PREVIOUS_ENCODER)
    pretrained = load_model(inputs.model_path, TASKS["siqa"], InitFrom.PRETRAINED_ENCODER, SEED)
    first, _ = run_schedule(stages[:1], inputs, cfg, tmp_path / "first")
    first_encoder, first_head = split(first)
    assert not same(first_encoder, split(pretrained)[0])  # stage 1 trained the encoder

    second = start_model(stages[1], 1, first, inputs)
    encoder, head = split(second)
    assert same(encoder, first_encoder)  # the stage-1-trained encoder...
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(second.parameters(), first.parameters()))  # ...copied
    assert head.keys() == first_head.keys() and not same(head, first_head)  # not stage 1's head
    # A fresh head, seeded: the same whichever model the encoder comes from, another with another seed.
    assert same(split(fresh_head_model(pretrained, TASKS["xcopa"], SEED))[1], head)
    assert not same(split(fresh_head_model(first, TASKS["xcopa"], SEED + 1))[1], head)


def test_pair_tasks_chain_through_the_previous_encoder(world, tokenizer, tmp_path):
    """pawsx (2 labels) then xnli (3 labels): the encoder carries over, the head is xnli's own."""
    cfg = config(tasks=["xnli"], max_train_samples=32, stages={"xnli": [{"tasks": ["pawsx"], "select_on": "last"}]})
    inputs, stages = stage_inputs(cfg, world, tokenizer, "xnli")
    first, _ = run_schedule(stages[:1], inputs, cfg, tmp_path / "first")
    second = start_model(stages[1], 1, first, inputs)
    assert same(split(second)[0], split(first)[0])
    assert second.config.num_labels == 3 and first.config.num_labels == 2
    assert second.config.id2label == dict(enumerate(TASKS["xnli"].labels))


SIZES = {"a": 100, "b": 400, "c": 1600}


@pytest.mark.parametrize("sampler, expected", [
    ("uniform", {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}),
    ("proportional", {"a": 100 / 2100, "b": 400 / 2100, "c": 1600 / 2100}),
    ({"temperature": {}}, {"a": 10 / 70, "b": 20 / 70, "c": 40 / 70}),  # T = 2: square roots 10, 20, 40
    ({"temperature": {"temperature": 2, "cap": 400}}, {"a": 0.2, "b": 0.4, "c": 0.4}),  # capped: 10, 20, 20
    ({"temperature": {"temperature": 1}}, {"a": 100 / 2100, "b": 400 / 2100, "c": 1600 / 2100}),
    ({"temperature": {"temperature": 0.5}}, {"a": 1 / 273, "b": 16 / 273, "c": 256 / 273}),  # squares / 100^2
    ({"specified": {"weights": {"a": 1, "b": 3, "c": 0}}}, {"a": 0.25, "b": 0.75, "c": 0.0}),
])
def test_sampler_probabilities_follow_their_formulas(sampler, expected):
    probs = probabilities(resolve_sampler(sampler, "test"), SIZES)
    assert probs.keys() == expected.keys()
    assert all(math.isclose(probs[t], expected[t], abs_tol=1e-12) for t in expected), probs
    assert math.isclose(sum(probs.values()), 1.0)


def test_a_large_temperature_approaches_uniform():
    probs = probabilities(resolve_sampler({"temperature": {"temperature": 1e6}}, "test"), SIZES)
    assert all(abs(p - 1 / 3) < 1e-4 for p in probs.values()), probs


def within(counts: Counter, n: int, probs: dict, z: float = 4.5) -> None:
    for task, p in probs.items():
        share, se = counts[task] / n, math.sqrt(p * (1 - p) / n)
        assert abs(share - p) <= z * se + 1e-12, (task, share, p, se)


def test_draw_tasks_matches_the_probabilities():
    probs = {"a": 0.2, "b": 0.5, "c": 0.3}
    drawn = draw_tasks(probs, 20_000, seed=1)
    within(Counter(drawn), len(drawn), probs)
    assert draw_tasks(probs, 50, seed=1) == drawn[:50]  # seeded: the same steps repeat


def test_the_task_batch_sampler_draws_tasks_with_the_probabilities():
    sizes = {"a": 30, "b": 50, "c": 21}
    probs = probabilities(resolve_sampler({"specified": {"weights": {"a": 2, "b": 5, "c": 3}}}, "test"), sizes)
    sampler = TaskBatchSampler(sizes, probs, batch_size=8, generator=torch.Generator().manual_seed(0))
    assert len(sampler) == math.ceil(101 / 8)
    ranges = {"a": range(0, 30), "b": range(30, 80), "c": range(80, 101)}
    counts, n = Counter(), 0
    for epoch in range(300):
        sampler.generator.manual_seed(epoch)  # as the loop reseeds it every epoch
        stream = {t: [] for t in sizes}
        batches = list(sampler)
        assert len(batches) == len(sampler)
        for batch in batches:
            assert len(batch) == 8
            owners = {t for t, r in ranges.items() if batch[0] in r}
            (task,) = owners
            assert all(i in ranges[task] for i in batch), batch  # one task per batch
            stream[task] += batch
            counts[task] += 1
            n += 1
        for task, indices in stream.items():  # each task's examples go round in reshuffled passes
            size = sizes[task]
            for start in range(0, len(indices) - size + 1, size):
                assert sorted(indices[start:start + size]) == list(ranges[task])
    within(counts, n, probs)


def test_a_zero_weight_task_never_gets_a_batch():
    sizes = {"a": 10, "b": 10}
    sampler = TaskBatchSampler(sizes, {"a": 1.0, "b": 0.0}, 4, torch.Generator().manual_seed(0))
    assert all(max(batch) < 10 for _ in range(20) for batch in sampler)


def test_a_multi_task_model_shares_the_encoder_and_keeps_the_heads_apart(world, tokenizer, tmp_path):
    path = str(world.encoder_dir)
    pawsx = load_model(path, TASKS["pawsx"], InitFrom.PRETRAINED_ENCODER, SEED)
    xnli = load_model(path, TASKS["xnli"], InitFrom.PRETRAINED_ENCODER, SEED)
    model = MultiTaskModel({"pawsx": pawsx, "xnli": xnli})
    assert model.heads["pawsx"].bert is model.heads["xnli"].bert is model.encoder
    assert model.heads["pawsx"].classifier is not model.heads["xnli"].classifier
    assert model.heads["pawsx"].classifier.out_features == 2 and model.heads["xnli"].classifier.out_features == 3
    encoder_params = list(model.encoder.parameters())
    head_params = [p for name in ("pawsx", "xnli") for p in model.heads[name].classifier.parameters()]
    params = list(model.parameters())
    assert len(params) == len(encoder_params) + len(head_params)  # the encoder's parameters exist once
    assert len({id(p) for p in params}) == len(params)

    cfg = config(tasks=["xnli"], max_train_samples=48, stages={"xnli": [
        {"tasks": ["pawsx", "xnli"], "sampler": {"specified": {"weights": {"pawsx": 1, "xnli": 0}}}}]})
    inputs, stages = stage_inputs(cfg, world, tokenizer, "xnli")
    assert len(stages) == 1 and stages[0].multi_task
    before_encoder, before_pawsx, before_xnli = (state(model.encoder), state(model.heads["pawsx"].classifier),
                                                 state(model.heads["xnli"].classifier))
    target, result = run_schedule(stages, inputs, cfg, tmp_path / "multi", first_model=model)
    assert result.global_step == math.ceil(96 / 16)  # both tasks' rows fill the epoch; every batch is pawsx's
    assert target is model.heads["xnli"]  # the target's head is the model evaluated
    assert same(state(model.heads["xnli"].classifier), before_xnli)  # it never got a batch
    assert not same(state(model.heads["pawsx"].classifier), before_pawsx)
    assert not same(state(model.encoder), before_encoder)
    assert target.bert is model.heads["pawsx"].bert  # still one encoder


def test_a_multi_task_batch_is_collated_by_its_own_task():
    def collate_for(name):
        return lambda examples: {"n": len(examples), "from": name, "keys": sorted(examples[0])}

    collate = multitask_collate({"a": collate_for("a"), "b": collate_for("b")})
    batch = collate(tagged("b", [{"x": 1}, {"x": 2}]))
    assert batch == {"n": 2, "from": "b", "keys": ["x"], "task": "b"}  # the task tag dropped, the batch named
    assert all(e[TASK_KEY] == "a" for e in tagged("a", [{"x": 1}]))


def test_run_keys_hash_the_schedule(world):
    model_path = str(world.encoder_dir)
    keys = {}
    for name, stages in {"plain": {}, "recipe": XCOPA_RECIPE,
                         "recipe again": {"xcopa": [{"tasks": ["siqa"]}, {"tasks": ["xcopa"], "init": "previous"}]},
                         "encoder only": {"xcopa": [{"tasks": ["siqa"]}]},
                         "longer first stage": {"xcopa": [{"tasks": ["siqa"], "budget": {"num_train_epochs": 2}},
                                                          {"tasks": ["xcopa"], "init": "previous"}]}}.items():
        cfg = config(tasks=["xcopa"], stages=stages)
        keys[name] = run_key(cfg, plan(cfg)["xcopa"], "standard", SEED, model_path, world)
    assert keys["recipe"] == keys["recipe again"]
    assert len({keys[k] for k in ("plain", "recipe", "encoder only", "longer first stage")}) == 4, keys
    # A plain schedule's key is the one it had before stages existed: the explicit one-stage list is the same run.
    explicit = config(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["xcopa"]}]})
    assert run_key(explicit, plan(explicit)["xcopa"], "standard", SEED, model_path, world) == keys["plain"]
    assert parse_schedule("xcopa", None) == (Stage(("xcopa",)),)
