"""Run notebooks through papermill into outputs/<notebook-stem>/<run-name>/, one run directory per run.

A run is skipped when its directory holds a finished run of the same notebook parameters. A rerun over a finished
run works in <run dir>/.attempt/ and replaces the finished run's files only when it finishes; a failed rerun leaves
every file of the finished run as it was, and keeps what it wrote beside them under `.failed` names
(<stem>.failed.ipynb, run.failed.json, metrics.failed.csv, predictions.failed/). A failed first run keeps its
notebook as <stem>.failed.ipynb. Entries of the run directory that a run does not write are never deleted.
While a notebook runs, `echo` receives its progress (`xltlib.app.progress`). A batch runs in this process (or
`jobs` processes side by side), or through a `RunExecutor` elsewhere (`xltlib.app.cluster`: SLURM jobs), where each
run is the same `execute_plan` call, so the same guarantees hold.
"""
from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Protocol

import nbformat
import yaml

from ..core.atomic import atomic_write_json, read_json_record as read_json
from ..core.config import load_params_file, resolve_data_files
from ..core.errors import ConfigError, XltError
from ..core.paths import outputs_dir, project_root
from ..core.progress import PROGRESS_FILE, format_seconds
from ..core.yaml_numbers import load_yaml
from .preflight import check_world_cache, check_writable_dir
from .progress import eta_line

# Set in this process before a kernel starts, so every kernel inherits them (the user's values win).
KERNEL_ENV_DEFAULTS = {
    "OMP_NUM_THREADS": "1",  # an unbounded OpenMP pool on a shared 2-core machine is many times slower
    "OMP_WAIT_POLICY": "PASSIVE",
    "TOKENIZERS_PARALLELISM": "false",
    # No MPLBACKEND: kernels use the inline backend, which is what puts figures into executed notebooks.
}
# Where a rerun of a finished run works until it has finished (inside the run directory, under its lock).
ATTEMPT_DIR = ".attempt"


@dataclass
class RunOutcome:
    notebook: Path
    run_name: str
    run_dir: Path
    status: str  # "finished", "skipped", "failed" or "busy" (another runner held the run directory)
    seconds: float | None = None
    error: str | None = None
    key: str | None = None
    note: str | None = None  # why a run was skipped or not run

    @property
    def ok(self) -> bool:
        return self.status not in ("failed", "busy")

    @property
    def path(self) -> Path:
        """The executed notebook of this run (the failed one if it failed)."""
        stem = self.notebook.stem
        return self.run_dir / (f"{stem}.failed.ipynb" if self.status == "failed" else f"{stem}.ipynb")


@dataclass
class RunPlan:
    """A validated run: what `run_notebook` checks before it starts a kernel."""

    notebook: Path
    params: dict  # explicit parameters (file + overrides), without output_dir
    run_name: str
    run_dir: Path
    key: str
    params_file: Path | None = None
    world: str = "embedded"  # the run's `world` parameter: "real" runs use hub models and data


# ---------------------------------------------------------------------------------------------- planning

def resolve_notebook(spec: str | Path) -> Path:
    """A notebook path (relative to the working directory or the project root) or a stem in notebooks/."""
    path = _existing(spec)
    if path is None and Path(spec).suffix == "" and len(Path(spec).parts) == 1:
        path = _existing(project_root() / "notebooks" / f"{spec}.ipynb")
    if path is None or not path.is_file():
        known = sorted(p.stem for p in (project_root() / "notebooks").glob("*.ipynb"))
        raise ConfigError(
            f"notebook {str(spec)!r} not found (as a path, or as a stem in {project_root() / 'notebooks'}); "
            f"known notebooks: {', '.join(known) or '(none)'}"
        )
    return path


def parse_overrides(pairs: Iterable[tuple[str, str]] | None) -> dict:
    """`-p KEY VALUE` pairs as a dict; each VALUE is read as YAML, so `3`, `1e-5`, `[en, de]` keep their type."""
    overrides = {}
    for key, text in pairs or ():
        try:
            overrides[key] = load_yaml(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"-p {key} {text!r}: value is not valid YAML ({getattr(e, 'problem', e)})") from None
    return overrides


