"""The `xlt` command's surface, without starting kernels: its help and version, errors as one line naming the path or
value (unwritable folders, for root too: a path under a regular file), `-p`/params-file numbers in exponent form,
the world-build notice, the batch guard for real-path params files, `xlt score` on an embedded-world run, and the
caches that stay inside the project when `xlt` is run directly."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from xltlib.app import cli
from xltlib.app.caches import CACHE_DIRS
from xltlib.app.runner import parse_overrides, plan_run
from xltlib.core.config import load_params_file
from xltlib.core.errors import ConfigError

from test_runner import write_notebook

REPO = Path(__file__).resolve().parent.parent


def make_notebook(root: Path, stem: str, parameters: str) -> Path:
    return write_notebook(root / "notebooks" / f"{stem}.ipynb",
                          [(parameters, ["parameters"]), ("print(learning_rate)", [])])


def scratch_project(tmp_path: Path, monkeypatch, stem: str, parameters: str) -> Path:
    """A scratch project holding notebooks/<stem>.ipynb with `parameters` (an embedded-world run whose fields the
    plan checks), made the current project, with its own world cache; its root."""
    root = tmp_path / "proj"
    make_notebook(root, stem, 'world = "embedded"\nmodel_name_or_path = "embedded"\n' + parameters
                  + '\noutput_dir = None')
    monkeypatch.setenv("XLT_PROJECT_ROOT", str(root))
    monkeypatch.setenv("XLT_WORLD_CACHE", str(tmp_path / "worlds"))
    monkeypatch.chdir(tmp_path)
    return root


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project with notebooks/lr.ipynb, whose parameters are RunConfig fields (checked by the plan)."""
    return scratch_project(tmp_path, monkeypatch, "lr", "learning_rate = 3e-4")


def a_regular_file(tmp_path: Path) -> Path:
    """A path no one can create a folder under, root included (os.access lets root write anywhere)."""
    path = tmp_path / "a-file"
    path.write_text("not a directory\n")
    return path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------------------------------- help, version, debug

