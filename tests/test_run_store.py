"""The run store: a run is keyed by what determines it, so a config that adds a seed (or another notebook asking
for the same run) reads the finished runs back instead of retraining them; each run directory still gets its
predictions. A (task, method, options, seed, data) training is kept apart from its evaluations: another notebook's
languages, generalized pairs or attacks load the kept model and only evaluate, to the records a fresh run gives."""
import json

import pandas as pd
import pytest

from xltlib.core.config import RunConfig
from xltlib.run.experiment import run_experiment, run_key, training_key
from xltlib.run.plan import plan


def test_adding_a_seed_reuses_the_finished_one_from_a_shared_store(tiny_model_dir, xnli_files, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("XLT_RUN_STORE", str(tmp_path / "store"))
    base = dict(world="real", tasks=["xnli"], model_name_or_path=str(tiny_model_dir), methods=["standard"],
                eval_langs=["en", "de"], data_files={"xnli": xnli_files}, num_train_epochs=1.0,
                per_device_train_batch_size=4, per_device_eval_batch_size=8, learning_rate=1e-3)
    first = run_experiment(RunConfig(**base, seeds=(1,)), tmp_path / "a")
    second = run_experiment(RunConfig(**base, seeds=(1, 2)), tmp_path / "b")
    a, b = (json.loads((tmp_path / name / "store.json").read_text()) for name in ("a", "b"))
    assert len(a["misses"]) == 1 and not a["hits"]
    assert b["hits"] == a["misses"] and len(b["misses"]) == 1 and "seed2" in b["misses"][0]
    pd.testing.assert_frame_equal(second[second.seed == 1].reset_index(drop=True), first)
    for run in ("a", "b"):
        assert (tmp_path / run / "predictions/standard/seed1/xnli/test-de.tsv").is_file()
    assert (tmp_path / "b/predictions/standard/seed2/xnli/test-en.tsv").is_file()


BUDGET = dict(world_preset="tiny", tasks=["xnli"], methods=["standard"], seeds=[1], eval_langs=["en", "rlx"],
              generalized=False, max_train_samples=64, max_eval_samples=24, num_train_epochs=1.0,
              per_device_train_batch_size=16, per_device_eval_batch_size=64, learning_rate=1e-3, warmup_ratio=0.0,
              evals_per_epoch=2)
OTHER_EVALUATION = dict(eval_langs=["en", "rlx", "adn"], generalized=True, max_generalized_samples=8,
                        attacks={"pgd": {"epsilon": 0.1}}, max_robustness_samples=6)


def _keys(cfg, world):
    task_plan = plan(cfg)["xnli"]
    return (training_key(cfg, task_plan, "standard", 1, "model", world),
            run_key(cfg, task_plan, "standard", 1, "model", world))


def test_the_training_key_ignores_how_a_run_is_evaluated_and_the_run_key_does_not(cached_tiny_world):
    train, run = _keys(RunConfig(**BUDGET), cached_tiny_world)
    other_train, other_run = _keys(RunConfig(**{**BUDGET, **OTHER_EVALUATION}), cached_tiny_world)
    assert train == other_train and run != other_run
    assert _keys(RunConfig(**{**BUDGET, "learning_rate": 5e-4}), cached_tiny_world)[0] != train


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_another_evaluation_of_a_trained_run_loads_its_model_to_the_records_of_a_fresh_run(
        cached_tiny_world, tmp_path, monkeypatch, pooling):
    monkeypatch.setenv("XLT_RUN_STORE", str(tmp_path / "store"))
    budget = {**BUDGET, "classifier_pooling": pooling}
    run_experiment(RunConfig(**budget), tmp_path / "first", cached_tiny_world)
    (train_json,) = (tmp_path / "store").glob("*/train.json")
    stamp = train_json.stat().st_mtime_ns
    reused = run_experiment(RunConfig(**{**budget, **OTHER_EVALUATION}), tmp_path / "second", cached_tiny_world)
    record = json.loads((tmp_path / "second" / "store.json").read_text())
    assert record["hits"] == [] and record["trained_hits"] == record["misses"] and len(record["misses"]) == 1
    assert train_json.stat().st_mtime_ns == stamp  # not trained again
    assert "evaluating the model trained earlier (run store)" in (tmp_path / "second" / "progress.log").read_text()

    monkeypatch.setenv("XLT_RUN_STORE", str(tmp_path / "fresh-store"))
    fresh = run_experiment(RunConfig(**{**budget, **OTHER_EVALUATION}), tmp_path / "fresh", cached_tiny_world)
    assert json.loads((tmp_path / "fresh" / "store.json").read_text())["trained_hits"] == []
    assert set(reused.split) >= {"test", "test_generalized", "validation"} and (reused.metric.str.contains("pgd")).any()
    pd.testing.assert_frame_equal(reused, fresh)
