"""The training that shared warm-ups save (`xltlib.run.loop.WarmupPrefix`): for notebook 02's default plan (its
methods, tasks and seeds, or `--seeds N`), the optimizer steps and English-dev evaluations that `standard` and the
robust methods of a (task, seed) no longer train each (the plain steps before `start_step`, trained once and
shared through the run store), out of all the plan's steps; with `--measure`, seconds too, at the plain step time
measured on the default world (`xltlib.run.step_cost`). Results to outputs/bench/warmup_sharing.json."""
from __future__ import annotations

import argparse
import ast
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "02_robust_training.ipynb"


def notebook_defaults(notebook: Path) -> dict:
    """The literal assignments of a notebook's parameters cell."""
    from xltlib.app.runner import parameters_cell_source

    values = {}
    for node in ast.parse(parameters_cell_source(notebook)).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def saving(cfg, n_train: int, world) -> dict:
    """Steps and dev evaluations of the plan, and those its runs skip by starting from a shared warm-up, in the
    order `run_experiment` trains them (the first run of a warm-up trains and saves it)."""
    from xltlib.run.experiment import warmup_prefixes
    from xltlib.run.plan import plan

    total = saved = evals_saved = 0
    rows = []
    for task, task_plan in plan(cfg).items():
        args = task_plan.cfg
        steps_per_epoch = math.ceil(min(n_train, args.max_train_samples or n_train) / args.per_device_train_batch_size
                                    / args.gradient_accumulation_steps)
        steps = max(1, math.ceil(args.num_train_epochs * steps_per_epoch))
        eval_every = max(1, steps_per_epoch // args.evals_per_epoch)
        for seed in cfg.seeds:
            saved_dirs = set()
            for method in cfg.methods:
                prefixes = [p for p in warmup_prefixes(Path("store"), task_plan, method, seed, "embedded", world,
                                                       cfg.methods) if p.step <= steps]
                skipped = max((p.step for p in prefixes if p.directory in saved_dirs), default=0)
                saved_dirs |= {p.directory for p in prefixes}
                total, saved = total + steps, saved + skipped
                evals_saved += skipped // eval_every
                rows.append({"task": task, "seed": seed, "method": method, "steps": steps, "skipped": skipped})
    return {"runs": rows, "steps": total, "steps_saved": saved, "dev_evals_saved": evals_saved}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, help="this many seeds (1..N) instead of the notebook's")
    parser.add_argument("--measure", action="store_true",
                        help="time a plain step on the default world (needs it built) to give seconds")
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs")
    args = parser.parse_args()
    from xltlib.core.config import RunConfig
    from xltlib.world.build import PRESETS, World, world_dir

    defaults = notebook_defaults(NOTEBOOK)
    fields = {k: v for k, v in defaults.items() if k in RunConfig.__dataclass_fields__ and v is not None}
    if args.seeds:
        fields["seeds"] = list(range(1, args.seeds + 1))
    cfg = RunConfig(**fields)
    preset = PRESETS[cfg.world_preset]
    world = World(preset, world_dir(preset))  # only its name enters the keys: nothing is read here
    result = {"notebook": NOTEBOOK.name, "methods": list(cfg.methods), "tasks": list(cfg.tasks),
              "seeds": list(cfg.seeds), **saving(cfg, preset.n_train, world)}
    line = (f"{NOTEBOOK.stem}: {len(cfg.tasks)} tasks x {len(cfg.methods)} methods x {len(cfg.seeds)} seeds, "
            f"{result['steps_saved']} of {result['steps']} optimizer steps saved "
            f"({100 * result['steps_saved'] / result['steps']:.1f}%), {result['dev_evals_saved']} English-dev "
            f"evaluations saved")
    if args.measure:
        from xltlib.run.step_cost import step_cost_table

        table = step_cost_table(cfg, cfg.tasks[0], ["standard"], world=world)
        seconds_per_step = float(table.set_index("method").loc["standard", "ms_per_step"]) / 1000
        result.update(seconds_per_plain_step=seconds_per_step, seconds_saved=seconds_per_step * result["steps_saved"])
        line += f"; {result['seconds_saved']:.0f} s of plain steps at {1000 * seconds_per_step:.0f} ms a step"
    print(line)
    out = args.outputs / "bench" / "warmup_sharing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
