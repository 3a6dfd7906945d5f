"""xltlib.app.runner and the `xlt` command, against a scratch project with one tiny notebook (and, for the progress
lines, one that fine-tunes a tiny model on 12 rows).

Starting a kernel takes seconds, so kernels run only where the behaviour needs one (finished, failed and rerun runs,
batches side by side, a busy run directory, progress lines); the parameter checks all fail before a kernel starts.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from xltlib.app import cli
from xltlib.app.runner import KERNEL_ENV_DEFAULTS, batch, run_dir_lock, run_key, run_notebook
from xltlib.core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent

# Writes its results (metrics, config, predictions, labels) before it (optionally) fails, as a notebook that fails
# on its second task would: a failed rerun must leave every file of a finished run as it was.
CELLS = [
    ("x = 1\nfail = False\noutput_dir = None", ["parameters"]),
    ("from xltlib.report.results import run_dir_for, save_run\n"
     "run_dir = run_dir_for('tiny', output_dir)\n"
     "save_run(run_dir, {'x': x, 'fail': fail}, [dict(task='xnli', lang='en', method='standard', seed=1,\n"
     "         split='test', metric='accuracy', value=float(x))])", []),
    ("from pathlib import Path\n"  # a first task's predictions and gold, as run_experiment exports them
     "for folder in (Path(run_dir, 'predictions/standard/seed1/xnli'), Path(run_dir, 'labels/xnli')):\n"
     "    folder.mkdir(parents=True, exist_ok=True)\n"
     "    (folder / 'test-en.tsv').write_text(f'{x}\\n')", []),
    ("if fail:\n    raise ValueError(f'asked to fail with x={x}')", []),
]


def write_notebook(path: Path, cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project tree with notebooks/tiny.ipynb; kernels inherit XLT_PROJECT_ROOT pointing at it."""
    root = tmp_path / "proj"
    (root / "params" / "tiny").mkdir(parents=True)
    write_notebook(root / "notebooks" / "tiny.ipynb", CELLS)
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

    # The executed notebook carries no path of this machine (output_dir and papermill's metadata are relative).
    assert str(project.parent) not in first.path.read_text()
    assert "outputs/tiny/default" in first.path.read_text()

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
    captured = capsys.readouterr()
    lines = captured.out.splitlines()[1:]
    assert [line.split()[1:3] for line in lines] == [["1_run", "finished"], ["2_run", "finished"],
                                                     ["3_run", "finished"], ["2_run", "skipped"]]
    # After each finished run, the time left (runs there are 3; the repeat is skipped at no cost).
    assert re.search(r"^batch: 1 of 3 runs done, about \d+ s left$", captured.err, re.M), captured.err
    for i in (1, 2, 3):
        metrics = (project / "outputs" / "tiny" / f"{i}_run" / "metrics.csv").read_text()
        assert metrics.rstrip().endswith(f",{float(i)}")


def test_batch_jobs_must_be_positive(project):
    write(project / "params" / "tiny" / "1_run.yaml", "x: 1\n")
    with pytest.raises(ConfigError, match="jobs must be at least 1, got 0"):
        batch([project / "params" / "tiny"], jobs=0)


