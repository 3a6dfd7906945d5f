"""The figures' defaults on small summary frames built here: points everywhere, intervals clipped to the
metric's range (read back from the error-bar lines), one symmetric colour scale for every panel of a gain figure
with the non-significant cells hatched (read back from the panels' meshes and patches), language codes ordered by
rung on distance axes, legends outside every axes (bounding boxes), and missing cells drawn as gaps."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from xltlib.report import compare, plots  # noqa: E402
from xltlib.report.xtreme import task_family  # noqa: E402

NAN = float("nan")
COLUMNS = ["task", "lang", "method", "split", "metric", "n", "mean", "ci_low", "ci_high"]
RUNGS = {"en": 0, "rlx": 1, "adn": 2, "low": 3, "vfc": 3}


def frame(rows) -> pd.DataFrame:
    """[(task, lang, method, split, metric, n, mean, ci_low, ci_high)] -> rows shaped like `summarize`'s."""
    return pd.DataFrame(rows, columns=COLUMNS).assign(std=0.0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def interval_ys(ax) -> np.ndarray:
    """Every end of every error bar drawn on `ax` (y for vertical bars, x for horizontal ones)."""
    ends = []
    for container in ax.containers:
        if isinstance(container, matplotlib.container.ErrorbarContainer):
            for collection in container.lines[2]:
                for segment in collection.get_segments():
                    ends.extend(segment[:, 1] if segment[0, 0] == segment[1, 0] else segment[:, 0])
    return np.array(ends)


def assert_legends_outside_axes(fig):
    fig.canvas.draw()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends, "no legend drawn"
    renderer = fig.canvas.get_renderer()
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                continue
            assert not box.overlaps(ax.get_window_extent(renderer)), (legend, ax.get_title())


# -- scores ------------------------------------------------------------------------------------------------

SCORES = frame([("xnli", lang, method, "test", "accuracy", 2, mean, mean - 0.5, mean + 0.19)
                for lang, base in (("en", 0.9), ("rlx", 0.6), ("adn", 0.5))
                for method, mean in (("standard", base), ("scratch", base - 0.2))])
SEEDS = pd.DataFrame([{"task": "xnli", "lang": lang, "method": method, "seed": seed, "split": "test",
                       "metric": "accuracy", "value": mean + (0.01 if seed == 1 else -0.01)}
                      for _, (_, lang, method, _, _, _, mean, _, _) in SCORES[COLUMNS].iterrows() for seed in (1, 2)])


def test_bars_are_points_with_intervals_clipped_to_0_100_and_seeds_as_dots():
    ax = plots.bar_by_language(SCORES, "xnli", methods=["standard", "scratch"], records=SEEDS, chance=1 / 3)
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == pytest.approx(sorted(100 * SCORES["mean"]))
    ends = interval_ys(ax)
    assert len(ends) == 2 * len(SCORES) and ends.min() >= 0 and ends.max() <= 100
    assert ends.max() == pytest.approx(100) and ends.min() == pytest.approx(0)  # 1.09 and -0.1, clipped
    dots = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections
                           if isinstance(c, matplotlib.collections.PathCollection)])
    assert sorted(dots) == pytest.approx(sorted(100 * SEEDS.value))
    assert ax.get_ylabel() == "accuracy (points)" and ax.get_ylim()[1] <= 105
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["standard", "scratch", "one seed", "chance"]


def test_axes_say_what_a_metric_is_not_its_code_name():
    assert plots.metric_label("accuracy_under_pgd") == "accuracy under PGD"
    assert plots.metric_label("seqeval_under_synonym") == "F1 (seqeval) under synonym"
    assert plots.metric_label("map_at_20") == "mAP@20"
    ax = plots.bar_by_language(SCORES.assign(metric="accuracy_under_pgd"), "xnli")
    assert ax.get_ylabel() == "accuracy under PGD (points)" and "_" not in ax.get_title()


def test_score_heatmap_is_in_points_on_a_fixed_scale():
    rows = frame([("xnli", f"{a}-{b}", "standard", "test_generalized", "accuracy", 2, 0.5 + 0.1 * i, NAN, NAN)
                  for i, (a, b) in enumerate([("en", "en"), ("en", "rlx"), ("rlx", "en"), ("rlx", "rlx")])])
    ax = plots.generalized_heatmap(rows, "xnli", "standard")
    assert (ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) == (0, 100)
    assert [t.get_text() for t in ax.texts] == ["50.0", "60.0", "70.0", "80.0"]
    assert not [p for p in ax.patches if p.get_hatch()]  # significance is a gain's, not a score's


