"""`xlt batch --executor slurm` (xltlib.app.cluster) against test_runner's scratch project, with submitit's local
executor standing in for SLURM (XLT_SUBMITIT_CLUSTER=local: the same submission, pickling and result code, each
job a process on this machine): finished runs are skipped and not submitted, a failing or killed job is a failed
run that keeps its notebook while the others finish, a finished run's files are never half replaced, and the
options reach the sbatch script (built without submitting). Each job starts a kernel, so only three tests run any.
"""
from __future__ import annotations

import json
import os

import pytest
import submitit
from submitit.slurm.slurm import _make_sbatch_string

from xltlib.app import cli
from xltlib.app.cluster import CLUSTER_ENV, ClusterOptions, SubmititExecutor, cluster_options
from xltlib.app.runner import run_key
from xltlib.core.errors import ConfigError

from test_runner import CELLS, file_hashes, project, write, write_notebook  # noqa: F401 (project: a fixture)


@pytest.fixture
def local_cluster(project, monkeypatch):  # noqa: F811 (the fixture imported above)
    monkeypatch.setenv(CLUSTER_ENV, "local")
    return project


def submitted_jobs(root) -> list:
    return sorted((root / "outputs" / "submitit").glob("*_submitted.pkl"))


def summary_rows(out: str) -> list[list[str]]:
    """(run, status) of each row of the summary table."""
    return [line.split()[1:3] for line in out.split("\n\n")[0].splitlines()[1:]]


def fake_finished_run(root, run_name: str, params: dict):
    """A finished run as an earlier `xlt run` leaves it (without a kernel): run.json, metrics, notebook."""
    run_dir = root / "outputs" / "tiny" / run_name
    notebook = root / "notebooks" / "tiny.ipynb"
    write(run_dir / "metrics.csv", "task,lang,method,seed,split,metric,value\nxnli,en,standard,1,test,accuracy,7.0\n")
    write(run_dir / "tiny.ipynb", "the finished run's notebook")
    write(run_dir / "predictions" / "standard" / "seed1" / "xnli" / "test-en.tsv", "7\n")
    write(run_dir / "run.json", json.dumps({"status": "finished", "params": params,
                                            "key": run_key(notebook, params)}))
    return run_dir


# ---------------------------------------------------------------------------------------------- no kernel

def test_a_finished_run_is_skipped_and_not_submitted(local_cluster, capsys):
    params = write(local_cluster / "params" / "tiny" / "done.yaml", "x: 4\n")
    fake_finished_run(local_cluster, "done", {"x": 4})
    assert cli.main(["batch", "--executor", "slurm", str(params)]) == 0
    assert summary_rows(capsys.readouterr().out) == [["done", "skipped"]]
    assert submitted_jobs(local_cluster) == []


