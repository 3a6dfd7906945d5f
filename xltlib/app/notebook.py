"""What a notebook's first code cell calls: `cfg, run_dir, world = setup(globals(), "<notebook>")` reads the
parameters cell into a RunConfig, checks the whole plan (names, options, task/method combinations) before the
world is built or anything loads, builds or opens the embedded world when the run uses it, and names the run
directory under outputs/.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..core.config import RunConfig
from ..report.results import run_dir_for
from ..run.plan import plan


class Session(NamedTuple):
    cfg: RunConfig
    run_dir: Path
    world: object  # the embedded world, or None on the real path


def load_world(cfg: RunConfig):
    """The embedded world (built on first use), or None on the real path."""
    if cfg.world != "embedded":
        return None
    from ..world.build import get_world
    from ..world.presets import PRESETS

    PRESETS[cfg.world_preset]  # an unknown preset is an error listing the known ones, before any build
    return get_world(cfg.world_preset)


def setup(namespace: dict, notebook: str) -> Session:
    cfg = RunConfig.from_namespace(namespace)
    plan(cfg)
    return Session(cfg, run_dir_for(notebook, cfg.output_dir), load_world(cfg))