def test_distance_axis_has_one_position_per_language_nearest_first():
    assert plots.language_order(RUNGS) == ["en", "rlx", "adn", "low", "vfc"]  # low before vfc: rungs' order
    ax = plots.by_distance(SCORES, RUNGS, methods=["standard", "scratch"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["en\nrung 0", "rlx\nrung 1", "adn\nrung 2"]
    ends = interval_ys(ax)
    assert ends.min() >= 0 and ends.max() <= 100
    assert ax.get_title() == "xnli: zero-shot score against distance"


# -- gains -------------------------------------------------------------------------------------------------

def gain_grid_rows(method, task, values, intervals):
    pairs = [("en", "en"), ("en", "rlx"), ("rlx", "en"), ("rlx", "rlx")]
    return [(task, f"{a}-{b}", method, "test_generalized", "accuracy", 3, v, lo, hi)
            for (a, b), v, (lo, hi) in zip(pairs, values, intervals)]


GENERALIZED_GAINS = frame(
    gain_grid_rows("at-standard", "xnli", [0.02, 0.01, -0.005, 0.0], [(0.01, 0.03), (-0.01, 0.03), (NAN, NAN),
                                                                      (-0.01, 0.01)])
    + gain_grid_rows("rs_da-standard", "xnli", [0.11, 0.05, 0.03, -0.02], [(0.1, 0.12), (0.04, 0.06), (0.02, 0.04),
                                                                           (-0.03, -0.01)]))


def test_gain_heatmaps_share_one_symmetric_colour_scale_and_hatch_non_significant_cells():
    fig = plots.generalized_gain_grid(GENERALIZED_GAINS, tasks=["xnli"])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2
    limits = {(ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) for ax in panels}
    assert limits == {(-11.0, 11.0)}  # +2.0 in one panel is as pale as +2.0 in the other
    hatched = [sum(bool(p.get_hatch()) for p in ax.patches) for ax in panels]
    assert hatched == [3, 0]  # at: one cell beyond noise, two intervals over zero, one without an interval
    assert [t.get_text() for t in panels[0].texts] == ["+2.0", "+1.0", "-0.5", "0.0"]  # never "-0.0"
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 1 and "gain over standard (points)" in colorbars[0].get_ylabel()


def test_one_panel_alone_still_gets_a_symmetric_scale():
    ax = plots.generalized_heatmap(GENERALIZED_GAINS, "xnli", "at-standard", gain=True)
    assert (ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) == (-2.0, 2.0)


DISTANCE_GAINS = frame([("xnli", lang, method, "test", "accuracy", 3, mean, mean - 1.5, mean + 0.01)
                        for lang in RUNGS for method, mean in (("at-standard", 0.02), ("rs_da-standard", -0.01))])


def test_gain_by_distance_dodges_series_and_clips_intervals_to_plus_minus_100():
    ax = plots.gain_by_distance(DISTANCE_GAINS, RUNGS)
    ends = interval_ys(ax)
    assert ends.min() == pytest.approx(-100) and ends.max() <= 100
    xs = sorted({round(float(x), 6) for line in ax.get_lines() if line.get_marker() == "o" for x in line.get_xdata()})
    assert len(xs) == 2 * len(RUNGS)  # two series, side by side at each language, never on top of each other
    assert ax.get_ylabel() == "gain over standard (points)"


FOREST = frame([("xnli", "avg", "at-standard", "test", "accuracy", 3, 0.031, 0.012, 0.05),
                ("xnli", "avg", "rs_da-standard", "test", "accuracy", 3, 0.004, -1.3, 1.4),
                ("xnli", "avg", "at-standard", "test_generalized", "accuracy", 3, -0.02, -0.03, -0.01),
                ("pawsx", "avg", "at-standard", "test", "accuracy", 3, 0.0, -0.01, 0.01),
                ("xnli", "avg", "at-standard", "test", "accuracy_under_pgd", 3, 0.1, 0.05, 0.15),
                ("xnli", "en", "at-standard", "test", "accuracy", 3, 0.5, 0.4, 0.6)])  # per language: not shown


def test_forest_plot_has_a_row_per_method_and_task_and_marks_significant_gains():
    views = compare.gain_views(["accuracy_under_pgd", "accuracy_under_synonym"])  # synonym: no rows at all
    fig = plots.gain_forest(FOREST, views, tasks=["xnli", "pawsx"])
    panels = fig.axes
    assert [ax.get_title() for ax in panels] == ["clean accuracy", "generalized setting", "accuracy under pgd"]
    assert [t.get_text() for t in panels[0].get_yticklabels()] == ["at · xnli", "at · pawsx", "rs_da · xnli",
                                                                    "rs_da · pawsx"]
    assert {ax.get_xlim() for ax in panels} == {(-100.0, 100.0)}  # one scale; the wide interval is clipped
    assert interval_ys(panels[0]).min() == pytest.approx(-100)
    markers = [line for line in panels[0].get_lines() if line.get_marker() == "o"]
    filled = [matplotlib.colors.to_rgba(line.get_markerfacecolor()) != (1.0, 1.0, 1.0, 1.0) for line in markers]
    assert filled == [True, False, False]  # at/xnli beyond seed noise; at/pawsx and rs_da/xnli not
    assert any(line.get_xdata()[0] == 0 for line in panels[0].get_lines())  # the zero line
    assert_legends_outside_axes(fig)


# -- layout and missing cells ---------------------------------------------------------------------------------

def test_legends_sit_outside_every_axes():
    attack = pd.concat([SCORES.assign(metric=m) for m in ("accuracy_under_pgd", "accuracy_under_synonym")])
    grid = plots.panel_grid(["accuracy_under_pgd", "accuracy_under_synonym"], ["xnli", "pawsx"],
                            lambda ax, metric, task: plots.bar_by_language(
                                attack[attack.metric == metric].assign(task="xnli" if task == "xnli" else "pawsx"),
                                task, methods=["standard", "scratch"], ax=ax), panel_size=(4, 3))
    assert len(grid.legends) == 1 and all(ax.get_legend() is None for ax in grid.axes)  # one, beside the grid
    assert_legends_outside_axes(grid)
    assert_legends_outside_axes(plots.by_distance(SCORES, RUNGS).figure)
    assert_legends_outside_axes(plots.gain_by_distance(DISTANCE_GAINS, RUNGS).figure)
    per_task = plots.by_distance_per_task(pd.concat([SCORES, SCORES.assign(task="tatoeba")]), RUNGS, task_family)
    assert_legends_outside_axes(per_task)


def test_panels_with_different_legends_keep_their_own():
    fig = plots.panels(["xnli", "pawsx"], lambda ax, task: plots.bar_by_language(
        SCORES.assign(task=task) if task == "xnli" else SCORES[SCORES.method == "standard"].assign(task=task),
        task, ax=ax), panel_size=(4, 3))
    assert not fig.legends and all(ax.get_legend() is not None for ax in fig.axes)
    assert_legends_outside_axes(fig)


def test_missing_cells_are_gaps_not_errors():
    # an attack run on some languages only, a method absent from one task
    partial = SCORES[~((SCORES.lang == "adn") | ((SCORES.lang == "rlx") & (SCORES.method == "scratch")))]
    ax = plots.bar_by_language(partial, "xnli", langs=["en", "rlx", "adn"], methods=["standard", "scratch", "at"])
    assert len(ax.patches) == len(partial) and [t.get_text() for t in ax.get_xticklabels()] == ["en", "rlx", "adn"]
    assert len(ax.get_legend().get_texts()) == 3  # each method keeps its entry and its colour
    plots.by_distance(partial, RUNGS, methods=["standard", "scratch", "at"])
    plots.gain_by_distance(DISTANCE_GAINS[DISTANCE_GAINS.lang != "rlx"], RUNGS)

    one_method = GENERALIZED_GAINS[GENERALIZED_GAINS.method == "at-standard"]
    partial_grid = pd.concat([one_method[one_method.lang != "rlx-rlx"],
                              GENERALIZED_GAINS[GENERALIZED_GAINS.method == "rs_da-standard"].assign(task="pawsx")])
    fig = plots.generalized_gain_grid(partial_grid, tasks=["xnli", "pawsx"], langs=["en", "rlx"])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 4
    assert [t.get_text() for t in panels[0].texts] == ["+2.0", "+1.0", "-0.5"]  # rlx-rlx blank
    assert [t.get_text() for t in panels[1].texts] == ["no results"]  # at has no pawsx rows

    fig = plots.gain_forest(FOREST, compare.gain_views(["accuracy_under_pgd"]),
                            methods=["at-standard", "free_at-standard"])
    assert len(fig.axes) == 3
    plots.gain_forest(FOREST.iloc[:0], compare.gain_views())  # nothing at all: an empty figure, no error
    fig = plots.by_distance_per_task(partial, RUNGS, task_family, tasks=["xnli", "udpos"])  # udpos: no rows
    assert [ax.get_title() for ax in fig.axes] == ["xnli (classification)"]