def file_hashes(directory: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_failed_rerun_leaves_every_file_of_the_finished_run_byte_identical(project, capsys):
    params = write(project / "params" / "tiny" / "run.yaml", "x: 7\n")
    assert run_notebook("tiny", params).status == "finished"
    run_dir = project / "outputs" / "tiny" / "run"
    before = file_hashes(run_dir)
    assert "predictions/standard/seed1/xnli/test-en.tsv" in before and "labels/xnli/test-en.tsv" in before

    # The same run name, parameters that fail after the first task's predictions and labels are written.
    write(params, "x: 5\nfail: true\n")
    assert cli.main(["run", "tiny", "-f", str(params), "--name", "run"]) == 1
    after = file_hashes(run_dir)
    assert {name: after.get(name) for name in before} == before
    # What the failed attempt wrote is kept beside the finished run, under .failed names.
    assert (run_dir / "predictions.failed/standard/seed1/xnli/test-en.tsv").read_text() == "5\n"
    assert "asked to fail with x=5" in (run_dir / "tiny.failed.ipynb").read_text()
    assert json.loads((run_dir / "run.failed.json").read_text())["status"] == "failed"
    assert not (run_dir / ".attempt").exists()

    # A rerun that finishes replaces the finished run's files.
    write(params, "x: 6\n")
    assert run_notebook("tiny", params).status == "finished"
    assert (run_dir / "predictions/standard/seed1/xnli/test-en.tsv").read_text() == "6\n"
    assert json.loads((run_dir / "run.json").read_text())["params"] == {"x": 6}
    assert not (run_dir / ".attempt").exists()


def test_batch_reports_a_busy_run_directory_and_runs_the_others(project, capsys):
    params = project / "params" / "tiny"
    write(params / "1_held.yaml", "x: 1\n")
    write(params / "2_free.yaml", "x: 2\n")
    held = project / "outputs" / "tiny" / "1_held"
    held.mkdir(parents=True)
    with run_dir_lock(held):  # as another `xlt run` on that directory holds it
        assert cli.main(["batch", "--jobs", "2", str(params)]) == 1
    out = capsys.readouterr().out
    assert [line.split()[1:3] for line in out.splitlines()[1:3]] == [["1_held", "busy"], ["2_free", "finished"]]
    assert "tiny/1_held busy: outputs/tiny/1_held: another xlt run is using this run directory" in out
    assert not (held / "run.json").exists()
    assert json.loads((project / "outputs/tiny/2_free/run.json").read_text())["status"] == "finished"


TRAIN_CELLS = [
    ("model_dir = None\ndata = None\noutput_dir = None", ["parameters"]),
    ("from xltlib.core.config import RunConfig\n"
     "from xltlib.report.results import run_dir_for\n"
     "from xltlib.run.experiment import run_experiment\n"
     "cfg = RunConfig(world='real', tasks=['xnli'], model_name_or_path=model_dir, methods=['standard'], seeds=[1],\n"
     "                eval_langs=['en', 'de'], data_files={'xnli': data}, num_train_epochs=1.0, generalized=False,\n"
     "                per_device_train_batch_size=4, per_device_eval_batch_size=8, learning_rate=1e-3,\n"
     "                evals_per_epoch=1, export_predictions=False)\n"
     "records = run_experiment(cfg, run_dir_for('train', output_dir))", []),
]


def test_xlt_run_prints_cells_and_each_fine_tuning_run_as_it_starts_and_ends(project, tiny_model_dir, xnli_files,
                                                                             capfd):
    write_notebook(project / "notebooks" / "train.ipynb", TRAIN_CELLS)
    data = {split: {lang: str(path) for lang, path in by_lang.items()} for split, by_lang in xnli_files.items()}
    assert cli.main(["run", "train", "-p", "model_dir", str(tiny_model_dir), "-p", "data", json.dumps(data)]) == 0
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("[train/default]")]
    assert lines[0] == "[train/default] started (defaults) in outputs/train/default"
    assert "[train/default] cell 3/3: from xltlib.core.config import RunConfig" in lines
    progress = [line for line in lines if "run 1/1" in line]
    assert progress[0] == "[train/default] run 1/1: xnli standard seed 1: fine-tuning"
    assert re.fullmatch(r"\[train/default\] run 1/1: xnli standard seed 1: done in \d+ s, en dev accuracy "
                        r"[01]\.\d{3}", progress[1]), progress
    assert re.fullmatch(r"\[train/default\] finished in \d+ s", lines[-1])
    assert "without encryption" not in err  # the kernel's transport warning is silenced
    assert "finished" in out  # the summary table, on stdout


def test_a_stored_fine_tuning_run_is_one_progress_line(tmp_path):
    from xltlib.core.progress import ProgressLog

    log = ProgressLog(tmp_path / "run", total=2)
    log.run_started("pawsx", "scratch", 2, stored=True)
    log.run_finished("pawsx", "scratch", 2, [{"split": "test", "lang": "en", "metric": "accuracy", "value": 0.5},
                                             {"split": "validation", "lang": "en", "metric": "accuracy",
                                              "value": 0.75}], stored=True)
    assert (tmp_path / "run" / "progress.log").read_text() == (
        "run 1/2: pawsx scratch seed 2: read from the run store (trained earlier), en dev accuracy 0.750\n")


def test_an_interactive_session_with_defaults_reads_the_finished_default_run(project, monkeypatch):
    from xltlib.app.notebook import setup

    notebook = write_notebook(project / "notebooks" / "real.ipynb", [
        ("world = 'real'\nmodel_name_or_path = 'xlm-roberta-base'\noutput_dir = None", ["parameters"])])
    namespace = {"world": "real", "model_name_or_path": "xlm-roberta-base", "output_dir": None}
    default = project / "outputs" / "real" / "default"
    assert setup(dict(namespace), "real").run_dir == project / "outputs" / "real" / "interactive"  # none yet
    write(default / "run.json", json.dumps({"status": "finished", "params": {}, "key": run_key(notebook, {})}))
    assert setup(dict(namespace), "real").run_dir == default
    # Another parameter value, or a default run from an older parameters cell: a run of its own.
    assert setup({**namespace, "model_name_or_path": "xlm-roberta-large"}, "real").run_dir.name == "interactive"
    write(default / "run.json", json.dumps({"status": "finished", "params": {}, "key": "older"}))
    assert setup(dict(namespace), "real").run_dir.name == "interactive"
    # Under the runner (the kernel's working directory is the project root) paths are relative to it.
    monkeypatch.chdir(project)
    assert setup({**namespace, "output_dir": "outputs/real/named"}, "real").run_dir == Path("outputs/real/named")
