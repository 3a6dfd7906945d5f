"""The run store: fine-tuning runs on disk, addressed by what determines them (`xltlib.run.experiment.run_key`), so
a (task, recipe, method, options, seed, data) run is trained once, whichever notebook asks for it. `records.json`
marks a run as finished (written last, atomically) and is read back instead of retraining; `train.json` keeps its
step history, `predictions/` its submission files. Checkpoints are deleted once a run is final. A lock beside each
run lets notebooks that run side by side wait for one another instead of training the same run twice.

Runs under `outputs/` share `outputs/store/`; a run directory elsewhere (tests, smoke runs) keeps its own
`<run dir>/work/`; `XLT_RUN_STORE` names another store. Bump `STORE_VERSION` when a library change alters what a
stored run would record.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

from ..core.atomic import atomic_write_json
from ..core.paths import outputs_dir

STORE_VERSION = 1


def store_root(run_dir: Path) -> Path:
    if os.environ.get("XLT_RUN_STORE"):
        return Path(os.environ["XLT_RUN_STORE"])
    outputs, run_dir = outputs_dir().resolve(), Path(run_dir).resolve()
    return outputs / "store" if run_dir.is_relative_to(outputs) else run_dir / "work"


@contextlib.contextmanager
def run_lock(work_dir: Path):
    """Hold `work_dir`'s lock (the OS drops it if the holder dies)."""
    work_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(work_dir.with_name(work_dir.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def copy_predictions(work_dir: Path, destination: Path) -> None:
    """A stored run's submission files into a run directory's `predictions/<method>/seed<N>/`."""
    source = Path(work_dir) / "predictions"
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)


def finished_records(work_dir: Path) -> list[dict] | None:
    done = Path(work_dir) / "records.json"
    return json.loads(done.read_text()) if done.is_file() else None


def save_finished_run(work_dir: Path, records: list[dict], result=None) -> None:
    """Write a finished fine-tuning run's records (and, if it trained, its step history) atomically, then
    delete its checkpoints: the result is final, and `records.json` is what marks a run as finished."""
    if result is not None:
        atomic_write_json(work_dir / "train.json", {"global_step": result.global_step, "best_step": result.best_step,
                                                    "history": result.history,
                                                    "resumed_from_step": result.resumed_from_step})
    atomic_write_json(work_dir / "records.json", records)
    for checkpoint in work_dir.glob("checkpoint*"):
        shutil.rmtree(checkpoint, ignore_errors=True)
