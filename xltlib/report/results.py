"""Results in long format (one row per task, language, method, seed, split and metric) and run records.

Every file is written atomically (a temporary file in the same directory, fsynced, then renamed), so a run
that dies mid-write leaves the previous file whole. `summarize` is the one place intervals are computed.
"""
from __future__ import annotations

import json

import glob
import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from ..core.atomic import atomic_write_json, atomic_write_text
from ..core.paths import project_root

METRIC_COLUMNS = ("task", "lang", "method", "seed", "split", "metric", "value")
SUMMARY_BY = ("task", "lang", "method", "split", "metric")
# Packages whose versions change results; looked up from installed metadata, never imported.
MANIFEST_PACKAGES = ("torch", "transformers", "datasets", "accelerate", "papermill")
_TEXT_COLUMNS = ("task", "lang", "method", "split", "metric")


# ---------------------------------------------------------------------------------------------- writing

def write_metrics(records, path: str | Path) -> None:
    """Write long-format records (a list of dicts or a DataFrame) as CSV, atomically.

    The columns must be exactly METRIC_COLUMNS (in any order; they are written in that order)."""
    df = _metrics_frame(records, source=str(path))
    atomic_write_text(path, df.to_csv(index=False))


def save_run(run_dir: str | Path, config, records) -> None:
    """Write a run's `metrics.csv` and `config.json` (`{"config": ..., "environment": ...}`), atomically.

    `config` is a dict (or anything with `to_dict()`, e.g. a RunConfig)."""
    run_dir = Path(run_dir)
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    df = _metrics_frame(records, source=str(run_dir / "metrics.csv"))  # check before writing anything
    text = df.to_csv(index=False)
    if _same_finished_run(run_dir, config, text):  # e.g. a notebook opened interactively on a finished run
        return
    atomic_write_json(run_dir / "config.json", {"config": config, "environment": environment_manifest()})
    atomic_write_text(run_dir / "metrics.csv", text)


def _same_finished_run(run_dir: Path, config: dict, metrics_text: str) -> bool:
    """Whether `run_dir` already holds these metrics from this config: then its files (and the environment they
    record) stay as they are, byte for byte."""
    try:
        same_metrics = (run_dir / "metrics.csv").read_text() == metrics_text
        stored = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return same_metrics and isinstance(stored, dict) and stored.get("config") == json.loads(json.dumps(config))


def run_dir_for(notebook_stem: str, output_dir: str | Path | None) -> Path:
    """Where a notebook writes: `output_dir` if the runner injected one, else outputs/<stem>/interactive.

    A relative `output_dir` is taken relative to the project root, not the working directory. Created."""
    if output_dir is None or output_dir == "":
        run_dir = project_root() / "outputs" / notebook_stem / "interactive"
    else:
        run_dir = Path(output_dir).expanduser()
        if not run_dir.is_absolute():
            run_dir = project_root() / run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


# ---------------------------------------------------------------------------------------------- reading

