"""The wall time of a training step per method, measured inside the real loop (`xltlib.run.loop.train`), as a
ratio to plain fine-tuning: methods take turns in short interleaved rounds, so a load change on a shared
machine lands on every method alike. benchmarks/robust_step_cost.py and the robust-training notebook use it.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import statistics
import time

import pandas as pd

from ..core.config import TrainArgs
from ..methods.spec import METHODS, MethodContext
from ..tasks.models import load_model, load_tokenizer, resolve_model_path
from .experiment import load_task_data, method_context
from .loop import train


class IterationClock:
    """Wraps a collator; the times between its calls are the loop's iterations (perturb, collate, the
    method's loss, backward, clip, optimizer and scheduler step), in wall time and in this process's CPU
    time (with one thread, CPU time is what the step costs without other tenants' load)."""

    def __init__(self, collate):
        self.collate, self.stamps = collate, []

    def __call__(self, examples):
        self.stamps.append((time.perf_counter(), time.process_time()))
        return self.collate(examples)

    def intervals(self, skip: int, clock: int) -> list[float]:
        return [b[clock] - a[clock] for a, b in zip(self.stamps, self.stamps[1:])][skip:]


def ratio_summary(turns: list[list[float]], standard_turns: list[list[float]]) -> dict:
    """Median step over all turns, and the ratio to standard: the median over turns of (this method's
    median / standard's median in the same turn), so a load change during one turn cancels out."""
    steps = [t for turn in turns for t in turn]
    ratios = [statistics.median(mine) / statistics.median(theirs) for mine, theirs in zip(turns, standard_turns)]
    return {"median_step_seconds": statistics.median(steps), "quartiles_seconds": statistics.quantiles(steps, n=4),
            "per_turn_ratios": ratios, "ratio_to_standard": statistics.median(ratios)}


def time_methods(rows: list[tuple[str, str, dict]], base_model, context: MethodContext, examples: list[dict],
                 collate, args: TrainArgs, *, steps: int, rounds: int, warmup: int = 2) -> list[dict]:
    """`rows` are (name, method, options over its defaults); the first must be plain fine-tuning, the
    reference of every ratio. Each method trains its own copy of `base_model` for `rounds` turns of about
    `steps / rounds` timed steps (after `warmup` dropped ones); the first method of a turn rotates. Returns
    per row its options, timed steps and the wall and CPU summaries of `ratio_summary`."""
    runs = []
    for name, method, options in rows:
        spec = METHODS[method]
        model = copy.deepcopy(base_model).train()
        runs.append({"name": name, "method": method, "options": options, "model": model,
                     "perturbation": spec.build(context, spec.resolve(options)),
                     "wall": [], "cpu": []})
    per_turn = -(-steps // rounds) + warmup + 1
    for turn in range(rounds):
        for run in runs[turn % len(runs):] + runs[:turn % len(runs)]:
            clock = IterationClock(collate)
            with contextlib.redirect_stderr(io.StringIO()):  # the loop's progress bar: noise here
                train(run["model"], examples, clock, args, seed=turn + 1, perturbation=run["perturbation"],
                      max_steps=per_turn, desc=run["name"])
            run["wall"].append(clock.intervals(warmup, 0))
            run["cpu"].append(clock.intervals(warmup, 1))
    return [{"name": run["name"], "method": run["method"], "options": run["options"],
             "resolved_options": {**METHODS[run["method"]].options, **run["options"]},
             "timed_steps": sum(len(t) for t in run["wall"]),
             "wall": ratio_summary(run["wall"], runs[0]["wall"]), "cpu": ratio_summary(run["cpu"], runs[0]["cpu"])}
            for run in runs]


def step_cost_table(cfg, task: str, methods, *, steps: int = 24, rounds: int = 4, world=None) -> pd.DataFrame:
    """The cost of a training step of each of `methods` (with the run's `method_options`) on `task`'s English
    training data and the run's model, batch size and sequence length: one row per method with the median
    wall seconds per step and the ratio to `standard` (measured too, first, if not listed)."""
    from ..tasks.handlers import handler_for

    model_path = resolve_model_path(cfg.model_name_or_path, world)
    data = load_task_data(cfg, task, world)
    methods = ["standard"] + [m for m in methods if m != "standard"]
    base = load_model(model_path, data.spec, METHODS["standard"].init, seed=0)
    handler = handler_for(data.spec)
    collate = handler.collate(data.spec, load_tokenizer(model_path), cfg, handler.max_length(base, cfg))
    train_fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(TrainArgs)}
    # The clock times the loop's per-batch collation, so batches are the shuffled ones, not length-grouped.
    args = TrainArgs(**{**train_fields, "save_steps": 10**9, "warmup_ratio": 0.0, "group_by_length": False})
    rows = [(m, m, cfg.method_options.get(m, {})) for m in methods]
    measured = time_methods(rows, base, method_context(base, data.spec, world), data.train, collate, args,
                            steps=steps, rounds=rounds)
    return pd.DataFrame([{"task": task, "method": r["method"], "ms_per_step": 1000 * r["wall"]["median_step_seconds"],
                          "ratio_to_standard": r["wall"]["ratio_to_standard"],
                          "cpu_ratio_to_standard": r["cpu"]["ratio_to_standard"], "timed_steps": r["timed_steps"]}
                         for r in measured])
