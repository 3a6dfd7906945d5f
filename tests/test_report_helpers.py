"""The notebooks' report helpers on small hand-made frames and rows: panel layouts (`plots.panels`,
`plots.panel_grid`), the closing summaries (`compare.describe_*`) and the real examples (`examples`)."""
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from xltlib.report import compare, examples, plots  # noqa: E402
from xltlib.tasks.catalogue import TASKS  # noqa: E402
from xltlib.tasks.handlers import TaskData  # noqa: E402

NAN = math.nan


def summary_rows(rows) -> pd.DataFrame:
    """[(task, lang, method, split, metric, n, mean, ci_low, ci_high)] -> a frame shaped like `summarize`'s."""
    frame = pd.DataFrame(rows, columns=["task", "lang", "method", "split", "metric", "n", "mean", "ci_low", "ci_high"])
    return frame.assign(std=0.0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# -- plots ----------------------------------------------------------------------------------------------


def test_panels_draws_one_panel_per_item_in_order_and_sizes_the_figure():
    calls = []
    fig = plots.panels(["xnli", "pawsx", "udpos"], lambda ax, item: calls.append((ax, item)), panel_size=(4, 3))
    assert [item for _, item in calls] == ["xnli", "pawsx", "udpos"]
    assert [ax for ax, _ in calls] == fig.axes
    assert tuple(fig.get_size_inches()) == pytest.approx((12, 3))


def test_panel_grid_draws_rows_by_columns():
    calls = []
    fig = plots.panel_grid(["at", "rs_da"], ["xnli", "pawsx", "udpos"],
                           lambda ax, row, column: calls.append((row, column)), panel_size=(2, 1.5),
                           suptitle="gains")
    assert calls == [("at", "xnli"), ("at", "pawsx"), ("at", "udpos"),
                     ("rs_da", "xnli"), ("rs_da", "pawsx"), ("rs_da", "udpos")]
    assert len(fig.axes) == 6 and tuple(fig.get_size_inches()) == pytest.approx((6, 3))
    assert fig._suptitle.get_text() == "gains"


def test_a_single_row_or_column_still_gets_axes():
    seen = []
    plots.panel_grid(["accuracy_under_pgd"], ["xnli"], lambda ax, row, column: seen.append(type(ax).__name__))
    plots.panels(["standard"], lambda ax, item: seen.append(type(ax).__name__))
    assert seen == ["Axes", "Axes"]


BARS = summary_rows([("xnli", lang, method, "test", "accuracy", 2, value, value - 0.05, value + 0.05)
                     for lang, base in (("en", 0.9), ("rlx", 0.6)) for method, value in
                     (("standard", base), ("scratch", base - 0.2))])


def test_bar_by_language_in_panels_keeps_each_task_title_or_the_one_given():
    fig = plots.panels(["xnli"], lambda ax, task: plots.bar_by_language(BARS, task, ax=ax, chance=1 / 3))
    assert fig.axes[0].get_title() == "xnli: test accuracy per language (95% CI over seeds)"
    ax = plots.bar_by_language(BARS, "xnli", title="xnli: accuracy_under_pgd")
    assert ax.get_title() == "xnli: accuracy_under_pgd"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["standard", "scratch"]


def generalized(values, method="at-standard"):
    langs = ["en", "rlx"]
    return summary_rows([("xnli", f"{a}-{b}", method, "test_generalized", "accuracy", 2, v, NAN, NAN)
                         for (a, b), v in zip([(a, b) for a in langs for b in langs], values)])


def test_a_gain_heatmap_has_a_symmetric_color_range_in_points():
    ax = plots.generalized_heatmap(generalized([0.02, -0.01, 0.005, 0.0]), "xnli", "at-standard", gain=True)
    norm = ax.collections[0].norm
    assert (norm.vmin, norm.vmax) == pytest.approx((-2.0, 2.0))
    flat = plots.generalized_heatmap(generalized([0.0] * 4), "xnli", "at-standard", gain=True)
    assert (flat.collections[0].norm.vmin, flat.collections[0].norm.vmax) == pytest.approx((-1.0, 1.0))
    given = plots.generalized_heatmap(generalized([0.2, 0.4, 0.6, 0.8]), "xnli", "at-standard", vmin=20, vmax=80)
    assert (given.collections[0].norm.vmin, given.collections[0].norm.vmax) == pytest.approx((20, 80))


def test_gain_by_distance_names_its_task_when_it_has_one():
    gains = summary_rows([(task, lang, "rs_da-standard", "test", "accuracy", 2, 0.01 * rung, 0.0, 0.02 * rung)
                          for task in ("xnli", "pawsx") for lang, rung in (("en", 0), ("rlx", 1))])
    rungs = {"en": 0, "rlx": 1}
    one = plots.gain_by_distance(gains[gains.task == "xnli"], rungs)
    assert one.get_title() == "xnli: gain by distance (95% CI over seeds)"
    both = plots.gain_by_distance(gains, rungs)
    assert both.get_title() == "gain by distance (95% CI over seeds)"


def test_step_cost_bars():
    costs = pd.DataFrame({"method": ["standard", "at"], "ratio_to_standard": [1.0, 2.5]})
    ax = plots.step_cost_bars(costs, "xnli")
    assert ax.get_title() == "cost per training step (xnli)"
    assert [p.get_height() for p in ax.patches] == pytest.approx([1.0, 2.5])


# -- compare: the closing summaries -----------------------------------------------------------------------


AVERAGES = summary_rows([
    ("pawsx", "avg", "standard", "test", "accuracy", 3, 0.8123, 0.8, 0.82),
    ("pawsx", "en", "standard", "test", "accuracy", 3, 0.95, 0.9, 1.0),  # not an average: left out
    ("pawsx", "avg", "standard", "test_generalized", "accuracy", 3, 0.5, 0.4, 0.6),  # another split
    ("xquad", "avg", "scratch", "test", "squad", 1, 0.0849, NAN, NAN),
])


def test_describe_macro_averages_is_notebook_01s_sentence():
    assert compare.describe_macro_averages(AVERAGES).splitlines() == [
        "- **pawsx**, `standard`: macro-average accuracy 81.2 points over 3 seed(s).",
        "- **xquad**, `scratch`: macro-average squad 8.5 points over 1 seed(s).",
    ]
    assert compare.describe_macro_averages(AVERAGES, split="test_generalized") == (
        "- **pawsx**, `standard`: macro-average accuracy 50.0 points over 3 seed(s).")


def test_describe_task_averages_is_notebook_03s_sentence():
    assert compare.describe_task_averages(AVERAGES).splitlines() == [
        "- **pawsx** (accuracy), `standard`: 81.2 points averaged over languages, 3 seed(s).",
        "- **xquad** (squad), `scratch`: 8.5 points averaged over languages, 1 seed(s).",
    ]


def test_describe_acceptance():
    checks = pd.DataFrame({"check": ["a", "b", "c"], "passed": [True, True, True]})
    assert compare.describe_acceptance(checks) == "Acceptance checks of the embedded world: **3 of 3 pass**."
    checks.loc[1, "passed"] = False
    assert compare.describe_acceptance(checks) == (
        "Acceptance checks of the embedded world: **2 of 3 pass**; the failing rows are listed above.")


GAINS = summary_rows([
    ("xnli", "avg", "rs_da-standard", "test", "accuracy", 3, 0.031, 0.012, 0.05),
    ("xnli", "avg", "at-standard", "test", "accuracy", 3, -0.02, -0.03, -0.01),
    ("xnli", "rlx", "at-standard", "test", "accuracy", 3, 0.5, 0.4, 0.6),  # per language: not summed up
    ("xnli", "avg", "rs_da-standard", "test_generalized", "accuracy", 3, 0.004, -0.01, 0.018),
    ("xnli", "avg", "rs_da-standard", "test", "accuracy_under_synonym", 1, 0.1, NAN, NAN),
])


def test_gain_views_order_and_names():
    assert compare.gain_views(["accuracy_under_pgd"]) == [
        ("test", "accuracy", "clean accuracy"), ("test_generalized", "accuracy", "generalized setting"),
        ("test", "accuracy_under_pgd", "accuracy under pgd")]


def test_describe_gain_verdicts_is_notebook_02s_sentence_per_view():
    text = compare.describe_gain_verdicts(GAINS, compare.gain_views(["accuracy_under_synonym"]))
    assert text.splitlines() == [
        "- **xnli**, `rs_da-standard`, clean accuracy (macro average): +3.1 points, 95% CI [+1.2, +5.0] "
        "(half-width 1.9): beyond seed noise.",
        "- **xnli**, `at-standard`, clean accuracy (macro average): -2.0 points, 95% CI [-3.0, -1.0] "
        "(half-width 1.0): beyond seed noise.",
        "- **xnli**, `rs_da-standard`, generalized setting (macro average): +0.4 points, 95% CI [-1.0, +1.8] "
        "(half-width 1.4): no significant difference.",
        "- **xnli**, `rs_da-standard`, accuracy under synonym (macro average): +10.0 points, one seed, no interval.",
    ]
    assert "accuracy under synonym" not in compare.describe_gain_verdicts(GAINS)  # default: clean and generalized
    wide = GAINS.assign(ci_low=GAINS.ci_low - 0.05, ci_high=GAINS.ci_high + 0.05)
    assert "could not have seen a 2-point effect" in compare.describe_gain_verdicts(wide)
    huge = compare.describe_gain_verdicts(GAINS.assign(ci_low=-1.5, ci_high=1.5)).splitlines()[0]
    assert "95% CI [-100.0, +100.0] (half-width 150.0)" in huge  # shown within the range; the width is the t-interval's


def test_describe_gain_overview_names_only_the_significant_gains_and_states_the_half_widths():
    views = compare.gain_views(["accuracy_under_synonym"])
    text = compare.describe_gain_overview(GAINS, views)
    assert text.split("\n\n") == [
        "**2 of 4** macro-average gains differ from the baseline beyond seed noise:",
        "- clean accuracy: `rs_da-standard` on xnli +3.1 [+1.2, +5.0]; `at-standard` on xnli -2.0 [-3.0, -1.0] points.",
        "Half-widths of the 95% intervals: 1.0 to 1.9 points (median 1.4); 0 of 3 are wider than 2 points, where a "
        "2-point effect could go unseen. 1 has one seed and no interval.",
    ]
    none = compare.describe_gain_overview(GAINS.assign(ci_low=-0.5, ci_high=0.5), views)
    assert none.startswith("**0 of 4** macro-average gains differ from the baseline beyond seed noise.\n\nHalf-")
    assert "4 of 4 are wider than 2 points" in none
    assert compare.describe_gain_overview(GAINS.iloc[:0], views) == "No gains to sum up."


def test_describe_attack_rows_says_which_rows_each_score_used():
    from xltlib.core.config import RunConfig

    cfg = RunConfig(tasks=["xnli", "pawsx"], max_eval_samples=100, max_robustness_samples=30)
    assert compare.describe_attack_rows(cfg) == (
        "The attacks used the first 30 test rows of each language (`max_robustness_samples`), clean accuracy the "
        "first 100 test rows (`max_eval_samples`): not the same rows.")
    same = RunConfig(tasks=["xnli"], max_eval_samples=50, max_robustness_samples=None)
    assert compare.describe_attack_rows(same) == (
        "The attacks and clean accuracy used the same rows: the first 50 test rows of each language.")
    mixed = RunConfig(tasks=["xnli", "pawsx"], max_robustness_samples=30,
                      task_overrides={"pawsx": {"max_robustness_samples": None}})
    assert compare.describe_attack_rows(mixed) == (
        "xnli: the attacks used the first 30 test rows of each language (`max_robustness_samples`), clean accuracy "
        "every test row (`max_eval_samples`): not the same rows. pawsx: the attacks and clean accuracy used the "
        "same rows: every test row of each language.")


def test_describe_step_costs():
    costs = pd.DataFrame({"method": ["standard", "free_at"], "ratio_to_standard": [1.0, 1.234]})
    assert compare.describe_step_costs(costs) == (
        "Cost per step relative to `standard`: `standard` 1.00x, `free_at` 1.23x.")


# -- examples ---------------------------------------------------------------------------------------------


XNLI = TASKS["xnli"]


def test_pair_across_languages_shows_one_row_of_each_language():
    tests = {"en": [{"premise": "a big dog", "hypothesis": "a large dog", "label": 0},
                    {"premise": "x", "hypothesis": "y", "label": 2}],
             "rlx": [{"premise": "a бяэр dog", "hypothesis": "a оомя dog", "label": 0}],
             "adn": []}  # too short for the row asked: left out
    table = examples.pair_across_languages(tests, XNLI)
    assert list(table.index) == ["en", "rlx"] and list(table.columns) == ["premise", "hypothesis", "label"]
    assert table.loc["rlx", "premise"] == "a бяэр dog" and table.loc["en", "label"] == "entailment"
    assert list(examples.pair_across_languages(tests, XNLI, index=1).label) == ["contradiction"]


SYNONYMS = {"big": ["large"], "large": ["big"], "dog": ["hound"], "hound": ["dog"]}
EXAMPLE = {"premise": "the big dog sleeps", "hypothesis": "the large dog runs", "label": 0}


def test_substitution_example_is_seeded_and_lists_what_the_attack_may_swap():
    attacks = {"synonym": {"max_words": 1}, "pgd": {"epsilon": 0.1}}
    table = examples.substitution_example(EXAMPLE, XNLI, SYNONYMS, seed=3, attacks=attacks)
    again = examples.substitution_example(EXAMPLE, XNLI, SYNONYMS, seed=3, attacks=attacks)
    pd.testing.assert_frame_equal(table, again)
    assert list(table.index) == ["premise", "hypothesis"]
    assert table.loc["premise", "original"] == "the big dog sleeps"
    copy = table.loc["premise", "RS-DA copy (seed 3)"].split()
    assert copy[0] == "the" and copy[1] in ("big", "large") and copy[2] in ("dog", "hound") and copy[3] == "sleeps"
    column = "synonym attack may substitute (at most 1 per example)"
    assert table.loc["premise", column] == "big -> large; dog -> hound"
    assert table.loc["hypothesis", column] == "large -> big; dog -> hound"
    assert EXAMPLE == {"premise": "the big dog sleeps", "hypothesis": "the large dog runs", "label": 0}


def test_substitution_example_without_the_synonym_attack_has_no_attack_column():
    table = examples.substitution_example(EXAMPLE, XNLI, SYNONYMS, attacks={"pgd": None})
    assert list(table.columns) == ["original", "RS-DA copy (seed 0)"]
    none = examples.substitution_example(EXAMPLE, XNLI, {}, attacks={"synonym": None})
    assert none.loc["premise", "RS-DA copy (seed 0)"] == "the big dog sleeps"
    assert none.loc["premise", "synonym attack may substitute (at most 2 per example)"] == "nothing"


def test_one_task_per_type_keeps_the_first_of_each_type():
    assert examples.one_task_per_type(["xcopa", "udpos", "panx", "xquad", "tatoeba", "bucc2018", "lareqa",
                                       "mewslix"]) == ["xcopa", "udpos", "xquad", "tatoeba", "lareqa"]


def test_task_type_rows_shows_one_compact_row_per_task():
    udpos, panx = TASKS["udpos"], TASKS["panx"]
    data = {
        "udpos": TaskData(udpos, tests={"en": [{"tokens": ["tom", "runs"],
                                                "tags": [udpos.labels.index("PROPN"), udpos.labels.index("VERB")]}]}),
        "panx": TaskData(panx, tests={"de": [{"tokens": ["anna", "sleeps"], "tags": [1, 0]}]}),
        "xquad": TaskData(TASKS["xquad"], tests={"en": [{"id": "q1", "question": "who runs", "context": "tom runs .",
                                                         "answers": {"text": ["tom", "tom"], "answer_start": [0, 0]}}]}),
        "xcopa": TaskData(TASKS["xcopa"], tests={"en": [{"premise": "the cat is wet", "question": "cause",
                                                         "choices": ["it rained", "it was sunny"], "label": 0}]}),
        "tatoeba": TaskData(TASKS["tatoeba"], tests={"rlx": [{"source_sentence": "tom аоыт",
                                                              "target_sentence": "tom hates"}]}),
        "lareqa": TaskData(TASKS["lareqa"], tests={"en": [{"id": "q", "query": "who runs", "relevant": ["en_1_0"],
                                                           "candidate_ids": ["en_1_0", "en_1_1"],
                                                           "candidates": ["tom runs", "anna sleeps"]}]}),
    }
    table = examples.task_type_rows(data)
    assert list(table.index) == list(data) and list(table.columns) == ["type", "lang", "input", "gold"]
    assert table.loc["udpos", "gold"] == "tom/PROPN runs/VERB"
    assert table.loc["panx", "lang"] == "de" and table.loc["panx", "gold"] == "anna/B-PER sleeps/O"
    assert table.loc["xquad", "input"] == "question: who runs | context: tom runs ."
    assert table.loc["xquad", "gold"] == "tom"
    assert table.loc["xcopa", "input"] == ("premise: the cat is wet (the cause?) | choice1: it rained | "
                                           "choice2: it was sunny")
    assert table.loc["xcopa", "gold"] == "choice1: it rained"
    assert table.loc["tatoeba", "lang"] == "rlx" and table.loc["tatoeba", "input"] == "rlx: tom аоыт"
    assert table.loc["tatoeba", "gold"].startswith("en: tom hates")
    assert table.loc["lareqa", "gold"].startswith("tom runs")


def test_task_type_rows_skips_tasks_without_test_rows():
    table = examples.task_type_rows({"udpos": TaskData(TASKS["udpos"], tests={"en": []})})
    assert table.empty and list(table.columns) == ["type", "lang", "input", "gold"]


def test_substitution_example_on_a_tagging_row_keeps_words_apart():
    row = {"tokens": ["the", "big", "dog"], "tags": [0, 0, 0]}
    table = examples.substitution_example(row, TASKS["udpos"], SYNONYMS, attacks={"synonym": {}})
    assert table.loc["tokens", "original"] == "the big dog"
    assert table.loc["tokens", "synonym attack may substitute (at most 2 per example)"] == "n/a"
