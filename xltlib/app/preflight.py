"""Checks made before a kernel starts or a world is built, so that a folder that cannot be written is a one-line
error naming it instead of a traceback minutes into a run; and the notice printed before the embedded world is
built (it is built once per preset, then read from its cache)."""
from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import ConfigError
from ..core.paths import world_cache_dir

# Measured on this project's 2-core machine (README: notebook 01's first run includes the default world's build).
BUILD_TIME = {"default": "about 2 minutes", "tiny": "under a minute"}


def check_writable_dir(path: Path, what: str) -> None:
    """Raise ConfigError unless `path` is, or can be created as, a directory this process can write to.

    Nothing is created. Also true of root, for whom os.access allows everything: a path under a regular file."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{path}: cannot create {what}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: cannot write {what}: {existing} is read-only")


def world_is_built(preset) -> bool:
    """Whether the world of `preset` (a name or a WorldPreset) is in the cache."""
    from ..world.build import world_dir

    return (world_dir(preset) / "world.json").is_file()


def check_world_cache(preset: str, rebuild: bool = False, seed: int | None = None) -> None:
    """A world to build needs a writable cache (outputs/world, or XLT_WORLD_CACHE); a built one is only read."""
    from ..world.presets import PRESETS, with_seed

    known = PRESETS[preset]  # an unknown preset is an error listing the known ones
    if rebuild or not world_is_built(with_seed(known, seed)):
        where = "XLT_WORLD_CACHE" if os.environ.get("XLT_WORLD_CACHE") else "the world cache"
        check_writable_dir(world_cache_dir(), f"the embedded world's cache ({where}) to build world {preset!r}")


def build_notice(preset: str) -> str:
    return f"building the embedded world {preset!r} (once, {BUILD_TIME.get(preset, 'a few minutes')})"