def plan_run(notebook_path, params_file=None, overrides: Mapping | None = None, name: str | None = None) -> RunPlan:
    """Load and check a run's parameters against the notebook; raises ConfigError before anything runs."""
    import papermill

    notebook = resolve_notebook(notebook_path)
    params_file = Path(params_file) if params_file is not None else None
    params = load_params_file(params_file) if params_file is not None else {}
    overrides = dict(overrides or {})
    if "data_files" in overrides:  # paths on the command line are the working directory's, as a shell's are
        overrides["data_files"] = resolve_data_files(overrides["data_files"], Path.cwd())
    if "output_dir" in params:
        raise ConfigError(
            f"{params_file}: sets 'output_dir', which the runner chooses (outputs/{notebook.stem}/<run name>/); "
            f"remove it, and use --name to choose the run directory"
        )
    if "output_dir" in overrides:
        raise ConfigError("-p output_dir: the runner chooses output_dir; use --name to choose the run directory")

    try:
        allowed = papermill.inspect_notebook(str(notebook))
    except Exception as e:  # unreadable JSON, no kernel language in the metadata...
        raise ConfigError(f"{notebook}: cannot read the notebook's parameters: {type(e).__name__}: {e}") from None
    if "output_dir" not in allowed:
        raise ConfigError(f"{notebook}: its cell tagged 'parameters' must define `output_dir = None`")
    for source, mapping in ((str(params_file), params), ("-p", overrides)):
        for key in mapping:
            if key not in allowed:
                where = f"{source}: unknown parameter {key!r}" if source != "-p" else f"-p {key}: unknown parameter"
                raise ConfigError(
                    f"{where} for notebook {notebook.name}; allowed parameters: "
                    f"{', '.join(k for k in allowed if k != 'output_dir')}"
                )
    params.update(overrides)
    check_run_config(notebook, allowed, params)

    run_name = name or (params_file.stem if params_file is not None else "default")
    if run_name in (".", "..") or "/" in run_name or os.sep in run_name or run_name.startswith("."):
        raise ConfigError(f"run name {run_name!r} must be a plain directory name (no '/', not starting with '.')")
    run_dir = outputs_dir() / notebook.stem / run_name
    check_writable_dir(run_dir, "the run directory")
    world = params.get("world", _literal_default(allowed, "world", "embedded"))
    if world == "embedded":
        check_world_cache(params.get("world_preset", _literal_default(allowed, "world_preset", "default")))
    key = run_key(notebook, params)
    return RunPlan(notebook, params, run_name, run_dir, key, params_file, world)


def _literal_default(allowed: Mapping, key: str, fallback):
    try:
        return ast.literal_eval(allowed[key]["default"])
    except (KeyError, ValueError, SyntaxError):
        return fallback


def check_run_config(notebook: Path, allowed: Mapping, params: Mapping) -> RunConfig | None:
    """The notebook's RunConfig (its parameters cell's defaults under `params`) through the checks `run_experiment`
    makes before anything loads (`plan`, then each schedule method's stages: `plan_methods`), so a bad task, method,
    option, schedule or combination is the same error before a kernel starts; returned. Defaults that are not
    literals are left to the notebook's own check (None)."""
    import dataclasses

    from ..core.config import RunConfig
    from ..run.experiment import plan_methods
    from ..run.plan import plan

    fields = {f.name for f in dataclasses.fields(RunConfig)}
    values = {}
    for key, info in allowed.items():
        if key in fields:
            try:
                values[key] = ast.literal_eval(info["default"])
            except (ValueError, SyntaxError):
                return None
    values.update({k: v for k, v in params.items() if k in fields})
    try:
        cfg = RunConfig.from_params(values, f"{notebook.name} parameters")
        plan_methods(plan(cfg), cfg.methods, planned_world(cfg))
    except ConfigError as e:
        raise type(e)(f"{notebook.name}: {e}") from None
    return cfg


def planned_world(cfg: RunConfig):
    """The embedded world `cfg` will open, at its cache folder, built or not: what a schedule's check reads of it
    (its languages and file names) needs no build, so nothing is built or read. None on the real path."""
    if cfg.world != "embedded":
        return None
    from ..world.build import World, world_dir
    from ..world.presets import PRESETS, with_seed

    preset = with_seed(PRESETS[cfg.world_preset], cfg.world_seed)
    return World(preset, world_dir(preset))


