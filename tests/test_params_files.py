"""Every parameter file under params/ is a valid run of its notebook: its keys are parameters of the notebook
(checked as `xlt run` checks them) and, over the notebook's defaults, it builds a valid RunConfig (task,
method, attack and smoothing names and options), without a kernel, a model or the network."""
from pathlib import Path

import nbformat
import pytest

from xltlib.app.runner import plan_run
from xltlib.core.config import RunConfig, load_params_file
from xltlib.run.plan import plan
from xltlib.world.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILES = sorted((ROOT / "params").glob("*/*.yaml"))
def notebook_defaults(notebook: Path) -> dict:
    """The values the notebook's `parameters` cell assigns (literals only, so it runs without imports)."""
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells
                if "parameters" in c.get("metadata", {}).get("tags", []))
    namespace: dict = {}
    exec(cell.source, {}, namespace)
    return namespace


@pytest.mark.parametrize("params_file", PARAMS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_params_file_is_a_valid_run_of_its_notebook(params_file):
    notebook = ROOT / "notebooks" / f"{params_file.parent.name}.ipynb"
    plan_run(notebook, params_file)  # unknown keys are errors here
    values = {**notebook_defaults(notebook), **load_params_file(params_file)}
    cfg = RunConfig.from_namespace(values)
    plan(cfg)  # names and options: checked by the plan, as a notebook's setup checks them
    if cfg.world == "embedded":
        PRESETS[cfg.world_preset]  # and the world preset, as setup checks it before building the world
    if "methods" in values:  # a notebook that trains (not 10_tables, which reads the others' results)
        assert set(cfg.methods) <= set(values["methods"])


def test_the_robust_training_notebook_has_its_real_path_files():
    names = {p.name for p in PARAMS_FILES if p.parent.name == "02_robust_training"}
    for model, task, method in [("mbert", t, m) for t in ("xnli", "pawsx") for m in ("rsda", "at", "rsrp")] + [
            ("xlmr-base", "xnli", "rsda"), ("xlmr-large", "pawsx", "rsda")]:
        assert f"{model}-{task}-{method}.yaml" in names
    assert "smoke.yaml" in names


def test_real_path_rs_da_files_pin_the_counterfitted_neighbours():
    from xltlib.methods.neighbors import COUNTERFITTED_SHA256, COUNTERFITTED_URL

    for path in (ROOT / "params" / "02_robust_training").glob("*rsda.yaml"):
        options = load_params_file(path)["method_options"]["rs_da"]
        assert options["neighbors"] == COUNTERFITTED_URL and options["neighbors_sha256"] == COUNTERFITTED_SHA256, path


@pytest.mark.parametrize("params_file", [p for p in PARAMS_FILES if load_params_file(p).get("world") == "real"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_path_files_evaluate_whole_test_sets(params_file):
    """The notebooks' defaults cap evaluation to fit the embedded world's CPU budget; the paper numbers need
    every test example, so a real-path file must lift each cap it would otherwise inherit."""
    notebook = ROOT / "notebooks" / f"{params_file.parent.name}.ipynb"
    cfg = RunConfig.from_namespace({**notebook_defaults(notebook), **load_params_file(params_file)})
    assert cfg.max_eval_samples is None and cfg.max_generalized_samples is None
    assert cfg.max_train_samples is None and all(o.get("max_train_samples") is None for o in cfg.task_overrides.values())
