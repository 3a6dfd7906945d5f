"""The `xlt` command: list tasks, run notebooks (one or a batch), build the embedded world, score submissions, and
prepare the notebooks for the smoke tests. A user error prints `error: <message>` and exits 2, without a
traceback (`--debug` shows it).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .caches import use_project_caches

use_project_caches()  # before anything below imports matplotlib, IPython or the Hugging Face libraries

from ..core.errors import ConfigError, XltError  # noqa: E402
from ..report.scorer import add_score_command  # noqa: E402

DESCRIPTION = (
    "Zero-shot cross-lingual transfer on XTREME, notebook first: run the project's notebooks through papermill "
    "into outputs/<notebook>/<run>/ (one run, or a batch of params files), build the embedded world they use by "
    "default (synthetic languages and tasks, offline on a CPU), list the registered tasks, and score predictions "
    "in XTREME's submission layout as the official scorer does."
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except XltError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a folder that cannot be written, a full disk...: named, without a traceback
        if args.debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e} (--debug shows the traceback)", file=sys.stderr)
        return 2


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("xlt-companion")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        from .. import __version__

        return __version__


# `xlt batch` options for --executor slurm, each also a --cluster-config key (without the dashes).
CLUSTER_FLAGS = [
    ("--partition", str, "NAME", "SLURM partition (default: the cluster's default)"),
    ("--gpus-per-job", int, "N", "GPUs per job (default 0)"),
    ("--time", int, "MINUTES", "time limit per job, in minutes (default 240)"),
    ("--mem", float, "GB", "memory per job, in GB (default: the partition's)"),
    ("--array-parallelism", int, "N", "jobs of the array running at once (default: as many as SLURM allows)"),
]


def add_notebook_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What names one notebook run (`xlt run`, `python -m xltlib.app.distributed`): notebook, params, name."""
    parser.add_argument("notebook", metavar="NOTEBOOK", help="a notebook path, or a stem such as 01_zero_shot_baseline")
    parser.add_argument("-f", "--params-file", metavar="PARAMS.yaml", help="papermill YAML parameter file")
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[],
                        help="override one parameter; VALUE is read as YAML (3, 1e-5, [en, de])")
    parser.add_argument("--name", help="run name (default: the params file's stem, else 'default')")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xlt", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="list the registered tasks and their languages")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("run", help="run one notebook through papermill into outputs/<stem>/<run>/")
    add_notebook_run_arguments(p)
    p.add_argument("--force", action="store_true", help="run even if an identical finished run exists")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("batch", help="run params files / params directories (one at a time, --jobs N side by "
                                      "side, or each as a SLURM job with --executor slurm)")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="params files or params/<stem>/ directories (notebooks with --defaults)")
    p.add_argument("--force", action="store_true", help="rerun finished runs too")
    p.add_argument("--real", action="store_true",
                   help="also run params files with `world: real` (hub models and data; meant for a GPU)")
    p.add_argument("--defaults", action="store_true",
                   help="PATHs are notebooks or notebook directories, each run with its defaults")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="runs at a time, each in its own process (default 1; one per CPU core at most)")
    p.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local: run here (default); slurm: each run a SLURM job, through submitit")
    cluster = p.add_argument_group("--executor slurm", "what each job asks for (flags win over --cluster-config)")
    for flag, kind, metavar, text in CLUSTER_FLAGS:
        cluster.add_argument(flag, type=kind, metavar=metavar, help=text)
    cluster.add_argument("--cluster-config", metavar="FILE.yaml",
                         help="YAML file with the same keys (partition, gpus_per_job, time, mem, array_parallelism) "
                              "and `sbatch:`, a mapping of any other sbatch option (account, qos, ...)")
    cluster.add_argument("--submitit-folder", metavar="DIR",
                         help="submitit's job files and logs, on a filesystem the nodes share "
                              "(default: outputs/submitit/)")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("world", help="build (or load) the embedded world and describe it")
    p.add_argument("--preset", default="default", help="world preset (default: default)")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if a cached world exists")
    p.set_defaults(func=cmd_world)

    p = sub.add_parser("smoke-notebooks", help="write every notebook, with its smoke parameters, to OUT_DIR")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.set_defaults(func=cmd_smoke_notebooks)
    add_score_command(sub)
    for command in sub.choices.values():  # `xlt run ... --debug` as well as `xlt --debug run ...`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def cmd_tasks(args) -> int:
    from ..tasks.catalogue import TASKS
    from ..world.build import FILED_WITH, WORLD_TASKS, world_langs_for
    from ..world.tasks.xtreme import XTREME_WORLD_TASKS

    for name, spec in TASKS.items():
        group = spec.group.value if spec.group else "none (intermediate task)"
        print(f"{name}  type={spec.type}  group={group}  metric={spec.metric}")
        print(f"    real languages ({len(spec.langs)}): {' '.join(spec.langs)}")
        if name in FILED_WITH:
            print("    embedded world: en (training only)")
        elif name in WORLD_TASKS + XTREME_WORLD_TASKS:
            print(f"    embedded world: {' '.join(world_langs_for(name))}")
        else:
            print("    embedded world: not generated yet")
    return 0