def run_key(notebook: Path, params: Mapping) -> str:
    """sha256 over the notebook's file name, its parameters-cell source, the explicit parameters and the embedded
    world's generator version (a new world makes every run new; a cached world is rebuilt on its own).

    The defaults are covered by the parameters cell's text; other cells are not, so after editing a
    notebook's code rerun with --force."""
    from ..world.build import GENERATOR_VERSION

    payload = json.dumps(
        [notebook.name, parameters_cell_source(notebook), sorted(params.items()), GENERATOR_VERSION],
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def parameters_cell_source(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell.source
    return ""


# ---------------------------------------------------------------------------------------------- running

def run_notebook(notebook_path, params_file=None, overrides: Mapping | None = None, name: str | None = None,
                 force: bool = False, echo=None) -> RunOutcome:
    """Run one notebook with papermill into outputs/<stem>/<run name>/ (see the module docstring).

    Parameter errors raise ConfigError before a kernel starts; a failure inside the notebook is returned
    as an outcome with status "failed". `echo(line)`, if given, receives the progress lines."""
    return execute_plan(plan_run(notebook_path, params_file, overrides, name), force=force, echo=echo)


def execute_plan(plan: RunPlan, force: bool = False, echo=None) -> RunOutcome:
    """Run `plan` (see the module docstring); raises RunDirBusy if another runner holds its run directory."""
    stem, run_dir = plan.notebook.stem, plan.run_dir
    check_writable_dir(run_dir, "the run directory")  # checked when planned; the disk may have changed since
    run_dir.mkdir(parents=True, exist_ok=True)
    label = f"{stem}/{plan.run_name}"
    with run_dir_lock(run_dir):
        previous = read_json(run_dir / "run.json")
        had_finished = previous.get("status") == "finished"
        if had_finished and previous.get("key") == plan.key and not force:
            return RunOutcome(plan.notebook, plan.run_name, run_dir, "skipped", key=plan.key)
        # A finished run is never written into: the new attempt works in a folder of its own, which replaces
        # the finished run's files only once it has finished. A folder left by a killed attempt is discarded.
        if (run_dir / ATTEMPT_DIR).exists():
            shutil.rmtree(run_dir / ATTEMPT_DIR)
        attempt = run_dir / ATTEMPT_DIR if had_finished else run_dir
        attempt.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            (attempt / PROGRESS_FILE).unlink()

        for var, value in KERNEL_ENV_DEFAULTS.items():
            os.environ.setdefault(var, value)
        partial = attempt / f"{stem}.partial.ipynb"
        started, t0 = _now(), time.monotonic()
        record = {"status": "running", **_run_record(plan), "started": started}  # never written as running
        if echo is not None:
            source = display_path(plan.params_file) if plan.params_file else "defaults"
            echo(f"[{label}] started ({source}) in {display_path(run_dir)}")
        try:
            _execute(plan, attempt, partial, label, echo)
        except BaseException as e:  # recorded, then re-raised unless it is an ordinary failure
            seconds = round(time.monotonic() - t0, 3)
            message = _error_message(e)
            record.update(status="failed", error=message, finished=_now(), seconds=seconds)
            _keep_failure(plan, attempt, had_finished, record)
            if echo is not None:
                echo(f"[{label}] failed after {format_seconds(seconds)}: {message}")
            if not isinstance(e, Exception):
                raise
            return RunOutcome(plan.notebook, plan.run_name, run_dir, "failed", seconds, message, plan.key)

        seconds = round(time.monotonic() - t0, 3)
        _relative_papermill_paths(partial, run_dir / f"{stem}.ipynb")
        os.replace(partial, attempt / f"{stem}.ipynb")
        record.update(status="finished", finished=_now(), seconds=seconds)
        if had_finished:
            _replace_finished(attempt, run_dir)
        atomic_write_json(run_dir / "run.json", record)
        if echo is not None:
            echo(f"[{label}] finished in {format_seconds(seconds)}")
        return RunOutcome(plan.notebook, plan.run_name, run_dir, "finished", seconds, key=plan.key)


def record_lost_attempt(plan: RunPlan, error: str) -> None:
    """After the process that ran `plan` died without recording how its attempt ended (a killed cluster job):
    keep its notebook as the failed one and record `error`, as `execute_plan` does for a failure. Nothing is done
    when no attempt is left unrecorded, or when another runner holds the run directory."""
    stem, run_dir = plan.notebook.stem, plan.run_dir
    if not run_dir.is_dir():  # the job ended before it made the run directory
        return
    try:
        with run_dir_lock(run_dir):
            had_finished = read_json(run_dir / "run.json").get("status") == "finished"
            attempt = run_dir / ATTEMPT_DIR if had_finished else run_dir
            if not (attempt / f"{stem}.partial.ipynb").exists():  # no kernel started, or its end was recorded
                return
            _keep_failure(plan, attempt, had_finished, {"status": "failed", **_run_record(plan), "error": error,
                                                        "finished": _now()})
    except RunDirBusy:  # another runner has started on it since; that runner records its own attempt
        return


def _run_record(plan: RunPlan) -> dict:
    return {
        "key": plan.key,
        "notebook": display_path(plan.notebook),
        "params_file": display_path(plan.params_file) if plan.params_file else None,
        "params": plan.params,
    }


def _keep_failure(plan: RunPlan, attempt: Path, had_finished: bool, record: dict) -> None:
    """A failed attempt: beside a finished run, under `.failed` names (the finished run untouched); else its
    notebook becomes <stem>.failed.ipynb and run.json records the failure."""
    stem, run_dir = plan.notebook.stem, plan.run_dir
    if had_finished:
        _keep_failed_attempt(attempt, run_dir, stem)
        atomic_write_json(run_dir / "run.failed.json", record)
    else:
        partial = attempt / f"{stem}.partial.ipynb"
        if partial.exists():
            os.replace(partial, run_dir / f"{stem}.failed.ipynb")
        atomic_write_json(run_dir / "run.json", record)


def _execute(plan: RunPlan, attempt: Path, partial: Path, label: str, echo) -> None:
    """papermill, with output_dir relative to the project root (the kernel's working directory), so the executed
    notebook does not carry this machine's paths; progress echoed while it runs."""
    import papermill

    from .progress import ENGINE, cell_line, echoing

    on_cell = (lambda n, total, cell: echo(cell_line(label, n, total, cell))) if echo is not None else None
    with echoing(attempt / PROGRESS_FILE, label, echo):
        papermill.execute_notebook(
            str(plan.notebook), str(partial),
            parameters={**plan.params, "output_dir": display_path(attempt)},
            cwd=str(project_root()), kernel_name="python3", progress_bar=False, log_output=False,
            engine_name=ENGINE, on_cell=on_cell,
            # The kernel's own log says nothing a user can act on: a warning that the transport to this local
            # kernel is plain TCP, and an error when jupyter_client's shutdown interrupt lands in a message
            # handler. A cell's errors reach the notebook (and the outcome) through papermill, not this log.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )


def expand_batch(paths: Iterable, defaults: bool = False) -> list[RunPlan]:
    """Plans for `batch`, all checked before anything runs (errors for every bad file are reported at once).

    Without `defaults`: params files, or directories params/<stem>/ (their *.yaml, sorted); the notebook is
    notebooks/<stem>.ipynb, <stem> being the file's directory name. With `defaults`: notebooks, or
    directories of notebooks, each run with its own defaults under the run name "default"."""
    jobs: list[tuple[Path, Path | None]] = []
    for item in paths:
        path = _existing(item)
        if path is None:
            raise ConfigError(f"{item}: no such file or directory (nor under {project_root()})")
        if defaults:
            notebooks = sorted(path.glob("*.ipynb")) if path.is_dir() else [path]
            if not notebooks:
                raise ConfigError(f"{path}: directory has no *.ipynb notebooks")
            jobs.extend((nb, None) for nb in notebooks)
        else:
            files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
            if not files:
                raise ConfigError(f"{path}: directory has no *.yaml parameter files")
            for f in files:
                notebook = project_root() / "notebooks" / f"{f.parent.name}.ipynb"
                if not notebook.is_file():
                    raise ConfigError(
                        f"{f}: parameter files live in params/<notebook stem>/, but there is no notebook "
                        f"{notebook} for directory {f.parent.name!r}"
                    )
                jobs.append((notebook, f))
    plans, errors = [], []
    for notebook, params_file in jobs:
        try:
            plans.append(plan_run(notebook, params_file))
        except XltError as e:
            errors.append(str(e))
    if errors:
        raise ConfigError("\n".join(errors))
    return plans


class RunExecutor(Protocol):
    """Runs a batch's runs somewhere other than this process (`xltlib.app.cluster.SubmititExecutor`)."""

    parallelism: int  # runs at a time, for the batch's estimate of the time left

    def run(self, plans: list[RunPlan], force: bool, echo) -> Iterator[tuple[int, RunOutcome]]:
        """Run each plan as `execute_or_busy` would; yield (index into `plans`, outcome) as each one ends."""
        ...


def batch(paths: Iterable, force: bool = False, defaults: bool = False, jobs: int = 1, real: bool = False,
          echo=None, executor: RunExecutor | None = None) -> list[RunOutcome]:
    """Run every params file (or, with `defaults`, every notebook), `jobs` at a time, each in a process of its
    own with a single-threaded kernel (on this project's 2-core machine two side by side each ran about 1.6x
    slower than alone, and the three notebooks took 31% less wall time); a failure does not stop the others,
    nor does a run directory that another runner holds (that run is reported "busy"). Params files for the real
    path (`world: real`: hub models and data, a GPU) are reported "skipped" unless `real`. Returns one outcome
    per run, in order. A run listed twice runs once, the second time skipped. `echo` receives progress lines,
    and after each run that finished an estimate of the time left. With an `executor`, the runs that are not
    finished yet run through it instead (all plans are checked, and finished runs skipped, here first)."""
    plans = expand_batch(paths, defaults=defaults)
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs!r}")
    outcomes: dict[int, RunOutcome] = {}
    first = {}  # run directory -> the index of the plan that runs it
    for i, plan in enumerate(plans):
        if plan.world == "real" and not real:
            outcomes[i] = RunOutcome(plan.notebook, plan.run_name, plan.run_dir, "skipped", key=plan.key,
                                     note="world: real (hub models and data, for a GPU); pass --real to run it")
        else:
            first.setdefault(plan.run_dir, i)
    to_run = [i for i in first.values() if not _finished_already(plans[i], force)]
    eta = _Eta(len(to_run), min(executor.parallelism if executor else jobs, max(len(to_run), 1)), echo)
    if executor is not None and to_run:
        for position, outcome in executor.run([plans[i] for i in to_run], force, echo):
            outcomes[to_run[position]] = eta.update(outcome)
    elif jobs > 1 and len(first) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no forked kernel state
        with ProcessPoolExecutor(max_workers=min(jobs, len(first)), mp_context=context) as pool:
            futures = {pool.submit(execute_or_busy, plans[i], force, echo): i for i in first.values()}
            for future in as_completed(futures):
                outcomes[futures[future]] = eta.update(future.result())
    for i, plan in enumerate(plans):  # sequential runs, and repeats (skipped: their run just finished)
        if i in outcomes:
            continue
        if executor is not None and not _finished_already(plan, False):
            # A repeat of a run that did not finish there: running it here would start a kernel on this machine.
            outcomes[i] = RunOutcome(plan.notebook, plan.run_name, plan.run_dir, "skipped", key=plan.key,
                                     note="listed twice; not run again after its first run above")
        else:
            outcomes[i] = eta.update(execute_or_busy(plan, force and first[plan.run_dir] == i, echo))
    return [outcomes[i] for i in range(len(plans))]


def execute_or_busy(plan: RunPlan, force: bool = False, echo=None) -> RunOutcome:
    """`execute_plan`, with a run directory held by another runner reported as a "busy" outcome."""
    try:
        return execute_plan(plan, force=force, echo=echo)
    except RunDirBusy as e:
        return RunOutcome(plan.notebook, plan.run_name, plan.run_dir, "busy", key=plan.key,
                          note=f"{e}; not run (run it again when that one has ended)")


def _finished_already(plan: RunPlan, force: bool) -> bool:
    previous = read_json(plan.run_dir / "run.json")
    return not force and previous.get("status") == "finished" and previous.get("key") == plan.key


class _Eta:
    """Counts a batch's runs as they end and echoes the time left, from the mean time of those that ran."""

    def __init__(self, total: int, jobs: int, echo):
        self.total, self.jobs, self.echo, self.done, self.durations = total, jobs, echo, 0, []

    def update(self, outcome: RunOutcome) -> RunOutcome:
        if outcome.status in ("finished", "failed"):
            self.done += 1
            if outcome.status == "finished" and outcome.seconds is not None:
                self.durations.append(outcome.seconds)
            line = eta_line(self.done, self.total, self.durations, self.jobs)
            if line and self.echo is not None:
                self.echo(line)
        return outcome


def format_outcomes(outcomes: list[RunOutcome]) -> str:
    """A plain-text table: notebook, run, status, seconds, path."""
    rows = [("notebook", "run", "status", "seconds", "path")]
    for o in outcomes:
        seconds = "" if o.seconds is None else f"{o.seconds:.1f}"
        rows.append((o.notebook.stem, o.run_name, o.status, seconds, display_path(o.path)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    for o in outcomes:
        if o.error:
            lines.append(f"\n{o.notebook.stem}/{o.run_name} failed: {o.error}")
        elif o.note:
            lines.append(f"\n{o.notebook.stem}/{o.run_name} {o.status}: {o.note}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- helpers

class RunDirBusy(XltError):
    """Another runner holds a run directory's lock."""


@contextlib.contextmanager
def run_dir_lock(run_dir: Path):
    """One runner per run directory at a time; the OS drops the lock if the process dies."""
    with open(run_dir / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirBusy(f"{display_path(run_dir)}: another xlt run is using this run directory") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _keep_failed_attempt(attempt: Path, run_dir: Path, stem: str) -> None:
    """Move what a failed rerun wrote beside the finished run under `.failed` names (metrics.failed.csv,
    predictions.failed/, <stem>.failed.ipynb), replacing an earlier failure's; the finished run is untouched."""
    partial = attempt / f"{stem}.partial.ipynb"
    if partial.exists():
        os.replace(partial, attempt / f"{stem}.ipynb")
    for entry in sorted(attempt.iterdir()):
        _move_over(entry, run_dir / _failed_name(entry.name))
    attempt.rmdir()


def _replace_finished(attempt: Path, run_dir: Path) -> None:
    """A rerun finished: its files replace the finished run's, entry by entry. run.json goes first, so a process
    killed half way leaves a directory that is not marked finished and is run again."""
    with contextlib.suppress(FileNotFoundError):
        (run_dir / "run.json").unlink()
    for entry in sorted(attempt.iterdir()):
        _move_over(entry, run_dir / entry.name)
    attempt.rmdir()


def _move_over(source: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    os.replace(source, target)


def _relative_papermill_paths(notebook: Path, final: Path) -> None:
    """papermill records the input and output paths in the executed notebook's metadata: make them relative to
    the project root, and name the notebook's final place, so an executed notebook carries no machine paths."""
    nb = nbformat.read(notebook, as_version=4)
    meta = nb.metadata.get("papermill")
    if meta is None:
        return
    meta["input_path"] = display_path(Path(meta["input_path"])) if meta.get("input_path") else None
    meta["output_path"] = display_path(final)
    nbformat.write(nb, notebook)


def _failed_name(name: str) -> str:
    p = Path(name)
    return f"{p.stem}.failed{p.suffix}"


def _existing(spec) -> Path | None:
    """`spec` as given (relative to the working directory) if it exists, else relative to the project root."""
    path = Path(spec).expanduser()
    if path.exists():
        return path.resolve()
    if not path.is_absolute() and (project_root() / path).exists():
        return (project_root() / path).resolve()
    return None


def _error_message(e: BaseException) -> str:
    ename, evalue = getattr(e, "ename", None), getattr(e, "evalue", None)
    if ename is not None:  # papermill.PapermillExecutionError: the notebook's own exception
        return f"{ename}: {evalue} (cell In [{getattr(e, 'exec_count', '?')}])"
    return f"{type(e).__name__}: {e}"


def display_path(path: Path | None) -> str | None:
    """`path` relative to the project root where it lies under it (what run records and messages show)."""
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
