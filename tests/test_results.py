"""xltlib.report.results (and xltlib.core.atomic): atomic writes, the metrics schema, macro averages, seed intervals, the run manifest."""
from __future__ import annotations

import json
import math
import os

import pandas as pd
import pytest

from xltlib.core import atomic
from xltlib.core.atomic import atomic_write_json, atomic_write_text
from xltlib.report.results import (METRIC_COLUMNS, differs_beyond_noise, environment_manifest, macro_average,
                                   read_metrics, run_dir_for, save_run, summarize, write_metrics)


def row(lang="en", seed=1, value=0.5, task="xnli", method="standard", split="test", metric="accuracy"):
    return {"task": task, "lang": lang, "method": method, "seed": seed, "split": split, "metric": metric,
            "value": value}


# ---------------------------------------------------------------------------------------------- atomic writes

def test_atomic_write_replaces_whole_file_and_creates_parents(tmp_path):
    path = tmp_path / "a" / "b" / "out.json"
    atomic_write_json(path, {"x": 1})
    atomic_write_json(path, {"x": 2, "p": tmp_path})
    assert json.loads(path.read_text()) == {"x": 2, "p": str(tmp_path)}
    assert os.listdir(path.parent) == ["out.json"]


def test_failed_rename_keeps_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    atomic_write_text(path, "old contents\n")

    def broken_replace(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk went away"):
        atomic_write_text(path, "new contents that never land\n")
    assert path.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["metrics.csv"]


def test_failure_mid_write_never_truncates_old_file(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    atomic_write_json(path, {"finished": True})

    def broken_fsync(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        atomic_write_json(path, {"finished": False, "padding": "x" * 100_000})
    assert json.loads(path.read_text()) == {"finished": True}
    assert os.listdir(tmp_path) == ["config.json"]


def test_unserializable_json_names_the_value_and_writes_nothing(tmp_path):
    with pytest.raises(TypeError, match="object"):
        atomic_write_json(tmp_path / "x.json", {"bad": object()})
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------- metrics files

def test_write_metrics_checks_columns_exactly(tmp_path):
    bad = [{k: v for k, v in row().items() if k != "seed"} | {"score": 1.0}]
    with pytest.raises(ValueError) as e:
        write_metrics(bad, tmp_path / "m.csv")
    assert "missing ['seed']" in str(e.value) and "extra ['score']" in str(e.value)
    assert not (tmp_path / "m.csv").exists()


def test_write_metrics_rejects_non_numeric_value(tmp_path):
    with pytest.raises(ValueError, match="'value' must be numeric.*'high'"):
        write_metrics([row(value="high")], tmp_path / "m.csv")


def test_write_and_read_metrics_round_trip_with_run_column(tmp_path):
    # Column order in the input does not matter; codes that pandas would read as NaN stay strings.
    df = pd.DataFrame([row(lang="en", value=0.8), row(lang="na", value=0.6)])[list(reversed(METRIC_COLUMNS))]
    write_metrics(df, tmp_path / "run_a" / "metrics.csv")
    write_metrics([row(lang="en", seed=2, value=0.7)], tmp_path / "run_b" / "metrics.csv")
    assert (tmp_path / "run_a" / "metrics.csv").read_text().splitlines()[0] == ",".join(METRIC_COLUMNS)

    both = read_metrics(str(tmp_path / "run_*" / "metrics.csv"))
    assert list(both["run"]) == ["run_a", "run_a", "run_b"]
    assert list(both["lang"]) == ["en", "na", "en"]
    assert list(both["value"]) == [0.8, 0.6, 0.7]
    # A run directory stands for its metrics.csv; a list mixes forms.
    assert len(read_metrics([tmp_path / "run_a", tmp_path / "run_b" / "metrics.csv"])) == 3


def test_read_metrics_with_nothing_matching_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics file"):
        read_metrics(str(tmp_path / "nope_*" / "metrics.csv"))


def test_save_run_writes_config_with_environment_and_metrics(tmp_path):
    save_run(tmp_path / "run", {"seeds": [1, 2]}, [row()])
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["config"] == {"seeds": [1, 2]}
    assert record["environment"]["packages"]["papermill"]
    assert pd.read_csv(tmp_path / "run" / "metrics.csv")["value"].tolist() == [0.5]


def test_run_dir_for(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_PROJECT_ROOT", str(tmp_path))
    assert run_dir_for("01_nb", None) == tmp_path / "outputs" / "01_nb" / "interactive"
    assert run_dir_for("01_nb", "outputs/x/y") == tmp_path / "outputs" / "x" / "y"
    assert run_dir_for("01_nb", str(tmp_path / "abs")) == tmp_path / "abs"
    assert (tmp_path / "outputs" / "01_nb" / "interactive").is_dir() and (tmp_path / "abs").is_dir()


# ---------------------------------------------------------------------------------------------- statistics

def test_macro_average_matches_hand_computation():
    records = pd.DataFrame([
        row("en", 1, 0.9), row("de", 1, 0.6), row("sw", 1, 0.3),
        row("en", 2, 0.8), row("de", 2, 0.5), row("sw", 2, 0.5),
        row("en", 1, 0.7, task="pawsx"), row("de", 1, 0.6, task="pawsx"),
    ])
    out = macro_average(records)
    avg = out[out["lang"] == "avg"].set_index(["task", "seed"])["value"]
    assert avg[("xnli", 1)] == pytest.approx((0.9 + 0.6 + 0.3) / 3)  # English included, as XTREME does
    assert avg[("xnli", 2)] == pytest.approx((0.8 + 0.5 + 0.5) / 3)
    assert avg[("pawsx", 1)] == pytest.approx(0.65)
    assert len(out) == len(records) + 3
    # Applying it again neither averages the "avg" rows nor adds a second one.
    again = macro_average(out)
    assert len(again) == len(out)
    assert again["value"].tolist() == pytest.approx(out["value"].tolist())


def test_summarize_interval_matches_hand_computed_t_interval():
    values = [0.70, 0.74, 0.75]
    records = pd.DataFrame([row("en", s, v) for s, v in zip((1, 2, 3), values)] + [row("de", 1, 0.6)])
    out = summarize(records).set_index("lang")

    mean = sum(values) / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    half = 4.302652729749464 * sd / math.sqrt(3)  # t(0.975, df=2), from a table
    en = out.loc["en"]
    assert en["n"] == 3
    assert en["mean"] == pytest.approx(mean)
    assert en["std"] == pytest.approx(sd)
    assert en["ci_low"] == pytest.approx(mean - half)
    assert en["ci_high"] == pytest.approx(mean + half)

    de = out.loc["de"]  # one seed: no interval
    assert de["n"] == 1 and de["mean"] == pytest.approx(0.6)
    assert math.isnan(de["ci_low"]) and math.isnan(de["ci_high"]) and math.isnan(de["std"])


def test_summarize_rejects_a_seed_counted_twice():
    with pytest.raises(ValueError, match="seed 1 more than once"):
        summarize(pd.DataFrame([row("en", 1, 0.7), row("en", 1, 0.8)]))


def test_differs_beyond_noise_is_interval_non_overlap():
    a = {"ci_low": 0.70, "ci_high": 0.74}
    assert differs_beyond_noise(a, {"ci_low": 0.75, "ci_high": 0.80})
    assert not differs_beyond_noise(a, {"ci_low": 0.73, "ci_high": 0.80})
    assert not differs_beyond_noise(a, {"ci_low": float("nan"), "ci_high": float("nan")})


# ---------------------------------------------------------------------------------------------- manifest

def test_environment_manifest_has_versions_and_commit():
    m = environment_manifest()
    assert m["python"].count(".") == 2
    for name in ("torch", "transformers", "datasets", "accelerate", "papermill", "xltlib"):
        assert name in m["packages"]
    assert m["packages"]["papermill"] and m["packages"]["xltlib"]
    assert "git_commit" in m and "git_dirty" in m and m["time_utc"].endswith("+00:00")
    if m["git_commit"] is not None:
        assert len(m["git_commit"]) == 40


def test_environment_manifest_outside_git_has_no_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    m = environment_manifest()
    assert m["git_commit"] is None and m["git_dirty"] is None


def test_saving_the_same_run_again_leaves_its_files_byte_identical(tmp_path):
    """A notebook reopened on a finished run saves the same metrics: the files, and the environment they record,
    are not rewritten; different metrics are."""
    import os

    from xltlib.report.results import save_run

    records = [{"task": "xnli", "lang": "en", "method": "standard", "seed": 1, "split": "test",
                "metric": "accuracy", "value": 0.5}]
    save_run(tmp_path, {"seeds": [1]}, records)
    before = {p.name: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in tmp_path.iterdir()}
    save_run(tmp_path, {"seeds": [1]}, records)
    assert {p.name: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in tmp_path.iterdir()} == before
    save_run(tmp_path, {"seeds": [1]}, [{**records[0], "value": 0.6}])
    assert (tmp_path / "metrics.csv").read_bytes() != before["metrics.csv"][0]
