"""What notebook 02 costs at issue 11's sizes on this machine: a lower bound, from measured parts, against the
5-minute budget for a notebook.

The plan is notebook 02's own (its parameters cell: tasks, methods, method options, epochs, batch), at 10 seeds,
1,000 test and 300 attacked examples per language (issue 11), and also at its defaults (3 seeds, 500 / 300), whose
prediction is checked against the notebook's measured wall time. The parts, each measured here in one run:
- the optimizer steps each run still trains after shared warm-ups (`warmup_sharing.saving`, the run store's rule),
  split into plain steps and robust steps (after each method's `start_step`);
- the wall time of a step of each method (`xltlib.run.step_cost.step_cost_table`: medians over interleaved turns);
- the wall time of one run's evaluation (clean test languages, the generalized setting, PGD and synonym attacks),
  with the code `fine_tune_and_evaluate` runs (`evaluation.py`'s worker), on a model trained for the notebook's
  budget, per task and size.
What is left out makes it a lower bound: English-dev evaluations during training, loading, the tables and figures,
and the warm-up runs' own saving. The bound assumes both cores busy all the time (CPU seconds / 2).

    python benchmarks/power_budget.py        # about 5 minutes; writes outputs/bench/power_budget.json
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 300  # DEVELOPERS.md: each notebook at most 5 minutes once the world is built
CORES = 2
PLANS = {"notebook 02 defaults": {"seeds": 3, "test": 500, "attacked": 300},
         "issue 11": {"seeds": 10, "test": 1000, "attacked": 300}}


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trained_steps(cfg, world) -> list[dict]:
    """Per run of the plan: plain and robust optimizer steps it trains itself (after shared warm-ups)."""
    saving = _sibling("warmup_sharing").saving(cfg, world.preset.n_train, world)
    rows = []
    for run in saving["runs"]:
        start = cfg.method_options.get(run["method"], {}).get("start_step", 0) if run["method"] != "standard" else 0
        robust_from = min(start, run["steps"]) if run["method"] != "standard" else run["steps"]
        rows.append({**run, "plain": max(0, robust_from - run["skipped"]), "robust": run["steps"] - robust_from})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench" / "power_budget.json")
    args = parser.parse_args()
    from xltlib.core.atomic import atomic_write_json
    from xltlib.core.config import RunConfig
    from xltlib.core.quiet import quiet_libraries
    from xltlib.run.step_cost import step_cost_table
    from xltlib.world.build import get_world

    quiet_libraries()
    sharing, evaluation = _sibling("warmup_sharing"), _sibling("evaluation")
    defaults = sharing.notebook_defaults(sharing.NOTEBOOK)
    fields = {k: v for k, v in defaults.items() if k in RunConfig.__dataclass_fields__ and v is not None}
    world = get_world(fields.get("world_preset", "default"))
    base = RunConfig(**fields)
    # Timed without `start_step`: the timed steps are the method's own, not the plain warm-up before it.
    timed = RunConfig(**{**fields, "method_options": {m: {k: v for k, v in o.items() if k != "start_step"}
                                                      for m, o in base.method_options.items()}})
    step_ms = {}
    for task in base.tasks:
        table = step_cost_table(timed, task, base.methods, world=world)
        step_ms[task] = dict(zip(table["method"], table["ms_per_step"]))
        print(f"{task}: ms per step " + ", ".join(f"{m} {v:.0f}" for m, v in step_ms[task].items()), flush=True)

    eval_seconds = {}
    with tempfile.TemporaryDirectory(prefix="bench-power-") as tmp:
        worker_args = argparse.Namespace(suite="notebook02", preset=world.preset.name)
        for task in base.tasks:
            model = Path(tmp) / task
            evaluation.train_model(task, world.preset.name, 376, model)
            for name, plan in PLANS.items():
                result = evaluation.run_worker(ROOT, task, model, plan["test"], plan["attacked"], worker_args)
                eval_seconds[(task, name)] = result["evaluate_seconds"] + result["robustness_seconds"]
                print(f"{task} {name}: one run's evaluation {eval_seconds[(task, name)]:.1f} s", flush=True)

    report = {"what": __doc__.splitlines()[0], "budget_seconds": BUDGET_SECONDS, "cores": CORES,
              "machine": platform.platform(), "step_ms": step_ms, "plans": {}}
    for name, plan in PLANS.items():
        cfg = RunConfig(**{**fields, "seeds": list(range(1, plan["seeds"] + 1))})
        runs = trained_steps(cfg, world)
        train_s = sum((r["plain"] * step_ms[r["task"]]["standard"] + r["robust"] * step_ms[r["task"]][r["method"]])
                      / 1000 for r in runs)
        eval_s = sum(eval_seconds[(r["task"], name)] for r in runs)
        bound = (train_s + eval_s) / CORES
        report["plans"][name] = {**plan, "runs": len(runs), "steps_trained": sum(r["plain"] + r["robust"] for r in runs),
                                 "training_cpu_seconds": train_s, "evaluation_cpu_seconds": eval_s,
                                 "lower_bound_wall_seconds": bound, "times_budget": bound / BUDGET_SECONDS}
        print(f"{name} ({plan['seeds']} seeds, {plan['test']} test / {plan['attacked']} attacked per language): "
              f"{len(runs)} runs, training {train_s / 60:.1f} CPU-min, evaluation {eval_s / 60:.1f} CPU-min; "
              f"at least {bound / 60:.1f} min on {CORES} cores = {bound / BUDGET_SECONDS:.1f}x the 5-minute budget")
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
