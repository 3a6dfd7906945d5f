"""The package's layers hold: every module imports on its own (without another xltlib module having been imported
first), `lint-imports` keeps pyproject's contracts, and every package says in its docstring what it may import.
"""
import ast
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xltlib"
TOP_LEVEL = ("core", "tasks", "methods", "robustness", "run", "report", "world", "app")


def modules_of(path: Path, prefix: str) -> list[str]:
    """Every module and package under `path`, found without importing any of them."""
    names = []
    for info in pkgutil.iter_modules([str(path)], prefix):
        names.append(info.name)
        if info.ispkg:
            names += modules_of(path / info.name.rsplit(".", 1)[-1], info.name + ".")
    return names


ALL_MODULES = ["xltlib"] + modules_of(PACKAGE, "xltlib.")

# Imports each module given in argv after dropping every xltlib module from sys.modules, and prints {module:
# traceback} for those that fail. A first pass imports them all once, so the third-party libraries they use (torch,
# transformers, pandas...) are loaded once and stay loaded; then bytecode goes to a scratch folder (argv[1]) so the
# xltlib modules imported again and again are compiled once, even where PYTHONDONTWRITEBYTECODE is set, and nothing
# is written into the checkout.
_IMPORT_EACH = textwrap.dedent("""
    import importlib, json, sys, traceback
    prefix, names = sys.argv[1], sys.argv[2:]

    def drop_xltlib():
        for loaded in [m for m in sys.modules if m == "xltlib" or m.startswith("xltlib.")]:
            del sys.modules[loaded]

    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:
            pass  # reported by the isolated pass below
    sys.pycache_prefix, sys.dont_write_bytecode = prefix, False
    failures = {}
    for name in names:
        drop_xltlib()
        try:
            importlib.import_module(name)
        except BaseException:
            failures[name] = traceback.format_exc(limit=-4)
    print("FAILURES=" + json.dumps(failures))
""")


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def test_module_discovery_finds_every_package():
    found = {name.split(".")[1] for name in ALL_MODULES if name.count(".") >= 1}
    assert set(TOP_LEVEL) <= found, sorted(found)
    assert set(found) <= set(TOP_LEVEL), f"a top-level package the layers do not name: {sorted(found - set(TOP_LEVEL))}"
    assert len(ALL_MODULES) > 50
    assert "xltlib.tasks.handlers.span_qa" in ALL_MODULES and "xltlib.world.tasks.pairs" in ALL_MODULES


def test_every_module_imports_on_its_own(tmp_path):
    """One interpreter (torch and transformers load once), each module imported with no xltlib module loaded
    before it, so a module that only works after another one has been imported fails here."""
    proc = subprocess.run([sys.executable, "-c", _IMPORT_EACH, str(tmp_path / "pycache"), *ALL_MODULES],
                          capture_output=True, text=True,
                          env=_env(), cwd=ROOT, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FAILURES=")]
    assert proc.returncode == 0 and lines, f"rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    failures = json.loads(lines[-1][len("FAILURES="):])
    assert not failures, "\n\n".join(f"{name}:\n{tb}" for name, tb in failures.items())


def _lint_imports() -> str:
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports (import-linter, a dependency in pyproject.toml) is not installed")
    return found


def test_lint_imports_keeps_the_contracts():
    proc = subprocess.run([_lint_imports(), "--no-cache", "--no-logo"], capture_output=True, text=True, cwd=ROOT,
                          env=_env(), timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "0 broken" in output and "KEPT" in output, output


def _docstring(init: Path) -> str | None:
    return ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")), clean=True)


PACKAGE_INITS = sorted(p for p in PACKAGE.rglob("__init__.py") if "__pycache__" not in p.parts)


def test_the_package_inits_are_all_found():
    names = {str(p.parent.relative_to(ROOT)) for p in PACKAGE_INITS}
    assert {"xltlib", *(f"xltlib/{t}" for t in TOP_LEVEL), "xltlib/tasks/handlers"} <= names, sorted(names)


@pytest.mark.parametrize("init", PACKAGE_INITS, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_every_package_docstring_says_what_it_may_import(init):
    doc = _docstring(init)
    assert doc, f"{init} has no docstring"
    lines = [line for line in doc.strip().splitlines() if line.strip()]
    assert 2 <= len(lines) <= 5, f"{init}: a docstring of 2-5 lines, got {len(lines)}:\n{doc}"
    assert "import" in doc.lower(), f"{init}: the docstring should say what the package may import:\n{doc}"
