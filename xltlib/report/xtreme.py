"""The XTREME-R report of a run (notebook 03): each task's one headline number per language, the task-group and
XTREME-R scores per method and seed, and sentences that say what those numbers show.

Group and overall scores come from the exported submission folders through `xltlib.scorer.score_tasks`, the
one function that computes them (Ruder et al., EMNLP 2021: the XTREME-R score is the mean over task groups of
each group's mean task score; a task's score is its average over languages, English included). They are returned
as long-format records (task = the group's name or "xtreme-r", lang "avg"), so `results.summarize` gives their
intervals over seeds and `compare.gain_summary` their gap over a baseline, paired by seed, like any task's.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .compare import GAIN_BOUNDS, SCORE_BOUNDS, format_number, points
from .results import METRIC_COLUMNS, differs_beyond_noise
from .scorer import score_tasks
from ..tasks.catalogue import TASKS

OVERALL = "xtreme-r"  # the task name under which the overall score (mean over groups) is recorded
SCORE_METRIC = "score"


def headline_metric(task: str) -> str:
    """The metric a task is ranked by: its registered one (span QA: (EM + F1) / 2, recorded as 'squad')."""
    return TASKS[task].metric


def headline_records(records: pd.DataFrame) -> pd.DataFrame:
    """Each task's headline-metric rows only (QA's exact match and F1 rows are dropped; their mean is kept)."""
    keep = records.metric == records.task.map(headline_metric)
    return records[keep].reset_index(drop=True)


def tested_langs(records: pd.DataFrame, split: str = "test") -> dict[str, tuple[str, ...]]:
    """{task: the languages it was tested on}, in the order they first appear."""
    rows = records[records.split == split]
    return {task: tuple(dict.fromkeys(group.lang)) for task, group in rows.groupby("task", sort=False)}


def task_family(task: str) -> str:
    """The task's benchmark group ('classification', 'structured_prediction', 'qa', 'retrieval'): tasks of one
    group share a figure panel."""
    return TASKS[task].group.value


def benchmark_records(run_dir, task_langs: dict, methods, seeds, xtreme_version: str = "xtreme-r") -> pd.DataFrame:
    """Group scores and the overall score (mean over groups), per method and seed, in [0, 1], scored by
    `score_tasks` from `<run_dir>/predictions/<method>/seed<seed>/` against `<run_dir>/labels/`."""
    run_dir, rows = Path(run_dir), []
    for method in methods:
        for seed in seeds:
            scores = score_tasks(run_dir / "predictions" / method / f"seed{seed}", run_dir / "labels", task_langs,
                                 xtreme_version)
            named = {**scores["groups"], OVERALL: scores["group_mean"]}
            rows += [{"task": name, "lang": "avg", "method": method, "seed": seed, "split": "test",
                      "metric": SCORE_METRIC, "value": value / 100} for name, value in named.items()
                     if value is not None]
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _points(row, signed: bool = False) -> str:
    """`mean (95% CI [low, high])` in points, the interval clipped to the range of a score (0-100) or a gap
    (-100..100): a t-interval over two seeds can run past it."""
    shown = points(pd.DataFrame([row]), GAIN_BOUNDS if signed else SCORE_BOUNDS).iloc[0]
    text = format_number(shown["mean"], signed=signed)
    if pd.notna(shown.ci_low):
        low, high = (format_number(v, signed=signed) for v in (shown.ci_low, shown.ci_high))
        text += f" (95% CI [{low}, {high}])"
    return text


def describe_benchmark(summary: pd.DataFrame, gains: pd.DataFrame | None = None) -> str:
    """One line per group and for the overall score: each method's mean over seeds with its interval, and the
    gap over the baseline (rows of `compare.gain_summary`, method `"<method>-<baseline>"`) with whether its
    interval excludes zero ("beyond seed noise") or not ("no significant difference")."""
    lines = []
    names = [n for n in summary.task.unique() if n != OVERALL] + ([OVERALL] if OVERALL in set(summary.task) else [])
    for name in names:
        rows = summary[summary.task == name]
        label = "XTREME-R score (mean over groups)" if name == OVERALL else f"{name.replace('_', ' ')} group"
        parts = [f"`{r.method}` {_points(r)}" for _, r in rows.iterrows()]
        for _, g in (gains[gains.task == name].iterrows() if gains is not None else ()):
            if pd.isna(g.ci_low):
                verdict = "one seed, no interval"
            elif g.ci_low > 0:
                verdict = "positive beyond seed noise"
            elif g.ci_high < 0:
                verdict = "negative beyond seed noise"
            else:
                verdict = "no significant difference"
            parts.append(f"gap `{g.method}` {_points(g, signed=True)}: {verdict}")
        lines.append(f"- **{label}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def describe_distance(summary: pd.DataFrame, rungs: dict[str, int], method: str = "standard",
                      split: str = "test") -> str:
    """Per task, the mean score on each rung of the ladder (languages of a rung averaged) and whether the
    nearest and the farthest tested language differ beyond seed noise (non-overlapping 95% intervals)."""
    lines = []
    data = summary[(summary.method == method) & (summary.split == split) & summary.lang.isin(rungs)]
    for task, group in data.groupby("task", sort=False):
        group = group.assign(rung=group.lang.map(rungs)).sort_values(["rung", "lang"])
        by_rung = group.groupby("rung")["mean"].mean()
        steps = ", ".join(f"rung {rung} {100 * value:.1f}" for rung, value in by_rung.items())
        near, far = group.iloc[0], group.iloc[-1]
        if near.rung == far.rung:
            verdict = "one rung only"
        elif near["std"] == 0 and far["std"] == 0:  # e.g. retrieval with the pretrained encoder: nothing is trained
            verdict = (f"{near.lang} (rung {near.rung}) {100 * near['mean']:.1f} vs {far.lang} (rung {far.rung}) "
                       f"{100 * far['mean']:.1f}, the same for every seed (no seed noise to compare with)")
        elif differs_beyond_noise(near, far):
            verdict = (f"{near.lang} (rung {near.rung}) and {far.lang} (rung {far.rung}) differ beyond seed noise "
                       f"({100 * near['mean']:.1f} vs {100 * far['mean']:.1f})")
        else:
            verdict = (f"no significant difference between {near.lang} (rung {near.rung}) and {far.lang} "
                       f"(rung {far.rung})")
        lines.append(f"- **{task}** ({group.metric.iloc[0]}, `{method}`): {steps}; {verdict}.")
    return "\n".join(lines)
