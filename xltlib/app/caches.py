"""Every cache inside the project's `.cache/`, as the Makefile sets it, also when `xlt` is run directly: the
Hugging Face hub and datasets, matplotlib, IPython and Jupyter would otherwise write under $HOME. Variables the
user has set are kept. Kernels started by the runner inherit them."""
from __future__ import annotations

import os

from ..core.paths import project_root

# Variable -> folder under <project>/.cache (the Makefile's list; tests/test_packaging.py checks they agree).
CACHE_DIRS = {
    "HF_HOME": "huggingface",
    "MPLCONFIGDIR": "matplotlib",
    "IPYTHONDIR": "ipython",
    "JUPYTER_CONFIG_DIR": "jupyter/config",
    "JUPYTER_DATA_DIR": "jupyter/data",
    "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
}


def use_project_caches() -> None:
    cache = project_root() / ".cache"
    for var, folder in CACHE_DIRS.items():
        if not os.environ.get(var):
            os.environ[var] = str(cache / folder)
