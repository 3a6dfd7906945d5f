"""Shared stages (`xltlib.run.stages.StagePrefix`): the model after a schedule's leading stages is kept in the run
store under a key of what alone determines it (`xltlib.run.experiment.stage_prefixes`), so `seq:mnli` for XNLI and
for PAWS-X and its few-shot variants train MNLI once, `X+fs<k>` starts from X's whole trained model, and every run
records what it records when trained alone. MNLI is written from the world's English XNLI rows (test_schedules)."""
import json
from pathlib import Path

import pandas as pd
import pytest

from xltlib.core.config import RunConfig
from xltlib.run import experiment, stages
from xltlib.run.experiment import method_plan, run_experiment, stage_prefixes
from xltlib.run.plan import plan

LANG = "vfc"  # a far language of the tiny world: the few-shot stage's
TARGETS = ["xnli", "pawsx"]
METHODS = ["seq:mnli+fs2s0", "seq:mnli+fs2s1", "seq:mnli"]  # few-shot first: seq:mnli then trains nothing
BUDGET = dict(world_preset="tiny", seeds=[3], eval_langs=["en", LANG], generalized=False, max_train_samples=32,
              max_eval_samples=32, num_train_epochs=1.0, per_device_train_batch_size=16,
              per_device_eval_batch_size=64, learning_rate=1e-3, warmup_ratio=0.0, export_predictions=False)


@pytest.fixture(scope="module")
def world(cached_tiny_world):
    return cached_tiny_world


@pytest.fixture(scope="module")
def data_files(world, tmp_path_factory) -> dict:
    """MNLI from the world's English XNLI rows; each target's far-language test file as its few-shot pool (the
    shots are drawn outside the evaluated rows)."""
    root = tmp_path_factory.mktemp("mnli")
    files = {"mnli": {}}
    for split in ("train", "validation"):
        rows = Path(world.data_files("xnli")[split]["en"]).read_text().splitlines()[:48]
        (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
        files["mnli"][split] = {"en": str(root / f"{split}.jsonl")}
    for task in TARGETS:
        files[task] = {"validation": {LANG: world.data_files(task)["test"][LANG]}}
    return files


def config(data_files, **changes) -> RunConfig:
    return RunConfig(**{**BUDGET, "tasks": TARGETS, "methods": METHODS, "data_files": data_files, **changes})


def counted(monkeypatch):
    """Every stage trained: (its tasks, its optimizer steps)."""
    trained, train_stage = [], stages.train_stage

    def count(stage, *args, **kwargs):
        result = train_stage(stage, *args, **kwargs)
        trained.append(("+".join(stage.tasks), result.global_step))
        return result

    monkeypatch.setattr(stages, "train_stage", count)
    return trained


@pytest.fixture(scope="module")
def alone(world, data_files, tmp_path_factory):
    """Every run trained alone, as before shared stages: (records, the stages trained)."""
    root = tmp_path_factory.mktemp("alone")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XLT_RUN_STORE", str(root / "store"))
        patch.setattr(experiment, "stage_prefixes", lambda *args: ())
        trained = counted(patch)
        records = run_experiment(config(data_files), root / "run", world)
    return records, trained


def test_an_intermediate_stage_is_trained_once_for_every_target_and_shot_set(world, data_files, alone, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("XLT_RUN_STORE", str(tmp_path / "store"))
    trained = counted(monkeypatch)
    records = run_experiment(config(data_files), tmp_path / "run", world)
    alone_records, alone_trained = alone
    # the same records as every run trained alone
    pd.testing.assert_frame_equal(records, alone_records)
    # MNLI once (not 6 times); each target once (not 3 times); each few-shot stage once
    assert sorted(task for task, _ in trained) == ["mnli", "pawsx", "pawsx", "pawsx", "xnli", "xnli", "xnli"]
    assert sorted(task for task, _ in alone_trained).count("mnli") == 6 and len(alone_trained) == 16
    # in optimizer steps: 10 instead of 28 (MNLI 2 instead of 12, the targets 4 instead of 12, the shots 4)
    steps, alone_steps = sum(s for _, s in trained), sum(s for _, s in alone_trained)
    assert (steps, alone_steps) == (10, 28)
    store = json.loads((tmp_path / "run" / "store.json").read_text())
    assert [(hit["run"].split("-seed")[0], hit["stages"]) for hit in store["stage_hits"]] == [
        ("xnli-seq:mnli+fs2s1", 2), ("xnli-seq:mnli", 2), ("pawsx-seq:mnli+fs2s0", 1), ("pawsx-seq:mnli+fs2s1", 2),
        ("pawsx-seq:mnli", 2)]
    log = (tmp_path / "run" / "progress.log").read_text()
    assert "pawsx seq:mnli+fs2s0 seed 3: fine-tuning after the shared stage(s) mnli (run store)" in log
    assert "xnli seq:mnli seed 3: fine-tuning after the shared stage(s) mnli, then xnli (run store)" in log
    # whole or absent: no temporary folder left, one lock beside each shared stage
    shared = sorted(p.name for p in (tmp_path / "store" / "stages").iterdir() if p.suffix != ".lock")
    assert len(shared) == 3 and not [name for name in shared if name.endswith(".tmp")]
    assert sum(name.startswith("mnli-seed3-stages1-") for name in shared) == 1

    # another notebook (run directory) on the same store, another shot set: seq:mnli's XNLI model is read
    xnli_only = {task: files for task, files in data_files.items() if task != "pawsx"}
    again = run_experiment(config(xnli_only, tasks=["xnli"], methods=["seq:mnli+fs2s3"]), tmp_path / "other", world)
    assert sorted(task for task, _ in trained[7:]) == ["xnli"]  # the shot stage alone
    assert set(again.method) == {"seq:mnli+fs2s3"}


def test_a_stage_that_selects_on_the_target_is_keyed_by_the_target(world, data_files):
    """`intermediate_select_on: target` picks MNLI's checkpoint on each target's English dev (MNLI is of their
    type), so the stage is not the same model for XNLI and PAWS-X; the default (its own dev) is."""
    def mnli_prefix(task, options):
        cfg = config(data_files, methods=["seq:mnli"], method_options={"seq:mnli": options})
        task_plan = method_plan(plan(cfg)[task], "seq:mnli", world)
        return stage_prefixes(Path("store"), task_plan, "seq:mnli", 3, "model", world)[0].directory

    assert mnli_prefix("xnli", {}) == mnli_prefix("pawsx", {})
    on_target = {"intermediate_select_on": "target"}
    assert mnli_prefix("xnli", on_target) != mnli_prefix("pawsx", on_target)
    assert mnli_prefix("xnli", on_target) != mnli_prefix("xnli", {})
    budget = {"intermediate_budget": {"num_train_epochs": 2.0}}
    assert mnli_prefix("xnli", budget) != mnli_prefix("xnli", {})  # the stage's training fields are in the key
