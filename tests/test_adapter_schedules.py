"""Adapters through schedules (issue 13, item 3): `lora+seq:mnli`, `bottleneck+seq:mnli` (and `madx+...`) train the
adapter on the intermediate task, then the target stage, with a fresh head, continues it or stacks a new one over it
(`intermediate_adapter`); only adapter and head parameters change; the names parse into the stages that full
fine-tuning (`seq:mnli`) trains; a bad combination is a one-line error. On the tiny world, MNLI written from its
English XNLI rows."""
import json
from pathlib import Path

import pytest
import torch

from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError, UnknownNameError
from xltlib.methods import METHODS
from xltlib.run import stages as stages_module
from xltlib.run.experiment import method_plan, run_experiment
from xltlib.run.plan import plan

BUDGET = dict(world_preset="tiny", tasks=["xnli"], seeds=[3], eval_langs=["en"], generalized=False,
              max_train_samples=32, max_eval_samples=32, num_train_epochs=1.0, per_device_train_batch_size=16,
              per_device_eval_batch_size=64, learning_rate=1e-2, warmup_ratio=0.0, export_predictions=False)
ADAPTED = ["bottleneck+seq:mnli", "lora+seq:mnli"]


@pytest.fixture(scope="module")
def mnli_files(cached_tiny_world, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("mnli")
    files = {}
    for split in ("train", "validation"):
        rows = Path(cached_tiny_world.data_files("xnli")[split]["en"]).read_text().splitlines()[:48]
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
        files[split] = {"en": str(root / f"{split}.jsonl")}
    return files


def config(mnli_files, **changes) -> RunConfig:
    return RunConfig(**{**BUDGET, "methods": ADAPTED, "data_files": {"mnli": mnli_files}, **changes})


def test_adapted_schedule_names_parse_into_full_fine_tunings_stages(mnli_files):
    cfg = config(mnli_files, methods=["seq:mnli", *ADAPTED, "madx+seq:mnli+fs2s1"], eval_langs=["en", "de"])
    plans = {m: method_plan(plan(cfg)["xnli"], m) for m in cfg.methods}
    assert plans["lora+seq:mnli"].stages == plans["bottleneck+seq:mnli"].stages == plans["seq:mnli"].stages
    assert plans["madx+seq:mnli+fs2s1"].stages[:2] == plans["seq:mnli"].stages
    spec = METHODS["lora+seq:mnli"]
    assert spec.schedule.adaptation == "lora" and spec.modifier is METHODS["lora"].modifier
    assert plans["lora+seq:mnli"].method_options["lora+seq:mnli"]["intermediate_adapter"] == "continue"
    assert METHODS["seq:mnli"].schedule.adaptation is None and METHODS["seq:mnli"].modifier is None


@pytest.mark.parametrize("method, options, error, fragments", [
    ("foo+seq:mnli", {}, UnknownNameError, ["unknown adaptation 'foo'", "lora, bottleneck, madx"]),
    ("lora+multi:mnli+squad", {}, ConfigError, ["'lora+multi:mnli+squad'", "one task a stage", "multi: stage"]),
    ("bottleneck+joint:mnli", {}, ConfigError, ["joint: stage"]),
    ("lora+standard", {}, ConfigError, ["is the method 'lora'"]),
    ("lora+seq:nosuch", {}, UnknownNameError, ["method 'lora+seq:nosuch'", "unknown task 'nosuch'"]),
    ("lora+seq:mnli", {"intermediate_adapter": "merge"}, ConfigError, ["'intermediate_adapter'", "continue, stack"]),
    ("lora+seq:mnli", {"rank": 0}, ConfigError, ["'rank'"]),
])
def test_a_bad_adapted_schedule_is_one_line_before_anything_loads(mnli_files, method, options, error, fragments):
    with pytest.raises(error) as raised:
        plan(config(mnli_files, methods=[method], method_options={method: options} if options else {}))
    message = str(raised.value)
    assert "\n" not in message and all(f in message for f in fragments), message


def captured(monkeypatch):
    """Every stage trained: (method, stage index, weights before, weights after, trainable names)."""
    log, train_stage = [], stages_module.train_stage

    def capture(stage, index, model, inputs, cfg, work_dir):
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        result = train_stage(stage, index, model, inputs, cfg, work_dir)
        log.append((inputs.method, index, before, {n: p.detach().clone() for n, p in model.named_parameters()},
                    trainable))
        return result

    monkeypatch.setattr(stages_module, "train_stage", capture)
    return log


def changed(before: dict, after: dict) -> set[str]:
    return {n for n in before if not torch.equal(before[n], after[n])}


def is_head(name: str) -> bool:
    return name.startswith("classifier")


def test_the_target_stage_continues_or_stacks_the_intermediate_adapter(cached_tiny_world, mnli_files, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("XLT_RUN_STORE", str(tmp_path / "store"))
    log = captured(monkeypatch)
    run_experiment(config(mnli_files), tmp_path / "continue", cached_tiny_world)
    stage = {(method, index): (before, after, trainable) for method, index, before, after, trainable in log}
    for method, adapter in (("bottleneck+seq:mnli", "xlt_adapters.adapters.task."), ("lora+seq:mnli", ".lora_")):
        (mnli_before, mnli_after, mnli_trainable), (before, after, trainable) = stage[method, 0], stage[method, 1]
        for start, end, train in ((mnli_before, mnli_after, mnli_trainable), (before, after, trainable)):
            assert train == {n for n in start if adapter in n or is_head(n)}, method  # only adapter and head train
            assert changed(start, end) and changed(start, end) <= train, method
        # continue: the target stage starts from MNLI's adapter weights, its encoder untouched, a fresh head
        assert all(torch.equal(before[n], mnli_after[n]) for n in before if not is_head(n)), method
        assert all(torch.equal(before[n], mnli_before[n]) for n in before if not is_head(n) and adapter not in n)

    # stack, in a run beside it on the same store: MNLI's adapter stage is read back (its key has no target stage)
    log.clear()
    options = {m: {"intermediate_adapter": "stack"} for m in ADAPTED}
    stacked = run_experiment(config(mnli_files, method_options=options), tmp_path / "stack", cached_tiny_world)
    hits = json.loads((tmp_path / "stack" / "store.json").read_text())["stage_hits"]
    assert [hit["stages"] for hit in hits] == [1, 1] and [index for _, index, *_ in log] == [1, 1]
    (bottleneck_before, bottleneck_after, trainable), = [(b, a, t) for m, _, b, a, t in log if m == ADAPTED[0]]
    mnli_after = stage[ADAPTED[0], 0][1]
    frozen = {n: n.replace(".adapters.task.", ".adapters.task0.") for n in mnli_after if ".adapters.task." in n}
    assert all(torch.equal(bottleneck_before[below], mnli_after[n]) for n, below in frozen.items())
    assert set(frozen.values()).isdisjoint(trainable) and not changed(bottleneck_before, bottleneck_after) & set(
        frozen.values())
    new = [n for n in bottleneck_before if ".adapters.task." in n and ".up." in n]
    assert new and all(not bottleneck_before[n].any() for n in new)  # the new adapter starts as the identity
    assert changed(bottleneck_before, bottleneck_after) <= trainable
    # LoRA: MNLI's update merged into the frozen weights, a new LoRA (B at zero) trained over it
    (lora_before, lora_after, lora_trainable), = [(b, a, t) for m, _, b, a, t in log if m == ADAPTED[1]]
    lora_mnli_before = stage[ADAPTED[1], 0][0]
    query = [n for n in lora_before if n.endswith("attention.self.query.base_layer.weight")][0]
    assert not torch.equal(lora_before[query], lora_mnli_before[query])
    assert all(not lora_before[n].any() for n in lora_before if ".lora_B." in n)
    assert changed(lora_before, lora_after) <= lora_trainable and query not in lora_trainable

    # the kept stacked model, evaluated again on another language, restores the same stack: English unchanged
    again = run_experiment(config(mnli_files, method_options=options, eval_langs=["en", "vfc"]), tmp_path / "again",
                           cached_tiny_world)
    english = again[again.lang == "en"].reset_index(drop=True)
    assert english.equals(stacked[stacked.lang == "en"].reset_index(drop=True))
    assert json.loads((tmp_path / "again" / "store.json").read_text())["trained_hits"]
