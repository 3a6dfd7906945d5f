"""Figures with seaborn and matplotlib, drawn from `results.summarize` rows (so every error bar is the same 95%
t-interval over seeds that the tables report), with defaults that do not overstate: scores and gains in points,
intervals clipped to the metric's range (0-100; gains -100..100), seeds as dots over the bars, one symmetric
colour scale for every panel of a gain figure with the cells whose interval includes zero hatched, language codes
ordered by distance from English on distance axes, legends outside the axes. A missing cell (an attack run on some
languages only, an absent method) leaves a gap, never an error.

Single panels draw on an `ax` they are given; `panels` (one per task, or per method) and `panel_grid` (e.g.
methods x tasks) lay panels out and return the figure, with one legend beside it when every panel has the same one.
`generalized_gain_grid`, `gain_forest` and `by_distance_per_task` build figures of their own."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from .compare import GAIN_BOUNDS, SCORE_BOUNDS, beyond_noise, format_number, gain_rows, points

sns.set_theme(style="whitegrid", context="notebook")

SCORE_YLIM = (0, 102)  # points; the margin above 100 keeps a cap drawn at 100 visible
GAIN_CMAP = "RdBu_r"  # red: better than the baseline
NOT_SIGNIFICANT_HATCH = "///"
SIGNIFICANT_COLOURS = {"positive": "#b2182b", "negative": "#2166ac", "none": "0.45"}
_METRIC_LABELS = {"map_at_20": "mAP@20", "bucc_f1": "F1", "seqeval": "F1 (seqeval)", "token_accuracy": "token accuracy",
                  "squad": "(EM + F1) / 2",
                  "exact_match": "exact match", "f1": "F1", "score": "score"}
_ATTACK_LABELS = {"pgd": "PGD"}


def metric_label(metric: str) -> str:
    """A metric's name for an axis or a title: `accuracy_under_pgd` -> "accuracy under PGD"."""
    if "_under_" in metric:
        base, attack = metric.split("_under_", 1)
        return f"{metric_label(base)} under {_ATTACK_LABELS.get(attack, attack.replace('_', ' '))}"
    return _METRIC_LABELS.get(metric, metric.replace("_", " "))


# -- layout ------------------------------------------------------------------------------------------------


def panels(items, draw, panel_size=(7.0, 3.8), suptitle: str | None = None):
    """One panel per item (a task, a method), side by side: `draw(ax, item)` draws each. Returns the figure."""
    items = list(items)
    width, height = panel_size
    fig, axes = plt.subplots(1, len(items), figsize=(width * len(items), height), squeeze=False,
                             layout="constrained")
    for ax, item in zip(axes[0], items):
        draw(ax, item)
    return _finish(fig, suptitle)


def panel_grid(rows, columns, draw, panel_size=(6.5, 5.0), suptitle: str | None = None):
    """A grid of panels, one per (row, column), e.g. methods x tasks or metrics x tasks:
    `draw(ax, row, column)` draws each. Returns the figure."""
    rows, columns = list(rows), list(columns)
    width, height = panel_size
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(width * len(columns), height * len(rows)),
                             squeeze=False, layout="constrained")
    for row_axes, row in zip(axes, rows):
        for ax, column in zip(row_axes, columns):
            draw(ax, row, column)
    return _finish(fig, suptitle)


def _finish(fig, suptitle: str | None):
    if suptitle:
        fig.suptitle(suptitle)
    share_legend(fig)
    return fig


def share_legend(fig) -> None:
    """Where every panel with a legend has the same entries, one legend beside the figure instead of one beside
    each panel (colours follow the entries, so equal entries mean equal colours). Panels that differ keep theirs."""
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    if len(legends) < 2:
        return
    entries = [[text.get_text() for text in legend.get_texts()] for legend in legends]
    if any(e != entries[0] for e in entries[1:]):
        return
    handles = legends[0].legend_handles
    for legend in legends:
        legend.remove()
    fig.legend(handles, entries[0], loc="outside right upper", fontsize="small", frameon=False)


