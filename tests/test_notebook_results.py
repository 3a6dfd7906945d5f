"""Read back what the notebooks recorded in their smoke runs (`make test` runs nbval on them first).

Thresholds, not exact floats: a smoke run trains on the tiny world for a few steps."""
import json
from pathlib import Path

import pandas as pd
import pytest

from xltlib.core.paths import project_root
from xltlib.report.results import METRIC_COLUMNS

SMOKE_RUNS = project_root() / ".cache" / "smoke-runs"


def _run(stem: str) -> Path:
    run = SMOKE_RUNS / stem
    if not (run / "metrics.csv").is_file():
        pytest.skip(f"no smoke run of {stem} (make test runs the notebooks before this file)")
    return run


def test_baseline_notebook_records_every_language_method_and_seed():
    run = _run("01_zero_shot_baseline")
    records = pd.read_csv(run / "metrics.csv", keep_default_na=False)
    assert tuple(records.columns) == METRIC_COLUMNS
    config = json.loads((run / "config.json").read_text())
    langs = ["en", "rlx", "adn", "low", "vfc", "vfx"]
    test = records[records.split == "test"]
    for task in config["config"]["tasks"]:
        for method in config["config"]["methods"]:
            rows = test[(test.task == task) & (test.method == method)]
            assert sorted(set(rows.lang)) == sorted(langs)
            assert sorted(set(rows.seed)) == sorted(config["config"]["seeds"])
    assert records.value.between(0, 1).all()
    generalized = records[records.split == "test_generalized"]
    assert len(generalized) == len(config["config"]["tasks"]) * len(config["config"]["methods"]) * len(
        config["config"]["seeds"]) * len(langs) ** 2
    assert config["environment"]["packages"]["torch"].startswith("2.13.0")
    assert (run / "predictions/standard/seed1/xnli/test-rlx.tsv").is_file()


def test_xtreme_r_notebook_records_every_task_language_method_and_seed_and_its_benchmark_scores():
    from xltlib.world.build import world_langs_for

    run = _run("03_xtreme_r_baseline")
    records = pd.read_csv(run / "metrics.csv", keep_default_na=False)
    config = json.loads((run / "config.json").read_text())["config"]
    test = records[records.split == "test"]
    for task in config["tasks"]:
        for method in config["methods"]:
            rows = test[(test.task == task) & (test.method == method)]
            assert sorted(set(rows.lang)) == sorted(world_langs_for(task, config["world_preset"])), (task, method)
            assert sorted(set(rows.seed)) == sorted(config["seeds"])
    assert records.value.between(0, 1).all()
    bench = pd.read_csv(run / "benchmark.csv", keep_default_na=False)
    assert tuple(bench.columns) == METRIC_COLUMNS and bench.value.between(0, 1).all()
    for (method, seed), rows in bench.groupby(["method", "seed"]):
        groups = rows[rows.task != "xtreme-r"]
        assert len(groups) == 4  # the smoke run has one task per XTREME-R group
        assert rows[rows.task == "xtreme-r"].value.item() == pytest.approx(groups.value.mean())
