"""Every benchmark still imports: `make bench` runs them on demand only, so a library refactor that moves what they
import would otherwise go unnoticed (session 5's refactor broke three of them this way). Each module is loaded
in-process, as `python benchmarks/<name>.py` would load it, without running its main()."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_imports(script):
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)  # its imports resolve; main() runs only under __main__
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"
