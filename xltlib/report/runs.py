"""The runs a tables notebook reads back (notebook 10): every `metrics.csv` a glob matches, named by notebook and
run, with the status its runner recorded in `run.json` and the world its config names, and which notebooks have
no run at all. Nothing here trains or opens a world; a run still going (no `run.json` yet) is read as it stands.
"""
from __future__ import annotations

import glob
from pathlib import Path

import pandas as pd

from ..core.atomic import read_json_record
from ..core.paths import project_root
from .results import METRIC_COLUMNS, read_metrics

RUN_COLUMNS = ("notebook", "run", "status", "world", "run_dir")
NO_RUN_RECORD = "no run.json"  # still running under `xlt run`, or run outside it (nbval, an interactive session)


def find_runs(pattern: str, notebooks) -> pd.DataFrame:
    """One row per metrics file matching `pattern` (relative to the project root): its notebook, run, status
    (`run.json`'s "finished" or "failed", else `NO_RUN_RECORD`), world (`config.json`'s, "" without one) and run
    folder (relative to the project root when inside it). A file in `outputs/<notebook>/<run>/` is that notebook's run; one in a folder named after a notebook
    (`.cache/smoke-runs/<notebook>/`) is named after the folder above it ("smoke-runs"). Nothing matching is an
    empty frame, not an error: a tables notebook may run before the runs it reads."""
    path = Path(pattern).expanduser()
    if not path.is_absolute():
        path = project_root() / path
    matches = sorted(Path(p) for p in glob.glob(str(path))) if glob.has_magic(str(path)) else [path]
    rows = []
    for metrics in (m for m in matches if m.is_file()):
        run_dir = metrics.parent
        notebook, run = ((run_dir.name, run_dir.parent.name) if run_dir.name in notebooks
                         else (run_dir.parent.name, run_dir.name))
        rows.append({"notebook": notebook, "run": run, "status": run_status(run_dir),
                     "world": run_config(run_dir).get("world", ""), "run_dir": _shown(run_dir)})
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _shown(path: Path) -> str:
    """`path` relative to the project root when inside it, so a saved table carries no machine paths."""
    try:
        return str(path.resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def _resolved(run_dir) -> Path:
    path = Path(run_dir)
    return path if path.is_absolute() else project_root() / path


def run_status(run_dir) -> str:
    """What the runner recorded for the run in `run_dir`: "finished", "failed", or `NO_RUN_RECORD`."""
    return read_json_record(_resolved(run_dir) / "run.json").get("status") or NO_RUN_RECORD


def run_config(run_dir) -> dict:
    """The resolved parameters a run saved (`config.json`'s "config"); {} without one."""
    config = read_json_record(_resolved(run_dir) / "config.json").get("config")
    return config if isinstance(config, dict) else {}


def missing_notebooks(runs: pd.DataFrame, notebooks) -> list[str]:
    """The notebooks (stems) of which `runs` holds no run."""
    return [name for name in notebooks if name not in set(runs.notebook)]


def read_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Every run's long records, with `notebook` and `run` columns (empty, with those columns, without runs)."""
    if runs.empty:
        return pd.DataFrame(columns=[*METRIC_COLUMNS, "notebook", "run"])
    frames = [read_metrics(_resolved(r.run_dir) / "metrics.csv").assign(notebook=r.notebook, run=r.run)
              for r in runs.itertuples()]
    return pd.concat(frames, ignore_index=True)


def run_records(records: pd.DataFrame, notebook: str, run: str) -> pd.DataFrame:
    """One run's records, in the plain long format (METRIC_COLUMNS) the report functions take."""
    mine = records[(records.notebook == notebook) & (records.run == run)]
    return mine[list(METRIC_COLUMNS)].reset_index(drop=True)


def describe_runs(runs: pd.DataFrame, notebooks, pattern: str) -> str:
    """What was found under `pattern`: the runs read, those not finished, and the notebooks without a run."""
    if runs.empty:
        return (f"No metrics found under `{pattern}`: no run to rebuild tables from (run the notebooks first, "
                f"e.g. `make reproduce`).")
    lines = [f"Read {len(runs)} run(s) under `{pattern}`: "
             + ", ".join(f"`{r.notebook}/{r.run}`" for r in runs.itertuples()) + "."]
    unfinished = runs[runs.status != "finished"]
    if not unfinished.empty:
        lines.append("Not finished (read as they stand): " + ", ".join(
            f"`{r.notebook}/{r.run}` ({r.status})" for r in unfinished.itertuples())
            + f". `{NO_RUN_RECORD}`: still running under `xlt run`, or run outside it.")
    missing = missing_notebooks(runs, notebooks)
    if missing:
        lines.append("No run (yet) of " + ", ".join(f"`{name}`" for name in missing) + ".")
    return "\n\n".join(lines)
