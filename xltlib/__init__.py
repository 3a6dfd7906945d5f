"""xltlib: the library behind the xlt-companion notebooks (zero-shot cross-lingual transfer), in layers (pyproject's
[tool.importlinter]): app > report | world > run > robustness > methods > tasks > core. Each package may import
only the packages below it; this file imports nothing of xltlib, so importing any module loads only its layers.
"""
import os

# Before torch loads: on a shared 2-core machine an unbounded OpenMP pool makes steps many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