def test_help_gives_the_whole_description_and_version_comes_from_the_package(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert " ".join(cli.DESCRIPTION.split()) in help_text and cli.DESCRIPTION.endswith(".")
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"xlt {metadata.version('xlt-companion')}"


def test_debug_shows_the_traceback_else_one_line(project, capsys):
    assert cli.main(["run", "no_such_notebook"]) == 2
    assert "'no_such_notebook' not found" in one_line_error(capsys)
    for argv in (["--debug", "run", "no_such_notebook"], ["run", "no_such_notebook", "--debug"]):
        with pytest.raises(ConfigError, match="'no_such_notebook' not found"):
            cli.main(argv)


# ---------------------------------------------------------------------------------------------- unwritable folders

def test_outputs_folder_that_cannot_be_written_is_a_one_line_error(project, capsys):
    (project / "outputs").write_text("a file where the outputs folder should be\n")
    assert cli.main(["run", "lr"]) == 2
    err = one_line_error(capsys)
    assert str(project / "outputs" / "lr" / "default") in err and "is a file, not a directory" in err


def test_read_only_outputs_folder_by_permissions(project, capsys):
    outputs = project / "outputs"
    outputs.mkdir()
    outputs.chmod(0o555)
    try:
        if os.access(outputs, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes (the test above covers root)")
        assert cli.main(["run", "lr"]) == 2
        err = one_line_error(capsys)
        assert str(outputs / "lr" / "default") in err and "read-only" in err
    finally:
        outputs.chmod(0o755)


def test_world_cache_that_cannot_be_written_is_a_one_line_error(project, tmp_path, monkeypatch, capsys):
    cache = a_regular_file(tmp_path) / "worlds"
    monkeypatch.setenv("XLT_WORLD_CACHE", str(cache))
    assert cli.main(["world", "--preset", "tiny"]) == 2
    err = one_line_error(capsys)
    assert str(cache) in err and "XLT_WORLD_CACHE" in err
    assert cli.main(["run", "lr"]) == 2  # before a kernel starts, for a notebook on the embedded world
    assert str(cache) in one_line_error(capsys)


def test_score_output_that_cannot_be_written_is_a_one_line_error(tmp_path, capsys):
    run = embedded_run(tmp_path)
    output = a_regular_file(tmp_path) / "scores.json"
    assert cli.main(["score", "--predictions", str(run / "predictions/standard/seed1"), "--labels",
                     str(run / "labels"), "--output", str(output)]) == 2
    err = one_line_error(capsys)
    assert f"--output {output}" in err


# ---------------------------------------------------------------------------------------------- values

def test_exponent_numbers_without_a_dot_are_numbers_in_p_and_params_files(project):
    assert parse_overrides([("learning_rate", "1e-5"), ("x", "1E5"), ("y", "'1e-5'")]) == {
        "learning_rate": 1e-5, "x": 1e5, "y": "1e-5"}
    assert plan_run("lr", overrides=parse_overrides([("learning_rate", "1e-5")])).params == {"learning_rate": 1e-5}
    params = project / "params" / "lr" / "small.yaml"
    params.parent.mkdir(parents=True)
    params.write_text("learning_rate: 2e-5\n")
    assert load_params_file(params) == {"learning_rate": 2e-5}
    assert plan_run("lr", params).params == {"learning_rate": 2e-5}


def test_world_build_notice_comes_before_a_build_only(project, monkeypatch, capsys):
    import xltlib.world.build as build

    class FakeWorld:
        def describe(self):
            return "the world"

    def fake_get_world(preset, rebuild=False):
        print("get_world called")
        return FakeWorld()

    monkeypatch.setattr(build, "get_world", fake_get_world)
    assert cli.main(["world", "--preset", "tiny"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "building the embedded world 'tiny' (once, under a minute)", "get_world called", "the world"]
    built = build.world_dir("tiny") / "world.json"
    built.parent.mkdir(parents=True)
    built.write_text("{}")
    assert cli.main(["world", "--preset", "tiny"]) == 0
    assert "building" not in capsys.readouterr().out


def test_batch_skips_real_path_params_files_unless_real(project, capsys):
    real = project / "params" / "lr" / "xlmr.yaml"
    real.parent.mkdir(parents=True)
    real.write_text("world: real\nmodel_name_or_path: xlm-roberta-base\n")
    assert cli.main(["batch", str(real.parent)]) == 0  # nothing ran: no kernel, no run directory
    out = capsys.readouterr().out
    assert re.search(r"lr\s+xlmr\s+skipped", out) and "lr/xlmr skipped: world: real" in out and "--real" in out
    assert not (project / "outputs" / "lr" / "xlmr").exists()


# ---------------------------------------------------------------------------------------------- xlt score

def embedded_run(root: Path) -> Path:
    """A run directory as an embedded-world run leaves it: metrics.csv, labels/ and predictions/<method>/seed<N>/."""
    run = root / "outputs" / "01_zero_shot_baseline" / "default"
    gold = {"en": ["entailment", "neutral", "contradiction", "neutral"],
            "rlx": ["neutral", "neutral", "entailment", "contradiction"]}
    predicted = {"en": gold["en"], "rlx": ["neutral", "neutral", "entailment", "entailment"]}  # 3 of 4
    for lang in gold:
        for folder, labels in ((run / "labels" / "xnli", gold[lang]),
                               (run / "predictions/standard/seed1/xnli", predicted[lang])):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"test-{lang}.tsv").write_text("".join(f"{label}\n" for label in labels))
    rows = ["task,lang,method,seed,split,metric,value", "xnli,en,standard,1,validation,accuracy,0.9"]
    rows += [f"xnli,{lang},standard,1,test,accuracy,0.5" for lang in gold]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    return run


def test_score_reads_an_embedded_world_runs_languages_and_takes_xtremes_flag_names(tmp_path, capsys):
    run = embedded_run(tmp_path)
    argv = ["score", "--prediction_folder", str(run / "predictions/standard/seed1"),
            "--label_folder", str(run / "labels"), "--output", str(tmp_path / "scores.json")]
    assert cli.main(argv) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["tasks"]["xnli"]["accuracy"] == {"en": 100.0, "rlx": 75.0}
    assert scores["tasks"]["xnli"]["avg_metric"] == pytest.approx(87.5)
    assert json.loads((tmp_path / "scores.json").read_text()) == scores
    # --langs chooses the languages (here outside any run directory).
    elsewhere = tmp_path / "copy"
    for sub in ("labels", "predictions/standard/seed1"):
        (elsewhere / sub / "xnli").mkdir(parents=True)
        src = run / sub / "xnli" / "test-rlx.tsv"
        (elsewhere / sub / "xnli" / "test-rlx.tsv").write_bytes(src.read_bytes())
    assert cli.main(["score", "--predictions", str(elsewhere / "predictions/standard/seed1"),
                     "--labels", str(elsewhere / "labels"), "--langs", "rlx"]) == 0
    assert json.loads(capsys.readouterr().out)["tasks"]["xnli"]["accuracy"] == {"rlx": 75.0}


# ---------------------------------------------------------------------------------------------- caches

def test_makefile_and_the_package_keep_the_same_caches():
    makefile = (REPO / "Makefile").read_text()
    exported = dict(re.findall(r"^export (\w+)\s*:= \$\(CURDIR\)/\.cache/(\S+)$", makefile, re.M))
    assert exported == CACHE_DIRS


def test_xlt_run_directly_writes_no_cache_under_home(tmp_path):
    """`xlt` outside make, with HOME pointing at an empty folder: a notebook runs, and matplotlib, the Hugging Face
    hub, IPython and Jupyter all keep their files in the project's .cache/; HOME stays empty."""
    root, home = tmp_path / "proj", tmp_path / "home"
    home.mkdir()
    make_notebook(root, "lr", "learning_rate = 3e-4\nworld = 'real'\nmodel_name_or_path = 'xlm-roberta-base'\n"
                              "output_dir = None")
    env = {k: v for k, v in os.environ.items() if k not in CACHE_DIRS}
    env.update(HOME=str(home), XLT_PROJECT_ROOT=str(root), XDG_CACHE_HOME="", XDG_CONFIG_HOME="", XDG_DATA_HOME="",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, "-m", "xltlib.app.cli", "run", "lr"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "without encryption" not in run.stderr
    probe = ("import xltlib.app.cli, matplotlib, huggingface_hub.constants as hub, IPython.paths, jupyter_core.paths"
             " as jp; print(matplotlib.get_configdir()); print(hub.HF_HOME); print(IPython.paths.get_ipython_dir());"
             " print(jp.jupyter_data_dir()); print(jp.jupyter_runtime_dir())")
    dirs = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                          check=True, timeout=120).stdout.split()
    assert dirs and all(Path(d).is_relative_to(root / ".cache") for d in dirs), dirs
    assert [str(p) for p in home.rglob("*")] == []
    assert (root / ".cache" / "ipython").is_dir()  # the kernel's profile went there
