"""Where things live: the project root (so notebooks run from any working directory) and outputs/."""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout this package was installed from (editable), else the working directory.

    XLT_PROJECT_ROOT overrides both, for tests that run the library against a scratch tree."""
    if os.environ.get("XLT_PROJECT_ROOT"):
        return Path(os.environ["XLT_PROJECT_ROOT"]).resolve()
    here = Path(__file__).resolve().parents[2]  # xltlib/core/paths.py -> the checkout
    if (here / "pyproject.toml").is_file() and (here / "notebooks").is_dir():
        return here
    return Path.cwd().resolve()


def outputs_dir() -> Path:
    return project_root() / "outputs"


def world_cache_dir() -> Path:
    # An empty XLT_WORLD_CACHE counts as unset: Path("") would put the world in the working directory.
    return Path(os.environ.get("XLT_WORLD_CACHE") or outputs_dir() / "world")
