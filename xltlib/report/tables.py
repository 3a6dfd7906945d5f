"""Each notebook's main tables and one figure, rebuilt from a run's long records alone (notebook 10): no training,
no world. Notebook 01: accuracy per language, the gap over the from-scratch control, the generalized setting and
the embedded world's acceptance checks; notebook 02: accuracy clean and under each attack, and each robust
method's gain over standard on both; notebook 03: each task's headline score, the gap over the control, and the
task-group and XTREME-R scores. Gains are paired by seed (`compare.gain_summary`); every table of gains has a
companion of its macro averages with their interval's half-width. A notebook not listed gets the headline table.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..core.atomic import atomic_write_text
from ..tasks.catalogue import TASKS
from ..tasks.spec import TaskGroup
from . import compare, plots
from . import xtreme as xtreme_report
from .leaderboard import seed_scores
from .results import METRIC_COLUMNS, macro_average, summarize

ATTACK_PREFIX = "accuracy_under_"


def chance_levels(tasks) -> dict[str, float]:
    """{task: accuracy by chance} for the tasks scored by accuracy over a fixed label set (pairs, choices)."""
    return {task: 1 / TASKS[task].num_labels for task in tasks
            if TASKS[task].metric == "accuracy" and TASKS[task].num_labels}


def run_rungs(records: pd.DataFrame, ladder: dict[str, int]) -> dict[str, int] | None:
    """{language: rung} of a run's test languages, nearest first, when every one is on `ladder` (the embedded
    world's {code: rung}); None otherwise (the real path: no ladder)."""
    langs = list(dict.fromkeys(records[records.split == "test"].lang))
    if not langs or any(lang not in ladder for lang in langs):
        return None
    return {lang: ladder[lang] for lang in plots.language_order(ladder, langs)}


def _order(records: pd.DataFrame, rungs) -> list[str]:
    langs = list(rungs) if rungs else list(dict.fromkeys(records[records.split == "test"].lang))
    return langs + ["avg"]


def half_width_table(gains: pd.DataFrame) -> pd.DataFrame:
    """The macro-average gains (rows of `compare.gain_summary`, lang "avg") one per row: seeds, the gain in points
    with its 95% interval, the interval's half-width, and whether it excludes zero (one seed: no interval)."""
    rows = compare.points(gains[gains.lang == "avg"], compare.GAIN_BOUNDS)
    verdict = ["one seed, no interval" if pd.isna(r.ci_low) else "beyond seed noise" if r.ci_low > 0 or r.ci_high < 0
               else "no significant difference" for r in rows.itertuples()]
    return pd.DataFrame({
        "task": rows.task, "method": rows.method, "split": rows.split, "metric": rows.metric, "seeds": rows.n,
        "gain (points) [95% CI]": [compare.interval_cell(r.mean, r.ci_low, r.ci_high, signed=True)
                                   for r in rows.itertuples()],
        "half-width": [compare.format_number(100 * h) for h in rows.half_width], "verdict": verdict,
    }).reset_index(drop=True)


def _gains(records: pd.DataFrame, methods, baseline: str) -> pd.DataFrame | None:
    """Each of `methods` (those present) minus `baseline` on the test splits, paired by seed; None without both."""
    present = set(records.method)
    tested = records[records.split.isin(["test", "test_generalized"])]
    frames = [compare.gain_summary(tested, m, baseline) for m in methods if m in present and m != baseline]
    return pd.concat(frames, ignore_index=True) if frames and baseline in present else None


def baseline_tables(records: pd.DataFrame, rungs=None) -> dict[str, pd.DataFrame]:
    """Notebook 01's tables (see the module docstring); the acceptance checks need the ladder (`rungs`) and the
    standard model."""
    records = records[records.metric == "accuracy"]
    summary, order = summarize(macro_average(records)), _order(records, rungs)
    out = {"test accuracy per language (points [95% CI])": compare.interval_table(summary, order=order)}
    gains = _gains(records, ["standard"], "scratch")
    if gains is not None:
        out["gap standard - scratch per language (points [95% CI])"] = compare.gain_table(gains, order=order)
        out["gap standard - scratch, macro averages"] = half_width_table(gains)
    if (summary.split == "test_generalized").any():
        out["generalized setting, macro average over language pairs (points [95% CI])"] = compare.interval_table(
            summary[summary.lang == "avg"], split="test_generalized", index=("method",), columns="task")
    standard_en = (records.method == "standard") & (records.lang == "en") & (records.split == "test")
    if rungs and standard_en.any():
        chance = chance_levels(records.task.unique())
        out["acceptance checks of the embedded world"] = compare.acceptance_table(
            compare.world_acceptance(summary, gains, rungs, records, chance=chance))
    return out


