"""Figures with seaborn, drawn from the output of `results.summarize` (so every error bar is the same
95% t-interval over seeds that the tables report).

Single panels (`bar_by_language`, `generalized_heatmap`, ...) draw on an `ax` they are given; `panels` (one panel
per task, or per method) and `panel_grid` (e.g. methods x tasks) lay such panels out and return the figure, so a
notebook says what each panel shows and nothing about the layout."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

sns.set_theme(style="whitegrid", context="notebook")


def _error_bars(ax, data: pd.DataFrame, x: str, hue: str, order, hue_order) -> None:
    """Draw the summary's interval on each bar of a seaborn barplot (bars are in hue-major order)."""
    for patch_group, level in zip(ax.containers, hue_order):
        rows = data[data[hue] == level].set_index(x).reindex(order)
        centers = [p.get_x() + p.get_width() / 2 for p in patch_group]
        low = (rows["mean"] - rows["ci_low"]).to_numpy()
        high = (rows["ci_high"] - rows["mean"]).to_numpy()
        ax.errorbar(centers, rows["mean"].to_numpy(), yerr=np.nan_to_num(np.vstack([low, high])),
                    fmt="none", ecolor="black", elinewidth=1, capsize=2)


def panels(items, draw, panel_size=(7.0, 3.8), suptitle: str | None = None):
    """One panel per item (a task, a method), side by side: `draw(ax, item)` draws each. Returns the figure."""
    items = list(items)
    width, height = panel_size
    fig, axes = plt.subplots(1, len(items), figsize=(width * len(items), height), squeeze=False)
    for ax, item in zip(axes[0], items):
        draw(ax, item)
    return _finish(fig, suptitle)


def panel_grid(rows, columns, draw, panel_size=(6.5, 5.0), suptitle: str | None = None):
    """A grid of panels, one per (row, column), e.g. methods x tasks or metrics x tasks:
    `draw(ax, row, column)` draws each. Returns the figure."""
    rows, columns = list(rows), list(columns)
    width, height = panel_size
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(width * len(columns), height * len(rows)),
                             squeeze=False)
    for row_axes, row in zip(axes, rows):
        for ax, column in zip(row_axes, columns):
            draw(ax, row, column)
    return _finish(fig, suptitle)


def _finish(fig, suptitle: str | None):
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def bar_by_language(summary: pd.DataFrame, task: str, split: str = "test", langs=None, methods=None,
                    ax=None, chance: float | None = None, title: str | None = None):
    """One bar per language and method: mean over seeds with its 95% interval (`title` replaces the default
    one, which names the task, split and metric)."""
    data = summary[(summary.task == task) & (summary.split == split)]
    langs = list(langs or data.lang.unique())
    methods = list(methods or data.method.unique())
    data = data[data.lang.isin(langs) & data.method.isin(methods)]
    ax = ax or plt.subplots(figsize=(1.2 * len(langs) + 2, 3.5))[1]
    sns.barplot(data=data, x="lang", y="mean", hue="method", order=langs, hue_order=methods, ax=ax,
                errorbar=None)
    _error_bars(ax, data, "lang", "method", langs, methods)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    metric = data.metric.iloc[0] if len(data) else ""
    ax.set(title=title or f"{task}: {split} {metric} per language (95% CI over seeds)", xlabel="language",
           ylabel=metric, ylim=(0, 1))
    # Beside the axes: inside, any corner hides bars (they start at 0 and English is often near 1).
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    return ax


def generalized_heatmap(summary: pd.DataFrame, task: str, method: str, langs=None, ax=None,
                        split: str = "test_generalized", **heatmap_kwargs):
    """Rows: language of sentence 1; columns: language of sentence 2; cells: mean over seeds. With `center`
    (a diverging map, e.g. gains) and no `vmin`/`vmax`, the color range is symmetric about the center, so a
    color means the same side of it in every panel (an all-zero panel is all center color)."""
    data = summary[(summary.task == task) & (summary.method == method) & (summary.split == split)
                   & (summary.lang != "avg")].copy()
    data[["lang1", "lang2"]] = data.lang.str.split("-", n=1, expand=True)
    langs = list(langs or dict.fromkeys(data.lang1))
    grid = data.pivot(index="lang1", columns="lang2", values="mean").reindex(index=langs, columns=langs)
    ax = ax or plt.subplots(figsize=(0.7 * len(langs) + 2, 0.6 * len(langs) + 1.5))[1]
    options = dict(annot=True, fmt=".2f", cmap="viridis", cbar_kws={"label": data.metric.iloc[0] if len(data) else ""})
    options.update(heatmap_kwargs)
    if options.get("center") is not None and "vmin" not in options and "vmax" not in options:
        spread = float(np.nanmax(np.abs(grid.to_numpy(dtype=float) - options["center"]), initial=0.0))
        spread = spread or 1.0
        options.update(vmin=options["center"] - spread, vmax=options["center"] + spread)
    sns.heatmap(grid, ax=ax, **options)
    ax.set(title=f"{task}, {method}: generalized setting", xlabel="sentence 2 language",
           ylabel="sentence 1 language")
    return ax