def read_metrics(paths_or_glob) -> pd.DataFrame:
    """Concatenate metrics files, adding a `run` column (the name of the directory each file is in).

    Accepts a path, a glob pattern, a run directory (its metrics.csv is read) or a list of these; relative
    paths are taken relative to the project root. Nothing matching is an error, so a typo never reads as
    "no results"."""
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    files: list[Path] = []
    for item in items:
        pattern = Path(item).expanduser()
        if not pattern.is_absolute():
            pattern = project_root() / pattern
        matches = sorted(Path(p) for p in glob.glob(str(pattern))) if glob.has_magic(str(item)) else [pattern]
        matches = [m / "metrics.csv" if m.is_dir() else m for m in matches]
        found = [m for m in matches if m.is_file()]
        if not found:
            raise FileNotFoundError(f"read_metrics: no metrics file at {pattern}")
        files.extend(found)
    frames = []
    for f in files:
        df = pd.read_csv(
            f,
            dtype={c: str for c in _TEXT_COLUMNS},
            keep_default_na=False,  # language codes such as "na" or "nan" stay strings
            na_values={"value": ["", "nan", "NaN"]},
        )
        missing = [c for c in METRIC_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{f}: missing metric columns {missing}; expected {list(METRIC_COLUMNS)}")
        frames.append(df.assign(run=f.parent.name))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------- environment

def environment_manifest() -> dict:
    """What produced a result: Python and package versions, the project's git commit, the time (UTC)."""
    from .. import __version__

    packages = {name: _installed_version(name) for name in MANIFEST_PACKAGES}
    packages["xltlib"] = __version__
    commit, dirty = _git_state(project_root())
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "git_commit": commit,
        "git_dirty": dirty,
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_state(root: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout at `root`; (None, None) if it is not a git checkout or git is absent."""
    def git(*args) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain")
    return commit.strip(), (None if status is None else bool(status.strip()))


# ---------------------------------------------------------------------------------------------- statistics

def macro_average(records: pd.DataFrame) -> pd.DataFrame:
    """Add, for each (task, method, seed, split, metric), the mean over languages as rows with lang="avg".

    As XTREME's scorer does, the mean is over every language present, English included. Rows already
    labelled "avg" are kept and never averaged; a group that already has an "avg" row gets no second one,
    so applying this twice changes nothing. Extra columns (e.g. `run` from read_metrics) are grouped on too,
    so different runs are never averaged together."""
    df = _metrics_frame(records, source="macro_average", extra_ok=True)
    keys = ["task", "method", "seed", "split", "metric"] + [c for c in df.columns if c not in METRIC_COLUMNS]
    is_avg = df["lang"] == "avg"
    per_lang = df[~is_avg]
    if per_lang.empty:
        return df.reset_index(drop=True)
    avg = per_lang.groupby(keys, dropna=False, sort=False)["value"].mean().reset_index()
    avg["lang"] = "avg"
    existing = df.loc[is_avg, keys].drop_duplicates()
    if not existing.empty:
        marker = avg.merge(existing, on=keys, how="left", indicator=True)["_merge"] == "left_only"
        avg = avg[marker.to_numpy()]
    return pd.concat([df, avg[list(df.columns)]], ignore_index=True)


def summarize(records: pd.DataFrame, by: Iterable[str] = SUMMARY_BY) -> pd.DataFrame:
    """Summarize over seeds: for each `by` group, columns n, mean, std, ci_low, ci_high.

    THE one function every notebook uses for intervals. The interval is a 95% Student-t interval of the
    mean over seeds: mean ± t(0.975, n-1) · std / sqrt(n), with the sample std (ddof=1). With n == 1 the
    std and both bounds are NaN: one seed says nothing about seed noise. NaN values are not counted.
    Each group must hold each seed at most once (else n would count something other than seeds)."""
    from scipy import stats

    by = list(by)
    df = pd.DataFrame(records)
    missing = [c for c in by + ["value"] if c not in df.columns]
    if missing:
        raise ValueError(f"summarize: records have no column(s) {missing}; columns are {list(df.columns)}")
    if "seed" in df.columns and "seed" not in by:
        dup = df[df.duplicated(by + ["seed"], keep=False)]
        if not dup.empty:
            row = dup.iloc[0].to_dict()  # plain Python values, so the message reads like the data
            group = {c: row[c] for c in by}
            raise ValueError(
                f"summarize: group {group} has seed {row['seed']!r} more than once; add the column that "
                f"tells those rows apart to `by`, or drop the duplicates"
            )
    grouped = df.groupby(by, dropna=False, sort=True)["value"]
    out = grouped.agg(n="count", mean="mean", std="std").reset_index()
    n = out["n"].astype(float)
    half = [
        stats.t.ppf(0.975, k - 1) * s / math.sqrt(k) if k >= 2 else math.nan
        for k, s in zip(n, out["std"])
    ]
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    out.loc[out["n"] < 2, ["std", "ci_low", "ci_high"]] = math.nan
    return out


def differs_beyond_noise(a: Mapping, b: Mapping) -> bool:
    """Whether two rows of `summarize` have non-overlapping 95% intervals.

    A conservative check: non-overlap implies a significant difference, but overlapping intervals do not
    imply there is none. An interval that is NaN (one seed) never counts as a difference."""
    lows_highs = [a["ci_low"], a["ci_high"], b["ci_low"], b["ci_high"]]
    if any(pd.isna(v) for v in lows_highs):
        return False
    return bool(a["ci_low"] > b["ci_high"] or b["ci_low"] > a["ci_high"])


# ---------------------------------------------------------------------------------------------- helpers

def _metrics_frame(records, source: str, extra_ok: bool = False) -> pd.DataFrame:
    """Records as a DataFrame whose columns are METRIC_COLUMNS (plus others if `extra_ok`), in that order."""
    if isinstance(records, pd.DataFrame):
        df = records.copy()
    else:
        records = list(records)
        df = pd.DataFrame(records) if records else pd.DataFrame(columns=list(METRIC_COLUMNS))
    missing = [c for c in METRIC_COLUMNS if c not in df.columns]
    extra = [c for c in df.columns if c not in METRIC_COLUMNS]
    if missing or (extra and not extra_ok):
        raise ValueError(
            f"{source}: metric records must have exactly the columns {list(METRIC_COLUMNS)}; "
            f"missing {missing}, extra {extra}"
        )
    bad = pd.to_numeric(df["value"], errors="coerce").isna() & df["value"].notna()
    if bad.any():
        raise ValueError(f"{source}: column 'value' must be numeric; row {int(bad.idxmax())} has "
                         f"{df.loc[bad.idxmax(), 'value']!r}")
    df["value"] = pd.to_numeric(df["value"])
    return df[list(METRIC_COLUMNS) + extra] if extra_ok else df[list(METRIC_COLUMNS)]


