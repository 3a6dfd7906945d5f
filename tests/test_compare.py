"""The embedded world's acceptance checks and the ladder steps they rest on, on hand-made records."""
import pandas as pd
import pytest

from xltlib.report.compare import (acceptance_table, describe_contrast, format_number, gain_summary, gain_table,
                                    interval_table, ladder_steps, world_acceptance)
from xltlib.report.results import summarize

RUNGS = {"en": 0, "near": 1, "far": 2, "farther": 3}


def records(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    """{(method, lang): [value per seed]} -> long records of one task's test accuracy."""
    rows = [{"task": "t", "lang": lang, "method": method, "seed": seed, "split": "test", "metric": "accuracy",
             "value": v} for (method, lang), vs in values.items() for seed, v in enumerate(vs, start=1)]
    return pd.DataFrame(rows)


def acceptance(values):
    recs = records(values)
    return world_acceptance(summarize(recs), gain_summary(recs, "standard", "scratch"), RUNGS, recs,
                            near_rungs=(1,))


SCRATCH = {("scratch", lang): [1.0, 1.0, 1.0] if lang == "en" else [0.5, 0.5, 0.5] for lang in RUNGS}


def test_ladder_steps_are_paired_by_seed():
    recs = records({("standard", "en"): [1.0, 1.0, 1.0], ("standard", "near"): [0.8, 0.7, 0.9],
                    ("standard", "far"): [0.6, 0.6, 0.6], ("standard", "farther"): [0.5, 0.5, 0.5]})
    steps = ladder_steps(recs, RUNGS).set_index("lang")
    assert list(steps.index) == ["0->1", "1->2", "2->3"]
    assert steps.loc["0->1", "mean"] == pytest.approx(-0.2)
    assert steps.loc["1->2", "mean"] == pytest.approx(-0.2)
    assert steps.loc["2->3", "ci_high"] == pytest.approx(-0.1)  # no spread: the interval is the point


def test_a_noisy_rise_at_the_floor_is_not_a_rise():
    checks = acceptance({**SCRATCH, ("standard", "en"): [1.0, 1.0, 1.0], ("standard", "near"): [0.8, 0.75, 0.85],
                         ("standard", "far"): [0.5, 0.5, 0.5], ("standard", "farther"): [0.5, 0.6, 0.47]})
    ladder = checks[checks.check == "accuracy falls along the ladder"].iloc[0]
    assert ladder.passed, ladder.value


def test_a_rise_beyond_seed_noise_fails_and_is_named():
    checks = acceptance({**SCRATCH, ("standard", "en"): [1.0, 1.0, 1.0], ("standard", "near"): [0.6, 0.61, 0.62],
                         ("standard", "far"): [0.7, 0.72, 0.71], ("standard", "farther"): [0.5, 0.5, 0.5]})
    ladder = checks[checks.check == "accuracy falls along the ladder"].iloc[0]
    assert not ladder.passed
    assert "1->2" in ladder.value


def test_english_and_gap_checks():
    checks = acceptance({**SCRATCH, ("standard", "en"): [0.9, 0.8, 0.82], ("standard", "near"): [0.62, 0.55, 0.6],
                         ("standard", "far"): [0.5, 0.5, 0.5], ("standard", "farther"): [0.5, 0.5, 0.5]})
    english = checks[checks.check.str.startswith("English")].iloc[0]
    assert english.value == pytest.approx(0.84) and not english.passed
    gap = checks[checks.check.str.startswith("gap")].set_index("lang")
    assert list(gap.index) == ["near"]  # near_rungs=(1,): only rung 1 is checked
    assert gap.loc["near", "value"] == pytest.approx(0.09) and not gap.loc["near", "passed"]


def test_contrast_of_two_languages_is_paired_by_seed():
    # gaps over scratch (0.5): far 0.1, 0.2, 0.3; near 0.3, 0.3, 0.3 -> differences -0.2, -0.1, 0.0: mean -0.1,
    # sd 0.1, 95% CI -0.1 +- 4.303 * 0.1 / sqrt(3) = [-0.348, +0.148]
    recs = records({**SCRATCH, ("standard", "far"): [0.6, 0.7, 0.8], ("standard", "near"): [0.8, 0.8, 0.8]})
    line = describe_contrast(recs, "far", "near")
    assert line == ("- **t**: gap over `scratch` +20.0 points in `far`, +30.0 in `near`; difference -10.0 points, "
                    "95% CI [-34.8, +14.8]: no significant difference.")
    assert describe_contrast(recs, "far", "missing") == ""


# -- the tables the notebooks print -------------------------------------------------------------------------


def summary_frame(rows) -> pd.DataFrame:
    """[(task, lang, method, mean, ci_low, ci_high)] -> test-split rows shaped like `summarize`'s."""
    frame = pd.DataFrame(rows, columns=["task", "lang", "method", "mean", "ci_low", "ci_high"])
    return frame.assign(split="test", metric="accuracy", n=2, std=0.0)


def test_interval_table_clips_to_the_metric_range_and_leaves_missing_cells_blank():
    table = interval_table(summary_frame([("t", "en", "standard", 0.596, 0.103, 1.089),
                                          ("t", "rlx", "standard", 0.02, -0.05, 0.09),
                                          ("t", "en", "scratch", 0.5, None, None)]), order=["en", "rlx", "avg"])
    assert table.loc[("t", "standard"), "en"] == "59.6 [10.3, 100.0]"  # not 108.9: no accuracy is above 100
    assert table.loc[("t", "standard"), "rlx"] == "2.0 [0.0, 9.0]"
    assert table.loc[("t", "scratch"), "en"] == "50.0"  # one seed: no interval
    assert table.loc[("t", "scratch"), "rlx"] == ""  # no result: blank, not NaN
    assert list(table.columns) == ["en", "rlx"]


def test_gain_table_is_signed_clipped_at_100_and_never_prints_minus_zero():
    gains = summary_frame([("t", "en", "standard-scratch", -0.0004, -1.2, 0.3),
                           ("t", "rlx", "standard-scratch", 0.123, 0.05, 0.2)])
    table = gain_table(gains)
    assert table.loc[("t", "standard-scratch"), "en"] == "0.0 [-100.0, +30.0]"
    assert table.loc[("t", "standard-scratch"), "rlx"] == "+12.3 [+5.0, +20.0]"
    assert format_number(-0.04) == "0.0" and format_number(-0.06) == "-0.1" and format_number(None) == ""


def test_acceptance_table_shows_points_with_one_decimal():
    checks = acceptance({**SCRATCH, ("standard", "en"): [0.99, 0.98, 1.0], ("standard", "near"): [0.8, 0.75, 0.85],
                         ("standard", "far"): [0.6, 0.6, 0.6], ("standard", "farther"): [0.5, 0.5, 0.5]})
    table = acceptance_table(checks).set_index("check")
    english = table.loc["English accuracy >= 90%", "value (points, 95% CI)"]
    assert english == "99.0 [96.5, 100.0]"  # the t-interval's 101.5 clipped
    assert table.loc["gap over scratch >= 15 points", "value (points, 95% CI)"] == "+30.0 [+17.6, +42.4]"
    assert table.loc["accuracy falls along the ladder", "value (points, 95% CI)"] == "99.0 -> 80.0 -> 60.0 -> 50.0"
    assert table.loc[["English accuracy >= 90%", "gap over scratch >= 15 points",
                      "accuracy falls along the ladder"], "passed"].all()


def test_acceptance_checks_the_hypothesis_only_control_and_the_seed_spread():
    recs = records({**SCRATCH, ("standard", "en"): [0.95, 0.95, 0.95], ("standard", "near"): [0.8, 0.8, 0.8],
                    ("standard", "far"): [0.6, 0.7, 0.5], ("standard", "farther"): [0.5, 0.5, 0.5],
                    ("hypothesis_only", "en"): [0.9, 0.92, 0.91]})
    checks = world_acceptance(summarize(recs), gain_summary(recs, "standard", "scratch"), RUNGS, recs,
                              near_rungs=(1,), chance={"t": 0.5}).set_index("check")
    control = checks.loc["hypothesis-only within 10 points of chance (50.0)"]
    assert control.value == pytest.approx(0.91) and not control.passed  # a shortcut: 41 points over chance
    spread = checks.loc["seed s.d. of the macro average <= 1.5 points"]
    assert spread.value == pytest.approx(0.025) and not spread.passed  # far's 0.6/0.7/0.5 over four languages
    assert acceptance_table(checks.reset_index()).set_index("check").loc[
        "seed s.d. of the macro average <= 1.5 points", "value (points, 95% CI)"] == "2.5"


def test_acceptance_without_the_control_or_scratch_leaves_those_checks_out():
    recs = records({("standard", "en"): [0.95, 0.95], ("standard", "near"): [0.8, 0.8],
                    ("standard", "far"): [0.6, 0.6], ("standard", "farther"): [0.5, 0.5]})
    checks = world_acceptance(summarize(recs), None, RUNGS, recs, chance={"t": 0.5})
    assert not checks.check.str.contains("scratch|hypothesis").any()
    assert checks.check.str.startswith("English").sum() == 1
