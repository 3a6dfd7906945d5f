"""Progress lines a run writes for whoever started it: `<run dir>/progress.log`, one line per event (a fine-tuning
run starting and ending, the embedded world being built), appended and flushed at once. `xlt run` and `xlt batch`
tail this file and echo it, which works the same for a kernel started by papermill in this process or in a
`--jobs` worker, without passing the kernel's whole output through."""
from __future__ import annotations

import time
from pathlib import Path

PROGRESS_FILE = "progress.log"


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressLog:
    """Writes `run_dir/progress.log`; `total` is the number of fine-tuning runs the experiment will make."""

    def __init__(self, run_dir: str | Path, total: int | None = None):
        self.path = Path(run_dir) / PROGRESS_FILE
        self.total = total
        self.count = 0
        self._started = None

    def write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text.replace("\n", " ") + "\n")

    def run_started(self, task: str, method: str, seed: int, stored: bool, trained: bool = False,
                    warmup: int = 0, stages=()) -> None:
        """`stored`: the whole run is read back; `trained`: its model was trained earlier and is only evaluated;
        `warmup`: the steps of a shared warm-up (run store) its fine-tuning resumes from; `stages`: the tasks of the
        leading stages of its schedule read from the run store (trained earlier, by this or another schedule)."""
        self.count += 1
        self._started = time.monotonic()
        if not stored:  # a stored run is read back in a moment: one line, when it is read
            doing = ("evaluating the model trained earlier (run store)" if trained
                     else f"fine-tuning, resumed from the shared warm-up of {warmup} steps (run store)" if warmup
                     else f"fine-tuning after the shared stage(s) {', then '.join(stages)} (run store)" if stages
                     else "fine-tuning")
            self.write(f"{self._name(task, method, seed)}: {doing}")

    def run_finished(self, task: str, method: str, seed: int, records, stored: bool) -> None:
        elapsed = time.monotonic() - self._started if self._started is not None else 0.0
        how = "read from the run store (trained earlier)" if stored else f"done in {format_seconds(elapsed)}"
        self.write(f"{self._name(task, method, seed)}: {how}, {english_dev_score(records)}")

    def _name(self, task: str, method: str, seed: int) -> str:
        of = f" {self.count}/{self.total}" if self.total else f" {self.count}"
        return f"run{of}: {task} {method} seed {seed}"


def english_dev_score(records) -> str:
    """'English dev accuracy 0.812' from a run's long-format records (its one `validation` row), if it has one."""
    for r in records:
        if r.get("split") == "validation":
            return f"{r['lang']} dev {r['metric']} {float(r['value']):.3f}"
    return "no dev score (not fine-tuned)"