def robust_tables(records: pd.DataFrame, rungs=None) -> dict[str, pd.DataFrame]:
    """Notebook 02's tables: clean accuracy, the generalized setting and accuracy under each attack, each with
    every other method's gain over `standard`, and those gains' macro averages with their half-widths."""
    attacks = sorted(m for m in set(records.metric) if m.startswith(ATTACK_PREFIX))
    records = records[records.metric.isin(["accuracy", *attacks])]
    summary, order = summarize(macro_average(records)), _order(records, rungs)
    gains = _gains(records, list(dict.fromkeys(records.method)), "standard")
    out = {}
    for metric in ["accuracy", *attacks]:
        what = plots.metric_label(metric) if metric != "accuracy" else "clean accuracy"
        out[f"{what} per language (points [95% CI])"] = compare.interval_table(summary[summary.metric == metric],
                                                                                order=order)
        if gains is not None:
            out[f"gain over standard, {what} (points [95% CI])"] = compare.gain_table(
                gains[gains.metric == metric], order=order)
    if (summary.split == "test_generalized").any():
        generalized = summary[(summary.lang == "avg") & (summary.metric == "accuracy")]
        out["generalized setting, macro average (points [95% CI])"] = compare.interval_table(
            generalized, split="test_generalized", index=("method",), columns="task")
    if gains is not None:
        out["gains over standard, macro averages"] = half_width_table(gains)
    return out


def xtreme_tables(records: pd.DataFrame, rungs=None, xtreme_version: str = "xtreme-r") -> dict[str, pd.DataFrame]:
    """Notebook 03's tables: each task's headline score per language, QA's exact match and F1, the gap over the
    control, and the task groups with the XTREME-R score (each group the mean of its tasks here, the score the
    mean over groups, per seed: `leaderboard.seed_scores`), with their gap over the control."""
    headline = xtreme_report.headline_records(records)
    summary, order = summarize(macro_average(headline)), _order(records, rungs)
    out = {"headline score per task and language (points [95% CI])": compare.interval_table(summary, order=order)}
    qa = records[records.task.map(xtreme_report.task_family).eq("qa") & records.metric.isin(["exact_match", "f1"])]
    if not qa.empty:
        out["QA: exact match and F1 (points [95% CI])"] = compare.interval_table(
            summarize(macro_average(qa)), index=("task", "metric", "method"), order=order)
    gains = _gains(headline, ["standard"], "scratch")
    if gains is not None:
        out["gap standard - scratch per language (points [95% CI])"] = compare.gain_table(gains, order=order)
    benchmark = benchmark_records(records, xtreme_version)
    if not benchmark.empty:
        out[f"task groups and the {xtreme_version} score (points [95% CI])"] = compare.interval_table(
            summarize(benchmark), index=("method",), columns="task")
    if gains is not None and not benchmark.empty:
        gains = pd.concat([gains, compare.gain_summary(benchmark, "standard", "scratch")], ignore_index=True)
    if gains is not None:
        out["gap standard - scratch, macro averages, groups and score"] = half_width_table(gains)
    return out


def benchmark_records(records: pd.DataFrame, xtreme_version: str = "xtreme-r") -> pd.DataFrame:
    """One run's group scores and `xtreme_report.OVERALL` per method and seed as long records (lang "avg",
    metric "score"), as notebook 03's `benchmark.csv` holds them, computed from the records alone."""
    scores = seed_scores(records.assign(notebook="", run=""), xtreme_version)
    names = [g for g in [*(group.value for group in TaskGroup), xtreme_report.OVERALL] if g in scores.columns]
    if scores.empty or not names:
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    long = scores.melt(id_vars=["method", "seed"], value_vars=names, var_name="task").dropna(subset=["value"])
    return long.assign(lang="avg", split="test", metric=xtreme_report.SCORE_METRIC)[
        list(METRIC_COLUMNS)].reset_index(drop=True)


