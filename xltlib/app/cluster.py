"""`xlt batch --executor slurm`: each run of a batch as one task of a SLURM job array, through submitit.

A job calls the local runner's `execute_or_busy` on its node, so the run directory's lock, the `.attempt/` folder
and the kept failed notebook work there as they do here. A job that ends without a result (killed, out of memory,
out of time before it could record its end) is a failed outcome naming the job and its logs, and the notebook it
left is kept as the failed one. The project, its venv and outputs/ must be on a filesystem the nodes share.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator

import submitit
from submitit.core.utils import FailedJobError, FailedSubmissionError, UncompletedJobError

from ..core.config import load_params_file
from ..core.errors import ConfigError, XltError
from ..core.paths import outputs_dir
from .preflight import check_writable_dir
from .progress import print_line
from .runner import RunOutcome, RunPlan, display_path, execute_or_busy, record_lost_attempt

# Which submitit executor `--executor slurm` builds: "slurm" unless set; the tests set "local" (submitit's local
# executor: the same submission, pickling, job and result code, with processes on this machine for nodes).
CLUSTER_ENV = "XLT_SUBMITIT_CLUSTER"
CLUSTERS = ("slurm", "local")
# How often the submitting machine looks for ended jobs (a file check per job; SLURM is asked at most once a minute
# by submitit itself).
POLL_SECONDS = 2.0


class ClusterError(XltError):
    """A job array could not be submitted (no SLURM on this machine, or sbatch refused it)."""


@dataclass(frozen=True)
class ClusterOptions:
    """What each job asks SLURM for. Keys of a --cluster-config file, and (with dashes) `xlt batch` options."""

    partition: str | None = None  # None: the cluster's default partition
    gpus_per_job: int = 0
    time: int = 240  # minutes; SLURM stops a job then (submitit's own default is 5)
    mem: float | None = None  # GB; None: the partition's default
    array_parallelism: int | None = None  # jobs of the array running at once; None: as many as SLURM allows
    sbatch: dict = field(default_factory=dict)  # any other sbatch option ({account: ..., qos: ...}): a file only


# key -> (what it must be, check). `sbatch` is checked on its own.
_CHECKS = {
    "partition": ("a partition name", lambda v: isinstance(v, str) and v != ""),
    "gpus_per_job": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "time": ("an integer number of minutes >= 1", lambda v: _is_int(v) and v >= 1),
    "mem": ("a number of GB > 0", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
    "array_parallelism": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def cluster_options(config_file: str | Path | None = None, **flags) -> ClusterOptions:
    """Options from a --cluster-config YAML file (flat keys, those of ClusterOptions), then from command-line
    flags (None: not given), each checked; a bad value is an error naming the file and key, or the flag."""
    values = {}
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"--cluster-config {path}: file not found")
        values = load_params_file(path)
        known = [f.name for f in fields(ClusterOptions)]
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{path}: unknown key {key!r}; known keys: {', '.join(known)}")
            _check(key, value, f"{path}: {key}")
    for key, value in flags.items():
        if value is not None:
            _check(key, value, f"--{key.replace('_', '-')}")
            values[key] = value
    return ClusterOptions(**values)


def _check(key: str, value, where: str) -> None:
    if key == "sbatch":
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where}: expected a mapping of sbatch option names to values, got {value!r}")
        return
    expected, ok = _CHECKS[key]
    if not ok(value):
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")


def submitit_parameters(options: ClusterOptions) -> dict:
    """The options as `AutoExecutor.update_parameters` keywords (slurm_* ones are ignored by other clusters)."""
    parameters = {"name": "xlt-batch", "timeout_min": options.time, "gpus_per_node": options.gpus_per_job}
    if options.mem is not None:
        parameters["mem_gb"] = options.mem
    if options.partition is not None:
        parameters["slurm_partition"] = options.partition
    if options.array_parallelism is not None:
        parameters["slurm_array_parallelism"] = options.array_parallelism
    if options.sbatch:
        parameters["slurm_additional_parameters"] = dict(options.sbatch)
    return parameters


def run_job(plan: RunPlan, force: bool) -> RunOutcome:
    """What a job does on its node: the local runner's run, its progress lines going to the job's log."""
    return execute_or_busy(plan, force=force, echo=print_line)


class SubmititExecutor:
    """A `runner.RunExecutor`: submits the runs as one job array, waits for them, yields their outcomes."""

    def __init__(self, options: ClusterOptions, folder: str | Path | None = None, cluster: str | None = None):
        self.folder = Path(folder) if folder is not None else outputs_dir() / "submitit"
        self.cluster = cluster or os.environ.get(CLUSTER_ENV) or "slurm"
        if self.cluster not in CLUSTERS:
            raise ConfigError(f"{CLUSTER_ENV}={self.cluster!r}: expected one of {', '.join(CLUSTERS)}")
        check_writable_dir(self.folder, "the submitit folder")
        try:
            self.executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        except RuntimeError as e:  # SlurmExecutor: `srun` not on PATH
            raise ClusterError(f"--executor slurm: no SLURM on this machine ({e}); run `xlt batch` on the cluster's "
                               f"login node, or use --executor local") from None
        self.executor.update_parameters(**submitit_parameters(options))
        self.parallelism = options.array_parallelism or 256  # submitit's own limit on an array's jobs at once

    def run(self, plans: list[RunPlan], force: bool, echo) -> Iterator[tuple[int, RunOutcome]]:
        echo = echo or (lambda line: None)
        try:
            jobs = self.executor.map_array(run_job, plans, [force] * len(plans))
        except (UncompletedJobError, FailedSubmissionError) as e:  # sbatch's own error, as the first line
            raise ClusterError(f"sbatch refused the job array: {_first_line(e)}") from None
        for plan, job in zip(plans, jobs):
            echo(f"[{_label(plan)}] submitted as job {job.job_id}; its log: {display_path(job.paths.stderr)}")
        echo(f"batch: {len(jobs)} job{'s' if len(jobs) > 1 else ''} submitted ({self.cluster}); waiting for them "
             f"(if this command stops, the jobs go on: `xlt batch` again later skips the runs that finished)")
        position = {job.job_id: i for i, job in enumerate(jobs)}
        for job in submitit.helpers.as_completed(jobs, poll_frequency=POLL_SECONDS):
            i = position[job.job_id]
            yield i, self._outcome(plans[i], job, echo)

    def _outcome(self, plan: RunPlan, job, echo) -> RunOutcome:
        try:
            outcome = job.result()
        except UncompletedJobError as e:  # killed, timed out, or raised outside the run
            logs = f"{display_path(job.paths.stdout)}, {display_path(job.paths.stderr)}"
            error = f"job {job.job_id} ended without a result ({_job_error(e)}); its logs: {logs}"
            record_lost_attempt(plan, error)
            outcome = RunOutcome(plan.notebook, plan.run_name, plan.run_dir, "failed", error=error, key=plan.key)
        echo(f"[{_label(plan)}] job {job.job_id} ended: {outcome.status}"
             + (f" in {outcome.seconds:.0f} s" if outcome.seconds is not None else ""))
        return outcome


def _label(plan: RunPlan) -> str:
    return f"{plan.notebook.stem}/{plan.run_name}"


def _first_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def _job_error(e: Exception) -> str:
    """A FailedJobError carries the job's traceback, whose last line is the exception; a job that produced no
    result is named by its state as SLURM (or the local executor) reports it."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if isinstance(e, FailedJobError) and lines:
        return lines[-1]
    state = re.search(r"has not produced any output \(state: ([^)]*)\)", str(e))
    return f"state {state.group(1)}" if state else _first_line(e)
