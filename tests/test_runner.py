"""xltlib.app.runner and the `xlt` command, against a scratch project with one tiny notebook.

Starting a kernel takes seconds, so only two tests execute notebooks (five executions in all); the
parameter checks all fail before a kernel starts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from xltlib.app import cli
from xltlib.app.runner import KERNEL_ENV_DEFAULTS, batch, run_notebook
from xltlib.core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent

# Writes its results before it (optionally) fails, so a failed rerun does overwrite metrics.csv and
# config.json, and the runner has to put the finished run's files back.
CELLS = [
    ("x = 1\nfail = False\noutput_dir = None", ["parameters"]),
    ("from xltlib.report.results import run_dir_for, save_run\n"
     "run_dir = run_dir_for('tiny', output_dir)\n"
     "save_run(run_dir, {'x': x, 'fail': fail}, [dict(task='xnli', lang='en', method='standard', seed=1,\n"
     "         split='test', metric='accuracy', value=float(x))])", []),
    ("if fail:\n    raise ValueError(f'asked to fail with x={x}')", []),
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project tree with notebooks/tiny.ipynb; kernels inherit XLT_PROJECT_ROOT pointing at it."""
    root = tmp_path / "proj"
    (root / "notebooks").mkdir(parents=True)
    (root / "params" / "tiny").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in CELLS]
    nbformat.write(nb, root / "notebooks" / "tiny.ipynb")
    monkeypatch.setenv("XLT_PROJECT_ROOT", str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    for var, value in KERNEL_ENV_DEFAULTS.items():  # the runner sets these; undo that after the test
        monkeypatch.setenv(var, os.environ.get(var, value))
    monkeypatch.chdir(tmp_path)
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------- no kernel

def test_unknown_key_names_file_key_and_allowed_parameters(project):
    params = write(project / "params" / "tiny" / "typo.yaml", "x: 2\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError) as e:
        run_notebook("tiny", params)
    msg = str(e.value)
    assert str(params) in msg and "'learning_rat'" in msg and "allowed parameters: x, fail" in msg
    with pytest.raises(ConfigError, match="-p y: unknown parameter for notebook tiny.ipynb"):
        run_notebook("tiny", overrides={"y": 1})
    assert not (project / "outputs").exists()


def test_params_file_may_not_set_output_dir(project):
    params = write(project / "params" / "tiny" / "elsewhere.yaml", "output_dir: /tmp/somewhere\n")
    with pytest.raises(ConfigError, match=f"{params}: sets 'output_dir'"):
        run_notebook(project / "notebooks" / "tiny.ipynb", params)
    with pytest.raises(ConfigError, match="-p output_dir"):
        run_notebook("tiny", overrides={"output_dir": "x"})


def test_params_file_without_matching_notebook_is_an_error(project):
    params = write(project / "params" / "no_such_notebook" / "a.yaml", "x: 1\n")
    with pytest.raises(ConfigError) as e:
        batch([params])
    assert str(params) in str(e.value) and str(project / "notebooks" / "no_such_notebook.ipynb") in str(e.value)


def test_unknown_notebook_lists_known_ones(project):
    with pytest.raises(ConfigError, match="'tinny' not found.*known notebooks: tiny"):
        run_notebook("tinny")


def test_cli_tasks_lists_xnli_and_pawsx(capsys):
    assert cli.main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "xnli" in out and "pawsx" in out and "accuracy" in out


def test_cli_run_with_malformed_yaml_exits_2_naming_file_and_line(project, capsys):
    params = write(project / "params" / "tiny" / "broken.yaml", "x: 1\n  fail: true\n")
    assert cli.main(["run", "tiny", "-f", str(params)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(params) in err and "line 2" in err
    assert "Traceback" not in err


def test_a_new_world_generator_version_makes_a_new_run_key(project, monkeypatch):
    import xltlib.world.build as build
    from xltlib.app.runner import run_key

    notebook = project / "notebooks" / "tiny.ipynb"
    before = run_key(notebook, {})
    monkeypatch.setattr(build, "GENERATOR_VERSION", build.GENERATOR_VERSION + 1)
    assert run_key(notebook, {}) != before


# ---------------------------------------------------------------------------------------------- with kernels

def test_finished_run_is_skipped_until_params_change(project, capsys):
    first = run_notebook("tiny")
    run_dir = project / "outputs" / "tiny" / "default"
    assert first.status == "finished", first.error
    assert first.run_dir == run_dir and first.path == run_dir / "tiny.ipynb" and first.path.is_file()
    assert not (run_dir / "tiny.partial.ipynb").exists()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["params"] == {} and record["key"] == first.key
    assert "value" in (run_dir / "metrics.csv").read_text()

    assert run_notebook("tiny").status == "skipped"

    # Different parameters through the CLI: `-p x 2` is read as YAML, so the notebook gets an int.
    assert cli.main(["run", "tiny", "-p", "x", "2"]) == 0
    assert "finished" in capsys.readouterr().out
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["params"] == {"x": 2} and record["key"] != first.key
    assert (run_dir / "metrics.csv").read_text().rstrip().endswith(",2.0")


def test_failing_run_in_batch_keeps_finished_results_and_does_not_stop_the_next(project, capsys):
    bad = write(project / "params" / "tiny" / "1_bad.yaml", "x: 5\nfail: true\n")
    write(project / "params" / "tiny" / "2_good.yaml", "x: 3\n")
    # An earlier finished run in the directory the failing run will use.
    earlier = run_notebook("tiny", bad, overrides={"fail": False, "x": 7})
    assert earlier.status == "finished", earlier.error
    run_dir = project / "outputs" / "tiny" / "1_bad"
    (run_dir / "work").mkdir()
    write(run_dir / "work" / "checkpoint.txt", "resume from here")
    before = {name: (run_dir / name).read_bytes() for name in ("metrics.csv", "config.json", "tiny.ipynb",
                                                              "run.json")}

    assert cli.main(["batch", str(project / "params" / "tiny")]) == 1
    table = capsys.readouterr().out
    assert "1_bad" in table and "failed" in table and "2_good" in table and "finished" in table

    # The failed run: its notebook is kept with the error, its status goes to run.failed.json ...
    failed_nb = (run_dir / "tiny.failed.ipynb").read_text()
    assert "asked to fail with x=5" in failed_nb
    failure = json.loads((run_dir / "run.failed.json").read_text())
    assert failure["status"] == "failed" and "ValueError: asked to fail with x=5" in failure["error"]
    # ... the finished run's files are as they were (the notebook had overwritten metrics and config) ...
    for name, content in before.items():
        assert (run_dir / name).read_bytes() == content, name
    assert (run_dir / "metrics.failed.csv").read_text().rstrip().endswith(",5.0")
    assert (run_dir / "work" / "checkpoint.txt").read_text() == "resume from here"
    assert not (run_dir / "tiny.partial.ipynb").exists()
    # ... and the next run in the batch ran.
    good = json.loads((project / "outputs" / "tiny" / "2_good" / "run.json").read_text())
    assert good["status"] == "finished" and good["params"] == {"x": 3}


def test_batch_runs_jobs_side_by_side_and_reports_in_order(project, capsys):
    params = project / "params" / "tiny"
    for i in (1, 2, 3):
        write(params / f"{i}_run.yaml", f"x: {i}\n")
    repeat = params / "2_run.yaml"  # listed twice: runs once, then is skipped
    assert cli.main(["batch", "--jobs", "2", str(params), str(repeat)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[1:3] for line in lines] == [["1_run", "finished"], ["2_run", "finished"],
                                                     ["3_run", "finished"], ["2_run", "skipped"]]
    for i in (1, 2, 3):
        metrics = (project / "outputs" / "tiny" / f"{i}_run" / "metrics.csv").read_text()
        assert metrics.rstrip().endswith(f",{float(i)}")


def test_batch_jobs_must_be_positive(project):
    write(project / "params" / "tiny" / "1_run.yaml", "x: 1\n")
    with pytest.raises(ConfigError, match="jobs must be at least 1, got 0"):
        batch([project / "params" / "tiny"], jobs=0)