def cmd_run(args) -> int:
    from .progress import print_line
    from .runner import format_outcomes, parse_overrides, run_notebook

    outcome = run_notebook(args.notebook, args.params_file, parse_overrides(args.param), args.name, args.force,
                           echo=print_line)
    print(format_outcomes([outcome]))
    return 0 if outcome.ok else 1


def cmd_batch(args) -> int:
    from .progress import print_line
    from .runner import batch, format_outcomes

    outcomes = batch(args.paths, force=args.force, defaults=args.defaults,
                     jobs=args.jobs if args.jobs is not None else 1, real=args.real, echo=print_line,
                     executor=_batch_executor(args))
    print(format_outcomes(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def _batch_executor(args):
    """None for --executor local; for slurm, the submitit executor built from the options (checked first)."""
    names = [flag.lstrip("-").replace("-", "_") for flag, *_ in CLUSTER_FLAGS]
    given = [f"--{name.replace('_', '-')}" for name in names + ["cluster_config", "submitit_folder"]
             if getattr(args, name) is not None]
    if args.executor == "local":
        if given:
            raise ConfigError(f"{given[0]} is an option of --executor slurm (this batch runs with --executor local)")
        return None
    if args.jobs is not None:
        raise ConfigError("--jobs is for --executor local; with --executor slurm, --array-parallelism says how many "
                          "jobs run at once")
    from .cluster import SubmititExecutor, cluster_options

    options = cluster_options(args.cluster_config, **{name: getattr(args, name) for name in names})
    return SubmititExecutor(options, args.submitit_folder)


def cmd_world(args) -> int:
    from ..world.build import get_world
    from .preflight import build_notice, check_world_cache, world_is_built

    check_world_cache(args.preset, rebuild=args.rebuild)
    if args.rebuild or not world_is_built(args.preset):
        print(build_notice(args.preset), flush=True)
    print(get_world(args.preset, rebuild=args.rebuild).describe())
    return 0


def cmd_smoke_notebooks(args) -> int:
    """Prepare (parameterize, not execute) each notebook for `pytest --nbval-lax OUT_DIR`."""
    import papermill

    from ..core.config import load_params_file
    from ..core.paths import project_root
    from .runner import plan_run

    root = project_root()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.ipynb"):
        stale.unlink()
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    for notebook in notebooks:
        smoke = root / "params" / notebook.stem / "smoke.yaml"
        params_file = smoke if smoke.is_file() else None
        plan_run(notebook, params_file)  # the same checks as a real run: unknown keys are errors here
        params = load_params_file(params_file) if params_file else {}
        # Smoke runs start from scratch: a checkpoint left by an older version of the code must not
        # stand in for training. This directory is a cache that only this command writes.
        run_dir = root / ".cache" / "smoke-runs" / notebook.stem
        if run_dir.exists():
            shutil.rmtree(run_dir)
        papermill.execute_notebook(
            str(notebook), str(out_dir / notebook.name),
            parameters={**params, "output_dir": str(run_dir)},
            prepare_only=True, kernel_name="python3", progress_bar=False,
        )
        print(f"{out_dir / notebook.name}  ({params_file.relative_to(root) if params_file else 'defaults'})")
    if not notebooks:
        print(f"no notebooks in {root / 'notebooks'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