def test_a_bad_params_file_fails_the_batch_before_any_job_is_queued(local_cluster, capsys):
    write(local_cluster / "params" / "tiny" / "1_good.yaml", "x: 1\n")
    bad = write(local_cluster / "params" / "tiny" / "2_typo.yaml", "x: 2\nfial: true\n")
    assert cli.main(["batch", "--executor", "slurm", str(local_cluster / "params" / "tiny")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: unknown parameter 'fial'") and "Traceback" not in err
    assert submitted_jobs(local_cluster) == [] and not (local_cluster / "outputs" / "tiny").exists()


def test_cluster_options_reach_the_sbatch_script(tmp_path, monkeypatch):
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # as if srun were here
    config = write(tmp_path / "cluster.yaml", "partition: cpu\ngpus_per_job: 2\ntime: 90\nmem: 16\n"
                                              "sbatch:\n  account: xlt-proj\n")
    options = cluster_options(config, partition="gpu", array_parallelism=2)  # flags win over the file
    executor = SubmititExecutor(options, tmp_path / "submitit", cluster="slurm")
    script = _make_sbatch_string(command="run", folder=executor.folder, **{**executor.executor._executor.parameters,
                                                                            "map_count": 5})
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=2", "#SBATCH --time=90", "#SBATCH --mem=16GB",
                 "#SBATCH --array=0-4%2", "#SBATCH --account=xlt-proj", "#SBATCH --job-name=xlt-batch"):
        assert line in script.splitlines(), (line, script)
    assert executor.parallelism == 2


def test_cli_help_states_the_options_defaults():
    helps = {flag: text for flag, _, _, text in cli.CLUSTER_FLAGS}
    assert f"(default {ClusterOptions.gpus_per_job})" in helps["--gpus-per-job"]
    assert f"(default {ClusterOptions.time})" in helps["--time"]
    assert ClusterOptions.partition is ClusterOptions.mem is ClusterOptions.array_parallelism is None


def test_cluster_config_errors_name_the_file_and_key(tmp_path):
    unknown = write(tmp_path / "unknown.yaml", "partition: gpu\ngpus: 2\n")
    with pytest.raises(ConfigError, match=f"{unknown}: unknown key 'gpus'; known keys: partition, gpus_per_job"):
        cluster_options(unknown)
    wrong = write(tmp_path / "wrong.yaml", "time: 1h\n")
    with pytest.raises(ConfigError, match=f"{wrong}: time: expected an integer number of minutes >= 1, got '1h'"):
        cluster_options(wrong)
    with pytest.raises(ConfigError, match="--gpus-per-job: expected an integer >= 0, got -1"):
        cluster_options(gpus_per_job=-1)
    with pytest.raises(ConfigError, match="--cluster-config .*missing.yaml: file not found"):
        cluster_options(tmp_path / "missing.yaml")


@pytest.mark.parametrize("argv, message", [
    (["--partition", "gpu"], "error: --partition is an option of --executor slurm"),
    (["--executor", "slurm", "--jobs", "2"], "error: --jobs is for --executor local"),
    (["--executor", "slurm", "--time", "0"], "error: --time: expected an integer number of minutes >= 1, got 0"),
])
def test_cli_refuses_options_that_do_not_fit_the_executor(local_cluster, capsys, argv, message):
    write(local_cluster / "params" / "tiny" / "1_run.yaml", "x: 1\n")
    assert cli.main(["batch", *argv, str(local_cluster / "params" / "tiny")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1
    assert submitted_jobs(local_cluster) == []


def test_slurm_without_slurm_is_a_one_line_error(project, monkeypatch, capsys):  # noqa: F811
    monkeypatch.delenv(CLUSTER_ENV, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no srun
    write(project / "params" / "tiny" / "1_run.yaml", "x: 1\n")
    assert cli.main(["batch", "--executor", "slurm", str(project / "params" / "tiny")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --executor slurm: no SLURM on this machine") and "--executor local" in err


def test_a_job_array_that_sbatch_refuses_is_a_one_line_error(project, tmp_path, monkeypatch, capsys):  # noqa: F811
    bin_dir = tmp_path / "bin"  # a SLURM whose sbatch refuses the partition, as a real one does
    write(bin_dir / "srun", "#!/bin/sh\nexit 0\n").chmod(0o755)
    write(bin_dir / "sbatch", "#!/bin/sh\necho 'sbatch: error: invalid partition specified: nope' >&2\nexit 1\n"
          ).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv(CLUSTER_ENV, raising=False)
    write(project / "params" / "tiny" / "1_run.yaml", "x: 1\n")
    assert cli.main(["batch", "--executor", "slurm", "--partition", "nope", str(project / "params" / "tiny")]) == 2
    err = capsys.readouterr().err
    assert "error: sbatch refused the job array: sbatch: error: invalid partition specified: nope\n" in err
    assert "Traceback" not in err and not (project / "outputs" / "tiny").exists()


# ---------------------------------------------------------------------------------------------- with jobs

def test_a_failing_job_keeps_its_failed_notebook_and_the_others_finish(local_cluster, capsys):
    params = local_cluster / "params" / "tiny"
    write(params / "1_bad.yaml", "x: 5\nfail: true\n")
    write(params / "2_good.yaml", "x: 3\n")
    bad_dir = fake_finished_run(local_cluster, "1_bad", {"x": 7})  # an earlier finished run, other parameters
    before = file_hashes(bad_dir)

    assert cli.main(["batch", "--executor", "slurm", "--time", "5", str(params)]) == 1
    captured = capsys.readouterr()
    assert summary_rows(captured.out) == [["1_bad", "failed"], ["2_good", "finished"]]
    assert "tiny/1_bad failed: ValueError: asked to fail with x=5" in captured.out
    assert len(submitted_jobs(local_cluster)) == 2 and "[tiny/2_good] submitted as job" in captured.err

    # The failed rerun: the finished run's files as they were, what it wrote beside them under .failed names.
    after = file_hashes(bad_dir)
    assert {name: after.get(name) for name in before} == before
    assert "asked to fail with x=5" in (bad_dir / "tiny.failed.ipynb").read_text()
    assert json.loads((bad_dir / "run.failed.json").read_text())["status"] == "failed"
    assert (bad_dir / "metrics.failed.csv").read_text().rstrip().endswith(",5.0")
    assert not (bad_dir / ".attempt").exists()
    # The other run finished, whole: run.json, metrics and the executed notebook, no partial one.
    good = local_cluster / "outputs" / "tiny" / "2_good"
    assert json.loads((good / "run.json").read_text())["status"] == "finished"
    assert (good / "metrics.csv").read_text().rstrip().endswith(",3.0")
    assert (good / "tiny.ipynb").is_file() and not (good / "tiny.partial.ipynb").exists()

    # Run again: the finished run is skipped here and not submitted; only the failed one is.
    assert cli.main(["batch", "--executor", "slurm", "--time", "5", str(params / "2_good.yaml")]) == 0
    assert summary_rows(capsys.readouterr().out) == [["2_good", "skipped"]]
    assert len(submitted_jobs(local_cluster)) == 2


KILL_CELL = ("if kill:\n    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)  # the job's process", [])


def test_a_killed_job_is_a_failed_run_naming_the_job_and_its_logs(local_cluster, monkeypatch, capsys):
    # The kernel kills the job's process, as SLURM does at a time or memory limit: no result, no record written.
    write_notebook(local_cluster / "notebooks" / "tiny.ipynb",
                   [("x = 1\nfail = False\nkill = False\noutput_dir = None", ["parameters"]), *CELLS[1:], KILL_CELL])
    monkeypatch.setattr(submitit.Job, "_results_timeout_s", 1)  # how long submitit waits for a slow filesystem
    params = local_cluster / "params" / "tiny"
    write(params / "1_first.yaml", "x: 5\nkill: true\n")
    write(params / "2_rerun.yaml", "x: 6\nkill: true\n")
    rerun_dir = fake_finished_run(local_cluster, "2_rerun", {"x": 7})
    before = file_hashes(rerun_dir)

    assert cli.main(["batch", "--executor", "slurm", str(params)]) == 1
    out = capsys.readouterr().out
    assert summary_rows(out) == [["1_first", "failed"], ["2_rerun", "failed"]]
    first = local_cluster / "outputs" / "tiny" / "1_first"
    record = json.loads((first / "run.json").read_text())
    assert record["status"] == "failed" and record["params"] == {"x": 5, "kill": True}
    job_id, logs = record["error"].split()[1], record["error"].split("its logs: ")[1].split(", ")
    assert f"tiny/1_first failed: job {job_id} ended without a result" in out
    assert all((local_cluster / log).is_file() for log in logs) and logs[0].endswith("_log.out")
    # The notebook the killed job left is kept as the failed one, up to the cell that killed it.
    assert "os.kill" in (first / "tiny.failed.ipynb").read_text() and not (first / "tiny.partial.ipynb").exists()
    assert (first / "metrics.csv").read_text().rstrip().endswith(",5.0")
    # A killed rerun over a finished run leaves the finished run's files as they were.
    after = file_hashes(rerun_dir)
    assert {name: after.get(name) for name in before} == before
    assert json.loads((rerun_dir / "run.failed.json").read_text())["status"] == "failed"
    assert (rerun_dir / "metrics.failed.csv").read_text().rstrip().endswith(",6.0")
    assert not (rerun_dir / ".attempt").exists()
