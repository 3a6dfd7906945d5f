"""Shared warm-ups (`xltlib.run.loop.WarmupPrefix`): the plain steps before a robust method's `start_step` are the
same computation for `standard` and every robust method of a (task, seed), so they are trained once and shared
through the run store, to exactly the records, histories and selected weights of runs trained from scratch."""
import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from xltlib.core.config import RunConfig
from xltlib.run import experiment
from xltlib.run.experiment import run_experiment, training_key, warmup_prefixes
from xltlib.run.plan import plan

ROBUST = ["at", "free_at", "rs_rp", "rs_da"]
# 4 optimizer steps an epoch, dev every 2: step 3 is mid-epoch and between two logged losses, the hardest place to
# resume from (the loss being summed and the batch position carry over)
START = 3
BUDGET = dict(world_preset="tiny", tasks=["xnli"], seeds=[1], eval_langs=["en", "rlx"], generalized=False,
              max_train_samples=64, max_eval_samples=24, num_train_epochs=2.0, per_device_train_batch_size=16,
              per_device_eval_batch_size=64, learning_rate=1e-3, warmup_ratio=0.0, evals_per_epoch=2,
              selection_ties="latest",
              method_options={"at": {"epsilon": 0.1, "steps": 2, "start_step": START},
                              "free_at": {"epsilon": 0.1, "start_step": START},
                              "rs_rp": {"sigma": 0.1, "start_step": START}, "rs_da": {"start_step": START}})


def _trained(store, method: str):
    """(train.json, the selected model's weights) of `method`'s run in `store` (embedded-world models are kept)."""
    (train_dir,) = [d for d in store.glob(f"xnli-{method}-seed1-*") if d.is_dir()]
    weights = load_file(train_dir / "model" / "model.safetensors")
    return json.loads((train_dir / "train.json").read_text()), weights


@pytest.fixture(scope="module")
def from_scratch(cached_tiny_world, tmp_path_factory):
    """Every method trained as before shared warm-ups: no prefix looked up or saved."""
    root = tmp_path_factory.mktemp("scratch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XLT_RUN_STORE", str(root / "store"))
        patch.setattr(experiment, "warmup_prefixes", lambda *args: ())
        records = run_experiment(RunConfig(**BUDGET, methods=["standard", *ROBUST]), root / "run", cached_tiny_world)
    return records, root / "store"


def test_runs_that_share_the_warm_up_give_the_records_weights_and_history_of_runs_from_scratch(
        cached_tiny_world, from_scratch, tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_RUN_STORE", str(tmp_path / "store"))
    shared = run_experiment(RunConfig(**BUDGET, methods=["standard", *ROBUST]), tmp_path / "run", cached_tiny_world)
    records, scratch_store = from_scratch
    pd.testing.assert_frame_equal(shared, records)
    # saved by standard, the first, beside its lock; nothing half-written
    (prefix,) = [p for p in (tmp_path / "store" / "warmup").iterdir() if p.suffix != ".lock"]
    assert prefix.name.startswith(f"xnli-seed1-step{START}-") and (prefix / "trainer_state.json").is_file()
    assert not list((tmp_path / "store").glob("*/checkpoint*"))
    for method in ["standard", *ROBUST]:
        (train, weights), (scratch_train, scratch_weights) = _trained(tmp_path / "store", method), \
            _trained(scratch_store, method)
        assert train["warmup_from_step"] == (0 if method == "standard" else START)
        assert train["history"] == scratch_train["history"] and train["best_step"] == scratch_train["best_step"]
        assert train["best_dev_score"] == scratch_train["best_dev_score"]
        assert weights.keys() == scratch_weights.keys()
        assert all(torch.equal(weights[k], w) for k, w in scratch_weights.items()), method
    log = (tmp_path / "run" / "progress.log").read_text()
    assert log.count(f"resumed from the shared warm-up of {START} steps (run store)") == len(ROBUST)
    hits = json.loads((tmp_path / "run" / "store.json").read_text())["warmup_hits"]
    assert [hit["steps"] for hit in hits] == [START] * len(ROBUST)


def test_a_warm_up_that_ends_an_epoch_on_a_dev_evaluation_is_shared_to_the_same_result(cached_tiny_world, tmp_path,
                                                                                      monkeypatch):
    """Step 4 ends epoch 0 and is a dev step: the resumed run starts the next epoch, its "best so far" from the
    warm-up's dev score."""
    end = 4
    budget = {**BUDGET, "method_options": {"rs_rp": {"sigma": 0.1, "start_step": end}}}
    results = {}
    for name, patched in (("scratch", True), ("shared", False)):
        monkeypatch.setenv("XLT_RUN_STORE", str(tmp_path / name))
        with monkeypatch.context() as patch:
            if patched:
                patch.setattr(experiment, "warmup_prefixes", lambda *args: ())
            results[name] = run_experiment(RunConfig(**budget, methods=["standard", "rs_rp"]), tmp_path / f"run-{name}",
                                           cached_tiny_world)
    pd.testing.assert_frame_equal(results["shared"], results["scratch"])
    (train, weights), (scratch_train, scratch_weights) = (_trained(tmp_path / name, "rs_rp")
                                                          for name in ("shared", "scratch"))
    assert train["warmup_from_step"] == end and train["history"] == scratch_train["history"]
    assert all(torch.equal(weights[k], w) for k, w in scratch_weights.items())


def _prefix_state(store):
    (prefix,) = (store / "warmup").glob("*[!k]")  # not its lock
    state = json.loads((prefix / "trainer_state.json").read_text())
    tensors = {name: torch.load(prefix / name, map_location="cpu", weights_only=False)
               for name in ("pytorch_model.bin", "optimizer.bin", "scheduler.bin")}
    return state, tensors, prefix.name


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_equal, a, b))
    return a == b