def by_distance(summary: pd.DataFrame, rungs: dict[str, int], split: str = "test", methods=None, ax=None):
    """Score against the language's rung on the ladder of distance from English, per task and method."""
    data = summary[(summary.split == split) & summary.lang.isin(rungs)].copy()
    if methods:
        data = data[data.method.isin(methods)]
    data["rung"] = data.lang.map(rungs)
    data["series"] = data.task + " / " + data.method
    ax = ax or plt.subplots(figsize=(6, 3.8))[1]
    for name, rows in data.sort_values("rung").groupby("series", sort=True):
        rows = rows.groupby("rung", as_index=False).agg(mean=("mean", "mean"), ci_low=("ci_low", "mean"),
                                                       ci_high=("ci_high", "mean"))
        ax.errorbar(rows.rung, rows["mean"], yerr=np.nan_to_num([rows["mean"] - rows.ci_low, rows.ci_high - rows["mean"]]),
                    marker="o", capsize=3, label=name)
    ax.set(xlabel="rung on the ladder (distance from English)", ylabel=data.metric.iloc[0] if len(data) else "",
           title="zero-shot score against language distance", xticks=sorted(set(rungs.values())), ylim=(0, 1))
    ax.legend(fontsize="small")
    return ax


def gain_by_distance(gain_summary: pd.DataFrame, rungs: dict[str, int], split: str = "test", ax=None):
    """Paired gain over the baseline (method names `"<method>-<baseline>"`, from `compare.gain_summary`)
    against the language's rung, one line per task and method, with the 95% interval of the gain. The title
    names the task when there is one (one panel per task)."""
    data = gain_summary[(gain_summary.split == split) & gain_summary.lang.isin(rungs)].copy()
    data["rung"] = data.lang.map(rungs)
    ax = ax or plt.subplots(figsize=(6.5, 3.8))[1]
    for (task, method), rows in data.groupby(["task", "method"], sort=True):
        rows = rows.groupby("rung", as_index=False).agg(mean=("mean", "mean"), ci_low=("ci_low", "mean"),
                                                       ci_high=("ci_high", "mean"))
        ax.errorbar(rows.rung, 100 * rows["mean"], capsize=3, marker="o", label=f"{task} / {method}",
                    yerr=100 * np.nan_to_num([rows["mean"] - rows.ci_low, rows.ci_high - rows["mean"]]))
    ax.axhline(0, color="grey", linewidth=1)
    tasks = list(dict.fromkeys(data.task))
    ax.set(xlabel="rung on the ladder (distance from English)", ylabel="gain over standard (points)",
           title=(f"{tasks[0]}: " if len(tasks) == 1 else "") + "gain against language distance (95% CI over seeds)",
           xticks=sorted(set(rungs.values())))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="x-small", frameon=False)
    return ax


def task_language_heatmap(summary: pd.DataFrame, method: str, tasks=None, langs=None, split: str = "test",
                          ax=None, **heatmap_kwargs):
    """Rows: tasks; columns: languages; cells: each task's mean score over seeds in points (summary rows of
    one metric per task, e.g. `xtreme_report.headline_records`). A language a task is not tested on is blank."""
    data = summary[(summary.method == method) & (summary.split == split)]
    tasks = list(tasks or dict.fromkeys(data.task))
    langs = list(langs or dict.fromkeys(data.lang))
    duplicated = data[data.duplicated(["task", "lang"])]
    if not duplicated.empty:
        row = duplicated.iloc[0]
        raise ValueError(f"task_language_heatmap: task {row.task!r} has several metrics for {row.lang!r}; "
                         "keep one metric per task (xtreme_report.headline_records)")
    grid = 100 * data.pivot(index="task", columns="lang", values="mean").reindex(index=tasks, columns=langs)
    ax = ax or plt.subplots(figsize=(0.8 * len(langs) + 2.5, 0.5 * len(tasks) + 1.5))[1]
    options = dict(annot=True, fmt=".0f", cmap="viridis", vmin=0, vmax=100, cbar_kws={"label": "score (points)"})
    options.update(heatmap_kwargs)
    sns.heatmap(grid, ax=ax, **options)
    ax.set(title=f"{method}: {split} score per task and language (mean over seeds)", xlabel="language",
           ylabel="task")
    return ax


def by_distance_per_family(summary: pd.DataFrame, rungs: dict[str, int], family_of, methods=None,
                           split: str = "test", tasks=None, ncols: int = 3):
    """One panel per task family (`family_of(task)`, e.g. `xtreme_report.task_family`), in the order of `tasks`
    if given: each task's score against its languages' rung, one line per task and method, with 95% intervals
    over seeds."""
    data = summary[summary.split == split]
    families = list(dict.fromkeys(family_of(task) for task in (tasks or data.task) if task in set(data.task)))
    ncols = min(ncols, len(families))
    nrows = -(-len(families) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.6 * nrows + 0.4), squeeze=False)
    for ax, family in zip(axes.flat, families):
        by_distance(data[data.task.map(family_of) == family], rungs, split=split, methods=methods, ax=ax)
        ax.set(title=family.replace("_", " "), ylabel="score")
    for ax in list(axes.flat)[len(families):]:
        fig.delaxes(ax)
    fig.suptitle("zero-shot score against distance from English (95% CI over seeds)")
    fig.tight_layout()
    return fig


def step_cost_bars(step_costs: pd.DataFrame, task: str, ax=None):
    """Each method's wall time per training step as a ratio to a `standard` step (rows of
    `step_cost_table`: columns `method` and `ratio_to_standard`), with the line at 1."""
    ax = step_costs.plot.bar(x="method", y="ratio_to_standard", legend=False, figsize=(6, 3), ax=ax, rot=0)
    ax.axhline(1, color="grey", linewidth=1)
    ax.set(ylabel="x a standard step", title=f"cost per training step ({task})")
    return ax
