"""What a notebook's first code cell calls: `cfg, run_dir, world = setup(globals(), "<notebook>")` reads the
parameters cell into a RunConfig, checks the whole plan (names, options, task/method combinations) before the
world is built or anything loads, builds or opens the embedded world when the run uses it, and names the run
directory under outputs/.

Run interactively (not by `xlt run`, so no `output_dir`) with the notebook's default parameters, it reads the
finished default run (outputs/<notebook>/default, what `xlt run <notebook>` wrote) instead of starting a new one
in outputs/<notebook>/interactive. Under the runner the run directory is relative to the project root (the
kernel's working directory), so the executed notebook prints no machine paths.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

from ..core.config import RunConfig
from ..core.paths import outputs_dir, project_root
from ..core.progress import ProgressLog
from ..report.results import run_dir_for
from ..run.plan import plan
from .preflight import build_notice, check_world_cache, world_is_built


class Session(NamedTuple):
    cfg: RunConfig
    run_dir: Path
    world: object  # the embedded world, or None on the real path


def load_world(cfg: RunConfig, progress: ProgressLog | None = None):
    """The embedded world (built on first use, with a notice first), or None on the real path."""
    if cfg.world != "embedded":
        return None
    from ..world.build import get_world
    from ..world.presets import PRESETS, with_seed

    check_world_cache(cfg.world_preset, seed=cfg.world_seed)  # an unknown preset or an unwritable cache, before any build
    preset = with_seed(PRESETS[cfg.world_preset], cfg.world_seed)
    if not world_is_built(preset):
        print(build_notice(preset.name), flush=True)
        if progress is not None:
            progress.write(build_notice(preset.name))
    return get_world(preset)


def setup(namespace: dict, notebook: str) -> Session:
    cfg = RunConfig.from_namespace(namespace)
    from ..run.experiment import plan_methods
    from .runner import planned_world

    # run_experiment's own checks (schedule methods' stages too), before the world is built or anything loads
    plan_methods(plan(cfg), cfg.methods, planned_world(cfg))
    output_dir = namespace.get("output_dir")
    if output_dir in (None, "") and uses_defaults(namespace, notebook):
        finished = finished_default_run(notebook)
        if finished is not None:
            print(f"default parameters: reading the finished run {_shown(finished)} (written by `xlt run "
                  f"{notebook}`); change a parameter to start a new run in outputs/{notebook}/interactive")
            output_dir = finished
    run_dir = _shown(run_dir_for(notebook, output_dir))
    return Session(cfg, run_dir, load_world(cfg, ProgressLog(run_dir)))


def uses_defaults(namespace: dict, notebook: str) -> bool:
    """Whether every parameter in `namespace` has the value of the notebook file's parameters cell."""
    import papermill

    path = project_root() / "notebooks" / f"{notebook}.ipynb"
    if not path.is_file():
        return False
    for key, info in papermill.inspect_notebook(str(path)).items():
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            return False  # a default that is not a literal: cannot tell
        if namespace.get(key, default) != default:
            return False
    return True


def finished_default_run(notebook: str) -> Path | None:
    """outputs/<notebook>/default if it holds a finished run of the notebook's current defaults."""
    from ..core.atomic import read_json_record as read_json
    from .runner import run_key

    run_dir = outputs_dir() / notebook / "default"
    record = read_json(run_dir / "run.json")
    path = project_root() / "notebooks" / f"{notebook}.ipynb"
    if record.get("status") != "finished" or record.get("params") or not path.is_file():
        return None
    return run_dir if record.get("key") == run_key(path, {}) else None


def _shown(path: Path) -> Path:
    """`path` relative to the project root when that is the working directory (so it is valid as it stands)."""
    path = Path(path)
    if Path.cwd().resolve() == project_root():
        try:
            return path.resolve().relative_to(project_root())
        except ValueError:
            pass
    return path