@pytest.mark.parametrize("method", ROBUST)
def test_each_robust_method_reaches_the_state_standard_saves_after_its_plain_steps(cached_tiny_world, tmp_path,
                                                                                   monkeypatch, method):
    """Measured, not assumed: each method alone saves its own warm-up (its dropout and batches, and RS-DA's
    per-batch tokenization), and it is bit for bit the one `standard` saves (weights, optimizer, scheduler, dev
    selection, history and the loss being summed)."""
    states = {}
    for name, methods in (("standard", ["standard", method]), (method, [method])):
        store = tmp_path / name
        monkeypatch.setenv("XLT_RUN_STORE", str(store))
        cfg = RunConfig(**{**BUDGET, "num_train_epochs": 1.0}, methods=methods)
        run_experiment(cfg, tmp_path / f"run-{name}", cached_tiny_world)
        states[name] = _prefix_state(store)
    (state, tensors, key), (other_state, other_tensors, other_key) = states["standard"], states[method]
    assert key == other_key and state["global_step"] == START and state["history"]
    assert state == other_state and _equal(tensors, other_tensors)


def test_the_warm_up_key_leaves_out_the_method_and_keeps_what_determines_the_plain_steps(cached_tiny_world, tmp_path):
    cfg = RunConfig(**BUDGET, methods=["standard", *ROBUST, "scratch", "hypothesis_only", "lora", "bottleneck"])
    task_plan = plan(cfg)["xnli"]

    def prefixes(method, task_plan=task_plan, seed=1):
        return warmup_prefixes(tmp_path, task_plan, method, seed, "model", cached_tiny_world, cfg.methods)

    (shared,) = prefixes("standard")
    assert all(prefixes(m) == (shared,) for m in ROBUST)
    assert shared.step == START and shared.directory.parent == tmp_path / "warmup"
    assert prefixes("scratch") == () and prefixes("hypothesis_only") == ()  # another init; other rows
    assert prefixes("lora") == () and prefixes("bottleneck") == ()  # they train other parameters from step one
    assert prefixes("standard", seed=2)[0].directory != shared.directory
    other = plan(RunConfig(**{**BUDGET, "learning_rate": 5e-4}, methods=cfg.methods))["xnli"]
    assert prefixes("standard", other)[0].directory != shared.directory
    staged = plan(RunConfig(**BUDGET, methods=cfg.methods,
                            stages={"xnli": [{"tasks": ["xnli"], "budget": {"num_train_epochs": 1}}]}))["xnli"]
    assert prefixes("at", staged) == ()  # a recipe's steps follow from its stages: not shared
    # a robust method covers only the warm-ups within its own plain steps
    late = {**BUDGET["method_options"], "rs_rp": {"sigma": 0.1, "start_step": 2 * START}}
    both = plan(RunConfig(**{**BUDGET, "method_options": late}, methods=cfg.methods))["xnli"]
    assert [p.step for p in prefixes("rs_rp", both)] == [START, 2 * START]
    assert [p.step for p in prefixes("at", both)] == [START]
    # stored runs keep their keys: the training key still names the method and its options
    assert training_key(cfg, task_plan, "at", 1, "model", cached_tiny_world) != \
        training_key(cfg, task_plan, "rs_rp", 1, "model", cached_tiny_world)


def test_a_run_killed_while_saving_the_warm_up_leaves_none_and_its_rerun_gives_the_same_records(
        cached_tiny_world, from_scratch, tmp_path, monkeypatch):
    from xltlib.run import loop

    monkeypatch.setenv("XLT_RUN_STORE", str(tmp_path / "store"))
    write_state = loop._write_state

    def killed_after_writing_the_warm_up(accelerator, tmp, state):
        write_state(accelerator, tmp, state)
        if tmp.name == "warmup.tmp":  # written whole, not yet renamed into the store
            raise KeyboardInterrupt

    cfg = RunConfig(**BUDGET, methods=["standard", "at"])
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(loop, "_write_state", killed_after_writing_the_warm_up)
        run_experiment(cfg, tmp_path / "killed", cached_tiny_world)
    assert not [p for p in (tmp_path / "store" / "warmup").glob("*") if p.suffix != ".lock"]
    rerun = run_experiment(cfg, tmp_path / "rerun", cached_tiny_world)
    records, _ = from_scratch
    pd.testing.assert_frame_equal(rerun, records[records.method.isin(["standard", "at"])].reset_index(drop=True))
