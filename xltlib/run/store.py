"""The run store: fine-tuning runs on disk, addressed by what determines them, so a (task, recipe, method,
options, seed, data) run is trained once, whichever notebook asks for it, and evaluated once per evaluation.

Two levels. A *training* folder (`<task>-<method>-seed<N>-<training key>`, `xltlib.run.experiment.training_key`)
holds what training produced: `train.json` (the step history and English-dev score, written last: it marks the
training as finished) and, where models are kept, the selected model in `model/`. Inside it, an *evaluation*
folder (`eval-<evaluation key>`: the languages, the generalized pairs, the robustness suite) holds `records.json`
(written last, atomically: it marks the run as finished) and `predictions/`. A notebook that asks for the same
training with other evaluation settings loads the kept model and only evaluates. Checkpoints are deleted once a
training is final. A lock beside each training folder lets notebooks that run side by side wait for one another
instead of training the same run twice.

Beside the trainings, `warmup/` holds shared warm-ups (`xltlib.run.loop.WarmupPrefix`): the resumable state after
a robust method's plain steps, keyed without the method (`xltlib.run.experiment.warmup_prefixes`), so the plain
steps that `standard` and every robust method of a (task, seed) begin with are trained once. `stages/` holds shared
stages (`xltlib.run.stages.StagePrefix`): the model after a schedule's leading stages (`seq:mnli`'s MNLI stage),
keyed by what determines it alone (`xltlib.run.experiment.stage_prefixes`), so an intermediate model is trained once
for every target, few-shot set and notebook whose schedule starts with it.

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

STORE_VERSION = 2  # 2: training and evaluation folders apart


def warmup_dir(store: Path, name: str) -> Path:
    """Where the store keeps the shared warm-up `name` (`<task>-seed<N>-step<S>-<key>`)."""
    return Path(store) / "warmup" / name


def stage_dir(store: Path, name: str) -> Path:
    """Where the store keeps the shared stage state `name` (`<stage tasks>-seed<N>-stages<K>-<key>`)."""
    return Path(store) / "stages" / name


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


def finished_records(eval_dir: Path) -> list[dict] | None:
    done = Path(eval_dir) / "records.json"
    return json.loads(done.read_text()) if done.is_file() else None


def trained_record(train_dir: Path) -> dict | None:
    """A finished training's record (`train.json`: steps, the selected step, its English-dev score), or None."""
    done = Path(train_dir) / "train.json"
    return json.loads(done.read_text()) if done.is_file() else None


def save_trained_run(train_dir: Path, result) -> None:
    """Write a finished training's record atomically, then delete its checkpoints: the result is final."""
    atomic_write_json(Path(train_dir) / "train.json",
                      {"global_step": result.global_step, "best_step": result.best_step,
                       "best_dev_score": result.best_dev_score, "history": result.history,
                       "resumed_from_step": result.resumed_from_step, "warmup_from_step": result.warmup_from_step,
                       "stages_from_store": result.stages_from_store})
    for checkpoint in Path(train_dir).glob("checkpoint*"):
        shutil.rmtree(checkpoint, ignore_errors=True)


def save_finished_run(eval_dir: Path, records: list[dict]) -> None:
    """Write a finished evaluation's records atomically: what marks a run as finished."""
    atomic_write_json(Path(eval_dir) / "records.json", records)