def _legend_outside(ax, handles=None) -> None:
    """The legend beside the axes, never over the data (bars start at 0 and English is often near 100)."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, fontsize="small",
                  frameon=False)


def _new_ax(figsize):
    return plt.subplots(figsize=figsize, layout="constrained")[1]


def _palette(names) -> dict:
    names = list(names)
    return dict(zip(names, sns.color_palette("colorblind", max(len(names), 1))))


def _one_metric(data: pd.DataFrame, where: str) -> str:
    metrics = list(dict.fromkeys(data.metric))
    if len(metrics) > 1:
        raise ValueError(f"{where}: rows of several metrics {metrics}; pass the rows of one metric")
    return metrics[0] if metrics else ""


def _no_results(ax, title: str) -> None:
    ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set(title=title, xticks=[], yticks=[])


def _gain_baseline(methods) -> str:
    """The baseline of gain method names `"<method>-<baseline>"` (from `compare.gain_summary`), if one."""
    baselines = {m.rsplit("-", 1)[1] for m in methods if "-" in m}
    return baselines.pop() if len(baselines) == 1 else ""


def _method_part(name: str) -> str:
    return name.rsplit("-", 1)[0] if "-" in name else name


# -- bars ----------------------------------------------------------------------------------------------------


def bar_by_language(summary: pd.DataFrame, task: str, split: str = "test", langs=None, methods=None,
                    ax=None, chance: float | None = None, title: str | None = None, records=None):
    """One bar per language and method: the mean over seeds in points with its 95% interval (clipped to 0-100);
    with `records` (the long records `summary` came from), each seed's score as a dot on its bar. `title`
    replaces the default one (task, split, metric). A language or method without results leaves its slot empty;
    each method keeps its colour (its place in `methods`) whatever is missing."""
    data = summary[(summary.task == task) & (summary.split == split)]
    metric = _one_metric(data, f"bar_by_language({task!r})")
    data = points(data, SCORE_BOUNDS)
    langs = list(langs or dict.fromkeys(data.lang))
    methods = list(methods or dict.fromkeys(data.method))
    ax = ax or _new_ax((1.1 * len(langs) + 3.5, 3.6))
    colours, width = _palette(methods), 0.8 / max(len(methods), 1)
    cells = {(r.lang, r.method): r for r in data.itertuples()}
    seeds = None
    if records is not None:
        seeds = records[(records.task == task) & (records.split == split) & (records.metric == metric)]
    jitter = np.random.default_rng(0)  # seeded: the same figure every run
    for j, method in enumerate(methods):
        slots = [(i - 0.4 + width * (j + 0.5), cells.get((lang, method))) for i, lang in enumerate(langs)]
        slots = [(x, row) for x, row in slots if row is not None and pd.notna(row.mean)]
        xs = [x for x, _ in slots]
        ax.bar(xs, [row.mean for _, row in slots], width=0.92 * width, color=colours[method], label=method)
        bounded = [(x, row) for x, row in slots if pd.notna(row.ci_low) and pd.notna(row.ci_high)]
        if bounded:
            ax.errorbar([x for x, _ in bounded], [row.mean for _, row in bounded], fmt="none", ecolor="black",
                        elinewidth=1, capsize=2, yerr=[[row.mean - row.ci_low for _, row in bounded],
                                                       [row.ci_high - row.mean for _, row in bounded]])
        if seeds is not None:
            for x, row in slots:
                values = 100 * seeds[(seeds.lang == row.lang) & (seeds.method == method)].value.dropna()
                ax.scatter(x + jitter.uniform(-0.2, 0.2, len(values)) * width, values, s=14, color="black",
                           edgecolors="white", linewidths=0.5, zorder=3, clip_on=False, label="one seed")
    if chance is not None:
        ax.axhline(100 * chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set(title=title or f"{task}: {split} {metric_label(metric)} per language (95% CI over seeds)",
           xlabel="language", ylabel=f"{metric_label(metric)} (points)", ylim=SCORE_YLIM,
           xlim=(-0.5, len(langs) - 0.5))
    ax.set_xticks(range(len(langs)), langs)
    by_label = dict(zip(*reversed(ax.get_legend_handles_labels())))  # one "one seed" entry, not one per bar
    _legend_outside(ax, [by_label[name] for name in [*methods, "one seed", "chance"] if name in by_label])
    return ax


def step_cost_bars(step_costs: pd.DataFrame, task: str, ax=None):
    """Each method's wall time per training step as a ratio to a `standard` step (rows of
    `step_cost_table`: columns `method` and `ratio_to_standard`), with the line at 1."""
    ax = step_costs.plot.bar(x="method", y="ratio_to_standard", legend=False, figsize=(6, 3), ax=ax, rot=0)
    ax.axhline(1, color="grey", linewidth=1)
    ax.set(ylabel="x a standard step", title=f"cost per training step ({task})")
    return ax


# -- heatmaps --------------------------------------------------------------------------------------------


def generalized_heatmap(summary: pd.DataFrame, task: str, method: str, langs=None, ax=None,
                        split: str = "test_generalized", gain: bool = False, limit: float | None = None,
                        cbar: bool = True, title: str | None = None, **heatmap_kwargs):
    """Rows: language of sentence 1; columns: language of sentence 2; cells: the mean over seeds in points.
    Scores use the fixed scale 0-100. Gains (`gain=True`, rows of `compare.gain_summary`) use a diverging scale
    symmetric about zero, up to `limit` points (default: this panel's largest gain; `generalized_gain_grid`
    gives every panel one limit), and a cell whose 95% interval includes zero, or has none, is hatched."""
    data = summary[(summary.task == task) & (summary.method == method) & (summary.split == split)
                   & (summary.lang != "avg")]
    data = points(data, GAIN_BOUNDS if gain else SCORE_BOUNDS)
    pairs = [lang.split("-", 1) for lang in data.lang]
    data = data.assign(lang1=[p[0] for p in pairs], lang2=[p[-1] for p in pairs], significant=beyond_noise(data))
    langs = list(langs or dict.fromkeys(data.lang1))
    ax = ax or _new_ax((0.75 * len(langs) + 2.5, 0.6 * len(langs) + 1.5))
    title = title or f"{task}, {method}: generalized setting"
    if data.empty or not langs:
        _no_results(ax, title)
        return ax
    grid = (data.pivot_table(index="lang1", columns="lang2", values="mean", aggfunc="first")
            .reindex(index=langs, columns=langs).astype(float))
    labels = grid.map(lambda v: format_number(v, signed=gain))
    metric = _one_metric(data, f"generalized_heatmap({task!r}, {method!r})")
    if gain:
        limit = limit or _gain_limit(grid.to_numpy())
        options = dict(cmap=GAIN_CMAP, center=0, vmin=-limit, vmax=limit, cbar_kws={"label": "gain (points)"})
    else:
        options = dict(cmap="viridis", vmin=0, vmax=100, cbar_kws={"label": f"{metric_label(metric)} (points)"})
    options.update(annot=labels.to_numpy(), fmt="", cbar=cbar, annot_kws={"fontsize": "small"})
    options.update(heatmap_kwargs)
    sns.heatmap(grid, ax=ax, **options)
    ax.grid(False)  # the theme's grid would show through blank cells
    if gain:
        significant = (data.pivot_table(index="lang1", columns="lang2", values="significant", aggfunc="first")
                       .reindex(index=langs, columns=langs))
        for i, lang1 in enumerate(langs):
            for j, lang2 in enumerate(langs):
                shown, beyond = grid.loc[lang1, lang2], significant.loc[lang1, lang2]
                if pd.notna(shown) and (pd.isna(beyond) or not beyond):
                    ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch=NOT_SIGNIFICANT_HATCH, linewidth=0,
                                           edgecolor=(0.3, 0.3, 0.3, 0.45)))
    ax.set(title=title, xlabel="sentence 2 language", ylabel="sentence 1 language")
    return ax


def _gain_limit(values) -> float:
    """A symmetric colour limit in whole points covering every gain (at least 1 point, at most 100)."""
    largest = float(np.nanmax(np.abs(values), initial=0.0)) if np.size(values) else 0.0
    return float(min(max(math.ceil(largest - 1e-9), 1), 100))


def generalized_gain_grid(gains: pd.DataFrame, tasks=None, methods=None, langs=None,
                          split: str = "test_generalized", panel_size=(5.2, 4.4)):
    """The generalized setting's paired gains (rows of `compare.gain_summary`), methods x tasks, all panels on one
    colour scale symmetric about zero (its limit the largest gain of any panel, in points), one colour bar, and
    the cells whose 95% interval includes zero hatched. A method or task without results gets an empty panel."""
    data = gains[(gains.split == split) & (gains.lang != "avg")]
    methods = list(methods or dict.fromkeys(data.method))
    tasks = list(tasks or dict.fromkeys(data.task))
    shown = data[data.method.isin(methods) & data.task.isin(tasks)]
    if langs:
        shown = shown[shown.lang.isin([f"{a}-{b}" for a in langs for b in langs])]
    limit = _gain_limit(points(shown, GAIN_BOUNDS)["mean"].to_numpy())
    fig = panel_grid(methods, tasks, lambda ax, method, task: generalized_heatmap(
        data, task, method, langs=langs, ax=ax, split=split, gain=True, limit=limit, cbar=False,
        title=f"{task}, {method}"),
        panel_size=panel_size)
    baseline = _gain_baseline(methods)
    fig.colorbar(ScalarMappable(norm=Normalize(-limit, limit), cmap=GAIN_CMAP), ax=fig.axes, shrink=0.5,
                 label=f"gain over {baseline} (points)" if baseline else "gain (points)")
    fig.suptitle("generalized setting: paired gain per language pair (points), one colour scale for every panel\n"
                 "hatched: the 95% interval over seeds includes zero (or there is one seed)")
    return fig


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
    ax = ax or _new_ax((0.8 * len(langs) + 2.5, 0.5 * len(tasks) + 1.5))
    options = dict(annot=grid.map(lambda v: format_number(v, digits=0)).to_numpy(), fmt="", cmap="viridis",
                   vmin=0, vmax=100, cbar_kws={"label": "score (points)"})
    options.update(heatmap_kwargs)
    sns.heatmap(grid.astype(float), ax=ax, **options)
    ax.grid(False)  # the theme's grid would show through blank cells
    ax.tick_params(axis="y", labelrotation=0)  # task names read across; seaborn turns long ones upright
    ax.set(title=f"{method}: {split} score per task and language (mean over seeds)", xlabel="language",
           ylabel="task")
    return ax


# -- against distance from English --------------------------------------------------------------------------


def language_order(rungs: dict[str, int], langs=None) -> list[str]:
    """`langs` (default: every language of `rungs`) that have a rung, nearest first; languages of one rung keep
    the order of `rungs`."""
    present = set(rungs if langs is None else langs)
    return sorted((lang for lang in rungs if lang in present), key=rungs.get)


def _distance_axis(ax, langs, rungs) -> None:
    ax.set_xticks(range(len(langs)), [f"{lang}\nrung {rungs[lang]}" for lang in langs])
    ax.set(xlim=(-0.5, len(langs) - 0.5), xlabel="language, by distance from English (rung on the ladder)")


def _point_ranges(ax, data: pd.DataFrame, langs, series, colours, label_of, mark_significance: bool) -> None:
    """One series per entry of `series` ((task, method) pairs), side by side at each language so their intervals
    never stack; a thin line joins a series' points. With `mark_significance`, a point whose interval excludes
    zero is filled, one whose interval includes it (or has none) hollow."""
    position = {lang: i for i, lang in enumerate(langs)}
    width = min(0.6, 0.15 * len(series))
    for k, key in enumerate(series):
        rows = data[(data.task == key[0]) & (data.method == key[1])]
        rows = rows[rows.lang.isin(position) & rows["mean"].notna()]
        rows = rows.assign(x=rows.lang.map(position) - width / 2 + width * (k + 0.5) / len(series)).sort_values("x")
        colour = colours[key]
        ax.plot(rows.x, rows["mean"], color=colour, linewidth=0.8, alpha=0.5)
        bounded = rows[rows.ci_low.notna() & rows.ci_high.notna()]
        if not bounded.empty:
            ax.errorbar(bounded.x, bounded["mean"], yerr=[bounded["mean"] - bounded.ci_low,
                                                          bounded.ci_high - bounded["mean"]],
                        fmt="none", ecolor=colour, elinewidth=1.2, capsize=2.5)
        filled = beyond_noise(rows) if mark_significance else pd.Series(True, index=rows.index)
        for is_filled in (True, False):
            part = rows[filled == is_filled]
            ax.plot(part.x, part["mean"], linestyle="", marker="o", markersize=5.5, color=colour,
                    markerfacecolor=colour if is_filled else "white")
        ax.plot([], [], marker="o", color=colour, linestyle="-", linewidth=0.8, label=label_of(key))


def _series(data: pd.DataFrame, methods, tasks) -> list[tuple[str, str]]:
    return [(task, method) for task in tasks for method in methods
            if ((data.task == task) & (data.method == method)).any()]


def by_distance(summary: pd.DataFrame, rungs: dict[str, int], split: str = "test", methods=None, ax=None,
                tasks=None, title: str | None = None):
    """Score against distance from English: one position per language (its code, with its rung on the ladder
    beneath), nearest first; one series per task and method, side by side so intervals never stack: the mean
    over seeds in points with its 95% interval (clipped to 0-100). A language a series lacks leaves a gap."""
    data = summary[(summary.split == split) & summary.lang.isin(rungs)]
    methods = list(methods or dict.fromkeys(data.method))
    tasks = list(tasks or dict.fromkeys(data.task))
    data = points(data[data.method.isin(methods) & data.task.isin(tasks)], SCORE_BOUNDS)
    langs = language_order(rungs, set(data.lang))
    ax = ax or _new_ax((1.0 * len(langs) + 4, 3.8))
    present_tasks = list(dict.fromkeys(data.task))
    metrics = list(dict.fromkeys(data.metric))
    keys = [(task, method) for task in tasks for method in methods]
    colours = dict(zip(keys, _palette(keys).values())) if len(present_tasks) > 1 else {
        (task, method): colour for method, colour in _palette(methods).items() for task in tasks}
    label_of = (lambda key: f"{key[0]} / {key[1]}") if len(present_tasks) > 1 else (lambda key: key[1])
    _point_ranges(ax, data, langs, _series(data, methods, tasks), colours, label_of, mark_significance=False)
    _distance_axis(ax, langs, rungs)
    ylabel = f"{metric_label(metrics[0])} (points)" if len(metrics) == 1 else "score (points)"
    default = (f"{present_tasks[0]}: " if len(present_tasks) == 1 else "") + "zero-shot score against distance"
    ax.set(ylabel=ylabel, ylim=SCORE_YLIM, title=title or default)
    _legend_outside(ax)
    return ax


def gain_by_distance(gain_summary: pd.DataFrame, rungs: dict[str, int], split: str = "test", ax=None,
                     title: str | None = None):
    """Paired gain over the baseline (method names `"<method>-<baseline>"`, from `compare.gain_summary`) against
    distance from English: one position per language, nearest first, one series per method (and task), side by
    side, with the gain's 95% interval (clipped to -100..100); filled where the interval excludes zero, hollow
    where it does not. The title names the task when there is one (one panel per task)."""
    data = gain_summary[(gain_summary.split == split) & gain_summary.lang.isin(rungs)]
    data = points(data, GAIN_BOUNDS)
    langs = language_order(rungs, set(data.lang))
    ax = ax or _new_ax((1.0 * len(langs) + 4, 3.8))
    tasks, methods = list(dict.fromkeys(data.task)), list(dict.fromkeys(data.method))
    colours = {(task, method): colour for method, colour in _palette(methods).items() for task in tasks}
    if len(tasks) > 1:
        keys = [(task, method) for task in tasks for method in methods]
        colours = dict(zip(keys, _palette(keys).values()))
    label_of = (lambda key: f"{key[0]} / {_method_part(key[1])}") if len(tasks) > 1 else (
        lambda key: _method_part(key[1]))
    _point_ranges(ax, data, langs, _series(data, methods, tasks), colours, label_of, mark_significance=True)
    ax.axhline(0, color="grey", linewidth=1)
    _distance_axis(ax, langs, rungs)
    baseline = _gain_baseline(methods)
    ax.set(ylabel=f"gain over {baseline} (points)" if baseline else "gain (points)",
           title=title or (f"{tasks[0]}: " if len(tasks) == 1 else "") + "gain by distance (95% CI over seeds)")
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, -1.0), max(high, 1.0))  # all-zero gains read as zero, not as noise around it
    handles, _ = ax.get_legend_handles_labels()
    _legend_outside(ax, handles + _significance_handles())
    return ax


def _significance_handles() -> list:
    return [Line2D([], [], marker="o", linestyle="", color="0.3", label="filled: 95% CI excludes 0"),
            Line2D([], [], marker="o", linestyle="", color="0.3", markerfacecolor="white",
                   label="hollow: includes 0 (or one seed)")]


def by_distance_per_task(summary: pd.DataFrame, rungs: dict[str, int], family_of, methods=None,
                         split: str = "test", tasks=None, ncols: int = 4):
    """One panel per task (in the order of `tasks` if given; a task without rows gets none), titled with its
    family (`family_of(task)`, e.g. `xtreme_report.task_family`): the task's score against distance from
    English, one series per method, each method one colour in every panel, one legend beside the figure."""
    data = summary[summary.split == split]
    present = set(data.task)
    tasks = [task for task in dict.fromkeys(tasks or data.task) if task in present]
    methods = list(methods or dict.fromkeys(data.method))
    ncols = max(min(ncols, len(tasks)), 1)
    nrows = max(-(-len(tasks) // ncols), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols + 1.5, 3.5 * nrows + 0.5), squeeze=False,
                             layout="constrained")
    for ax, task in zip(axes.flat, tasks):
        by_distance(data[data.task == task], rungs, split=split, methods=methods, ax=ax,
                    title=f"{task} ({family_of(task).replace('_', ' ')})")
        ax.set_xlabel("")
    for ax in list(axes.flat)[len(tasks):]:
        fig.delaxes(ax)
    fig.supxlabel("language, by distance from English (rung on the ladder)")
    fig.suptitle("zero-shot score against distance from English (points; 95% CI over seeds)")
    share_legend(fig)
    return fig


# -- paired gains at a glance ------------------------------------------------------------------------------


def gain_forest(gains: pd.DataFrame, views=None, methods=None, tasks=None):
    """A forest plot of the macro-average paired gains (rows of `compare.gain_summary`, lang `"avg"`): one panel
    per view (`compare.gain_views`: clean accuracy, the generalized setting, each attack), one row per method and
    task, the mean gain in points with its 95% interval (clipped to -100..100), the zero line, and colour for
    the gains beyond seed noise (red above zero, blue below; grey and hollow: no significant difference). All
    panels share one symmetric x scale. A view without a row leaves its row empty."""
    rows = points(gain_rows(gains, views), GAIN_BOUNDS)
    if rows.empty:
        fig, ax = plt.subplots(figsize=(5, 2), layout="constrained")
        _no_results(ax, "paired gains")
        return fig
    rows = rows.assign(significant=beyond_noise(rows))
    view_names = list(dict.fromkeys(rows.view))
    methods = list(methods or dict.fromkeys(rows.method))
    tasks = list(tasks or dict.fromkeys(rows.task))
    labels = [(method, task) for method in methods for task in tasks]
    fig, axes = plt.subplots(1, len(view_names), sharey=True, sharex=True, squeeze=False, layout="constrained",
                             figsize=(2.9 * len(view_names) + 2.5, 0.3 * len(labels) + 1.8))
    extent = rows[["mean", "ci_low", "ci_high"]].abs().max().max() if len(rows) else 1.0
    limit = min(max(1.08 * float(extent if pd.notna(extent) else 1.0), 1.0), 100.0)
    cells = {(r.view, r.method, r.task): r for r in rows.itertuples()}
    for ax, view in zip(axes[0], view_names):
        for y, (method, task) in enumerate(labels):
            row = cells.get((view, method, task))
            if row is None or pd.isna(row.mean):
                continue
            kind = "none" if not row.significant else "positive" if row.mean > 0 else "negative"
            colour = SIGNIFICANT_COLOURS[kind]
            if pd.notna(row.ci_low) and pd.notna(row.ci_high):
                ax.errorbar([row.mean], [y], xerr=[[row.mean - row.ci_low], [row.ci_high - row.mean]], fmt="none",
                            ecolor=colour, elinewidth=1.4, capsize=2.5)
            ax.plot([row.mean], [y], marker="o", markersize=6, linestyle="", color=colour,
                    markerfacecolor=colour if row.significant else "white")
        for boundary in range(len(tasks), len(labels), len(tasks)):  # a line between methods
            ax.axhline(boundary - 0.5, color="0.85", linewidth=0.8)
        ax.axvline(0, color="black", linewidth=1)
        ticks = [t for t in MaxNLocator(nbins=4, symmetric=True).tick_values(-limit, limit) if abs(t) < 0.9 * limit]
        ax.set(title=view, xlim=(-limit, limit), xticks=ticks)  # none at the edges: panels' labels never touch
    axes[0][0].set(yticks=range(len(labels)), ylim=(len(labels) - 0.5, -0.5),
                   yticklabels=[f"{_method_part(method)} · {task}" for method, task in labels])
    baseline = _gain_baseline(methods)
    fig.supxlabel(f"gain over {baseline} (points), macro average over languages, 95% CI over seeds"
                  if baseline else "gain (points), macro average over languages, 95% CI over seeds")
    fig.legend(handles=[Patch(color=SIGNIFICANT_COLOURS["positive"], label="above 0 beyond seed noise"),
                        Patch(color=SIGNIFICANT_COLOURS["negative"], label="below 0 beyond seed noise"),
                        Line2D([], [], marker="o", linestyle="", color=SIGNIFICANT_COLOURS["none"],
                               markerfacecolor="white", label="no significant difference")],
               loc="outside right upper", fontsize="small", frameon=False)
    return fig
