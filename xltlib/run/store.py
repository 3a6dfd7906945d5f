"""Finished fine-tuning runs on disk: `records.json` marks a run as finished (written last, atomically) and is read
back instead of retraining; `train.json` keeps its step history. Checkpoints are deleted once a run is final."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..core.atomic import atomic_write_json


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