TABLES = {"01_zero_shot_baseline": baseline_tables, "02_robust_training": robust_tables,
          "03_xtreme_r_baseline": xtreme_tables}


def run_tables(notebook: str, records: pd.DataFrame, config: dict, ladder: dict[str, int]) -> dict:
    """{title: table} of one run of `notebook` (its records and saved `config`); `ladder` is the embedded world's
    {language: rung}, used when every test language is on it. A notebook without its own tables gets notebook
    03's headline table."""
    rungs = run_rungs(records, ladder) if config.get("world", "embedded") == "embedded" else None
    if notebook == "03_xtreme_r_baseline":
        return xtreme_tables(records, rungs, config.get("xtreme_version", "xtreme-r"))
    if notebook in TABLES:
        return TABLES[notebook](records, rungs)
    headline = xtreme_report.headline_records(records)
    return {"headline score per task and language (points [95% CI])": compare.interval_table(
        summarize(macro_average(headline)), order=_order(records, rungs))}


def run_figure(notebook: str, records: pd.DataFrame, config: dict, ladder: dict[str, int]):
    """The main figure of one run of `notebook`, from its records alone, or None (a notebook without one, or
    records that have nothing to draw): notebook 01 its accuracy bars per language with a dot per seed and the
    chance line, 02 its forest of macro-average gains over standard (clean, generalized, under each attack), 03
    its heatmap of each task's headline score per language, one panel per method."""
    rungs = run_rungs(records, ladder) if config.get("world", "embedded") == "embedded" else None
    tested = records[records.split == "test"]
    tasks, methods = list(dict.fromkeys(tested.task)), list(dict.fromkeys(tested.method))
    if not tasks:
        return None
    if notebook == "01_zero_shot_baseline":
        seeds = macro_average(tested[tested.metric == "accuracy"])
        summary, chance, order = summarize(seeds), chance_levels(tasks), _order(records, rungs)
        return plots.panels(tasks, lambda ax, task: plots.bar_by_language(
            summary, task, langs=order, methods=methods, ax=ax, chance=chance.get(task), records=seeds),
            panel_size=(7, 3.8))
    if notebook == "02_robust_training":
        attacks = sorted(m for m in set(records.metric) if m.startswith(ATTACK_PREFIX))
        gains = _gains(records[records.metric.isin(["accuracy", *attacks])], methods, "standard")
        if gains is None:
            return None
        return plots.gain_forest(gains, compare.gain_views(attacks), tasks=tasks,
                                 methods=[f"{m}-standard" for m in methods if m != "standard"])
    if notebook == "03_xtreme_r_baseline":
        summary, order = summarize(macro_average(xtreme_report.headline_records(tested))), _order(records, rungs)
        return plots.panels(methods, lambda ax, method: _level_labels(plots.task_language_heatmap(
            summary, method, tasks=tasks, langs=order, ax=ax)), panel_size=(7.5, 0.5 * len(tasks) + 2))
    return None


def _level_labels(ax):
    """Task names read across: seaborn turns them upright when a narrow panel crowds them, where they overlap."""
    ax.tick_params(axis="y", labelrotation=0)
    return ax


def save_tables(directory, named: dict[str, pd.DataFrame]) -> list[Path]:
    """Write each table of `named` ({title: table}, as `run_tables` gives) to `directory` as CSV, atomically, named
    by its place and title (`01_test-accuracy-per-language.csv`); a CSV left there by an earlier call that this
    one does not write is removed, so the folder holds this call's tables only. Returns the paths written."""
    paths = []
    for number, (title, table) in enumerate(named.items(), start=1):
        slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"\(.*?\)|\[.*?\]", "", title.lower())).strip("-")
        path = Path(directory) / f"{number:02d}_{slug}.csv"
        atomic_write_text(path, table.to_csv())
        paths.append(path)
    for stale in set(Path(directory).glob("*.csv")) - set(paths):
        stale.unlink()
    return paths
