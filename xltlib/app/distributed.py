"""Several processes (GPUs) for one notebook's fine-tuning runs: DDP through accelerate, launched by `torchrun` or
`accelerate launch` (README, "Several GPUs for one run"):

    torchrun --standalone --nproc_per_node 4 -m xltlib.app.distributed NOTEBOOK -f PARAMS.yaml
    accelerate launch --config_file configs/accelerate/4gpu.yaml -m xltlib.app.distributed NOTEBOOK -f PARAMS.yaml

trains every (task, method, seed) run of the notebook's parameters into the run store, each optimizer step's batch
split over the processes (`xltlib.run.stages.per_process_config`); the main process evaluates and writes. The runs
are keyed as on one process, so `xlt run NOTEBOOK -f PARAMS.yaml` afterwards (one kernel, as papermill runs
notebooks) reads them back from the store and builds the notebook's tables and figures.
"""
from __future__ import annotations

import argparse
import shlex
import sys

from .caches import use_project_caches

use_project_caches()  # before the Hugging Face libraries load

from ..core.errors import ConfigError, XltError  # noqa: E402
from ..core.paths import outputs_dir  # noqa: E402
from .cli import add_notebook_run_arguments  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xltlib.app.distributed",
        description="Train one notebook's fine-tuning runs on several processes (start it with torchrun or "
                    "accelerate launch) into the run store; `xlt run` with the same parameters then reads them.")
    add_notebook_run_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    args = parser.parse_args(argv)
    try:
        return train_notebook_runs(args.notebook, args.params_file, args.param, args.name)
    except XltError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2


def train_notebook_runs(notebook, params_file=None, param_pairs=(), name: str | None = None) -> int:
    """Train (or read back) every fine-tuning run of `notebook` under these parameters, in this process and the
    others started with it, checked as `xlt run` checks them; `param_pairs` are `-p KEY VALUE` pairs."""
    import papermill

    from ..run.experiment import plan_methods, run_experiment
    from ..run.loop import process_state
    from ..run.plan import plan
    from ..run.stages import per_process_config
    from .notebook import load_world
    from .runner import check_run_config, parse_overrides, plan_run, planned_world

    # The checks of `xlt run`, which are those of `run_experiment` (schedule methods' stages included)
    run_plan = plan_run(notebook, params_file, parse_overrides(param_pairs), name)
    cfg = check_run_config(run_plan.notebook, papermill.inspect_notebook(str(run_plan.notebook)), run_plan.params)
    if cfg is None:
        raise ConfigError(f"{run_plan.notebook.name}: a default in its parameters cell is not a literal, so its "
                          f"runs cannot be trained outside the notebook")
    processes = process_state()
    # A stage whose batch does not split over the processes (a schedule method's stages too) is an error before
    # the world or any model loads.
    for task_plan in plan_methods(plan(cfg), cfg.methods, planned_world(cfg)).values():
        for stage in task_plan.stages:
            per_process_config(task_plan.cfg, stage, processes.num_processes)
    with processes.main_process_first():  # the main process builds the embedded world if it is not cached
        world = load_world(cfg)
    run_dir = outputs_dir() / "distributed" / run_plan.notebook.stem / run_plan.run_name
    records = run_experiment(cfg, run_dir, world)
    if processes.is_main_process:
        runs = len(records[["task", "method", "seed"]].drop_duplicates())
        command = ["xlt", "run", run_plan.notebook.stem] + (["-f", str(params_file)] if params_file else []) + [
            word for pair in param_pairs for word in ("-p", *pair)] + (["--name", name] if name else [])
        print(f"{runs} run{'s' * (runs != 1)} on {processes.num_processes} process"
              f"{'es' * (processes.num_processes != 1)} in the run store (listed in {run_dir / 'store.json'}); "
              f"`{shlex.join(command)}` reads them back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
