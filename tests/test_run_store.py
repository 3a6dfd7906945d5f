"""The run store: a run is keyed by what determines it, so a config that adds a seed (or another notebook asking
for the same run) reads the finished runs back instead of retraining them; each run directory still gets its
predictions."""
import json

import pandas as pd

from xltlib.core.config import RunConfig
from xltlib.run.experiment import run_experiment


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
