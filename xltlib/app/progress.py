"""What `xlt run` and `xlt batch` print while notebooks run: the notebook's cell (n of N, as papermill starts it),
the kernel's progress lines (`xltlib.core.progress`: each fine-tuning run as it starts and ends) echoed from the
run directory's progress.log, and a batch's estimate of the time left. Each line is one write, so the lines of
`--jobs` workers sharing a terminal do not interleave within a line; all of it goes to stderr."""
from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path

from papermill.engines import NBClientEngine, papermill_engines

from ..core.progress import format_seconds

ENGINE = "xlt-progress"
_POLL_SECONDS = 0.5


def print_line(text: str) -> None:
    """One line to stderr in one write, flushed: progress goes to stderr, so stdout holds only the summary table
    (`xlt batch ... > summary.txt`). Module-level, so `--jobs` workers can be sent it."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class CellProgressEngine(NBClientEngine):
    """papermill's nbclient engine, calling `on_cell(n, total, cell)` as each code cell starts (n from 1)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, on_cell=None, **kwargs):
        if on_cell is not None:
            code_cells = [i for i, cell in enumerate(nb_man.nb.cells) if cell.cell_type == "code"]
            cell_start = nb_man.cell_start

            def announce_then_start(cell, cell_index=None, **kw):
                if cell_index in code_cells:
                    on_cell(code_cells.index(cell_index) + 1, len(code_cells), cell)
                return cell_start(cell, cell_index, **kw)

            nb_man.cell_start = announce_then_start
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE, CellProgressEngine)


def cell_line(label: str, n: int, total: int, cell) -> str:
    """`[label] cell 4/9: records = run_experiment(...)`: the cell's first line of code, shortened."""
    lines = [line.strip() for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
    first = lines[0] if lines else ""
    if len(first) > 70:
        first = first[:67] + "..."
    return f"[{label}] cell {n}/{total}" + (f": {first}" if first else "")


@contextlib.contextmanager
def echoing(path: Path, label: str, echo):
    """While the block runs, echo each complete line appended to `path` as `[label] line` (a thread polls the
    file; what is left when the block ends is echoed then)."""
    if echo is None:
        yield
        return
    stop = threading.Event()
    tail = _Tail(Path(path))

    def poll():
        while not stop.wait(_POLL_SECONDS):
            for line in tail.new_lines():
                echo(f"[{label}] {line}")

    thread = threading.Thread(target=poll, name=f"progress {label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for line in tail.new_lines():
            echo(f"[{label}] {line}")


class _Tail:
    """The complete lines appended to a file since the last call (the file may not exist yet)."""

    def __init__(self, path: Path):
        self.path, self.offset, self.rest = path, 0, b""

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *lines, self.rest = (self.rest + chunk).split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]


def eta_line(done: int, total: int, durations: list[float], jobs: int) -> str | None:
    """`batch: 2 of 5 runs done, about 6 min left` once a run has finished (runs that are skipped cost nothing)."""
    left = total - done
    if not durations or left <= 0:
        return None
    mean = sum(durations) / len(durations)
    return f"batch: {done} of {total} runs done, about {format_seconds(mean * left / min(jobs, left))} left"
