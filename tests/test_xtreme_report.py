"""xltlib.report.xtreme and the notebook-03 figures: headline rows, group and XTREME-R scores through the scorer
(hand-computed on a small submission folder), the sentences said about them, and the two figures."""
import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from xltlib.report import plots  # noqa: E402
from xltlib.report import xtreme as xtreme_report  # noqa: E402
from xltlib.report.compare import gain_summary  # noqa: E402
from xltlib.report.results import METRIC_COLUMNS, summarize  # noqa: E402
from xltlib.tasks.catalogue import TASKS  # noqa: E402
from xltlib.tasks.submission import write_submission_file  # noqa: E402


def _rows(task, metric, values, method="standard", seed=1, split="test"):
    return [{"task": task, "lang": lang, "method": method, "seed": seed, "split": split, "metric": metric,
             "value": value} for lang, value in values.items()]


def test_headline_records_keep_one_metric_per_task_and_qa_keeps_its_mean():
    records = pd.DataFrame(_rows("xquad", "exact_match", {"en": 0.5}) + _rows("xquad", "f1", {"en": 0.7})
                           + _rows("xquad", "squad", {"en": 0.6}) + _rows("udpos", "seqeval", {"en": 0.9, "rlx": 0.4})
                           + _rows("xcopa", "accuracy", {"en": 1.0}))
    headline = xtreme_report.headline_records(records)
    assert sorted(zip(headline.task, headline.metric)) == [("udpos", "seqeval"), ("udpos", "seqeval"),
                                                           ("xcopa", "accuracy"), ("xquad", "squad")]
    assert xtreme_report.tested_langs(records) == {"xquad": ("en",), "udpos": ("en", "rlx"), "xcopa": ("en",)}


def test_task_family_is_the_task_group():
    # task_family now names the task's XTREME group (tasks of one group share a figure panel), not its type.
    assert [xtreme_report.task_family(t) for t in ("udpos", "xquad", "xcopa", "tatoeba", "xnli")] == [
        "structured_prediction", "qa", "classification", "retrieval", "classification"]


# A submission folder per seed, with hand-computed scores: xcopa (classification) 3/4 right in en, 1/4 in rlx;
# panx (structured prediction) entity F1 1 in en and 0.5 in rlx; tatoeba (retrieval) 1/2 in rlx; bucc2018, which
# XTREME-R does not have, perfect in rlx (it must count in no group).
GOLD = {"xcopa": {"en": [0, 1, 1, 0], "rlx": [0, 1, 1, 0]},
        "panx": {"en": [["B-PER", "O"]], "rlx": [["B-PER", "O"], ["B-LOC", "I-LOC"]]},
        "tatoeba": {"rlx": [0, 1]},
        "bucc2018": {"rlx": [("rlx-1", "en-1")]}}
PREDICTIONS = {"xcopa": {"en": [0, 1, 1, 1], "rlx": [1, 0, 0, 0]},
               "panx": {"en": [["B-PER", "O"]], "rlx": [["B-PER", "O"], ["B-LOC", "O"]]},
               "tatoeba": {"rlx": [0, 0]},
               "bucc2018": {"rlx": [("rlx-1", "en-1")]}}


def _submission(run_dir, method, seed, predictions):
    for task, by_lang in predictions.items():
        for lang, items in by_lang.items():
            write_submission_file(run_dir / "predictions" / method / f"seed{seed}", TASKS[task], lang, items)


def test_benchmark_records_are_the_scorers_groups_and_their_mean(tmp_path):
    for task, by_lang in GOLD.items():
        for lang, items in by_lang.items():
            write_submission_file(tmp_path / "labels", TASKS[task], lang, items)
    _submission(tmp_path, "standard", 1, PREDICTIONS)
    _submission(tmp_path, "standard", 2, GOLD)  # a perfect seed
    task_langs = {task: tuple(by_lang) for task, by_lang in GOLD.items()}
    bench = xtreme_report.benchmark_records(tmp_path, task_langs, ["standard"], [1, 2])
    assert list(bench.columns) == list(METRIC_COLUMNS)
    got = bench.set_index(["seed", "task"]).value
    # panx rlx: entities PER, LOC(2 words) vs PER, LOC(1 word): precision 1/2, recall 1/2, F1 1/2
    expected = {"classification": (0.75 + 0.25) / 2, "structured_prediction": (1 + 0.5) / 2, "retrieval": 0.5}
    for name, value in expected.items():
        assert got[1, name] == pytest.approx(value)
        assert got[2, name] == pytest.approx(1.0)
    assert got[1, "xtreme-r"] == pytest.approx(sum(expected.values()) / 3)  # bucc2018 is in no XTREME-R group
    assert set(bench.lang) == {"avg"} and set(bench.metric) == {"score"}


def _summary_rows(name, method, mean, low, high, lang="avg"):
    return {"task": name, "lang": lang, "method": method, "split": "test", "metric": "score", "n": 3,
            "mean": mean, "std": 0.01, "ci_low": low, "ci_high": high}


def test_describe_benchmark_says_beyond_noise_only_when_the_gap_interval_excludes_zero():
    summary = pd.DataFrame([_summary_rows("qa", "standard", 0.30, 0.25, 0.35),
                            _summary_rows("xtreme-r", "standard", 0.50, 0.45, 0.55)])
    gains = pd.DataFrame([_summary_rows("qa", "standard-scratch", 0.01, -0.02, 0.04),
                          _summary_rows("xtreme-r", "standard-scratch", 0.12, 0.08, 0.16)])
    text = xtreme_report.describe_benchmark(summary, gains).splitlines()
    assert text[0].startswith("- **qa group**") and "30.0 (95% CI [25.0, 35.0])" in text[0]
    assert "+1.0 (95% CI [-2.0, +4.0]): no significant difference" in text[0]
    assert text[1].startswith("- **XTREME-R score") and "+12.0 (95% CI [+8.0, +16.0]): positive beyond seed noise" in text[1]
    wide = xtreme_report.describe_benchmark(summary.assign(ci_low=-0.5, ci_high=1.5),
                                            gains.assign(ci_low=-1.2, ci_high=1.4)).splitlines()[0]
    assert "30.0 (95% CI [0.0, 100.0])" in wide and "+1.0 (95% CI [-100.0, +100.0])" in wide  # clipped to the range


def test_benchmark_gap_over_the_control_is_paired_by_seed():
    bench = pd.DataFrame([{"task": "xtreme-r", "lang": "avg", "method": m, "seed": s, "split": "test",
                           "metric": "score", "value": v}
                          for m, values in (("standard", (0.50, 0.60, 0.70)), ("scratch", (0.40, 0.50, 0.60)))
                          for s, v in zip((1, 2, 3), values)])
    gains = gain_summary(bench, "standard", "scratch")
    row = gains[gains.task == "xtreme-r"].iloc[0]
    assert row["mean"] == pytest.approx(0.10) and row.ci_low == pytest.approx(0.10)  # the same gap every seed
    assert "positive beyond seed noise" in xtreme_report.describe_benchmark(summarize(bench), gains)


def test_describe_distance_compares_the_nearest_and_farthest_language():
    rungs = {"en": 0, "rlx": 1, "vfx": 4}
    rows = [_summary_rows("udpos", "standard", m, lo, hi, lang=lang) | {"metric": "seqeval"}
            for lang, (m, lo, hi) in {"en": (0.9, 0.88, 0.92), "rlx": (0.6, 0.5, 0.7), "vfx": (0.3, 0.2, 0.4)}.items()]
    rows += [_summary_rows("xquad", "standard", m, lo, hi, lang=lang) | {"metric": "squad"}
             for lang, (m, lo, hi) in {"en": (0.2, 0.1, 0.3), "vfx": (0.15, 0.05, 0.25)}.items()]
    lines = xtreme_report.describe_distance(pd.DataFrame(rows), rungs).splitlines()
    assert lines[0] == ("- **udpos** (seqeval, `standard`): rung 0 90.0, rung 1 60.0, rung 4 30.0; en (rung 0) and "
                        "vfx (rung 4) differ beyond seed noise (90.0 vs 30.0).")
    assert lines[1].endswith("no significant difference between en (rung 0) and vfx (rung 4).")


def test_heatmap_cells_are_points_and_a_second_metric_per_task_is_refused():
    summary = pd.DataFrame([_summary_rows("udpos", "standard", 0.9, 0.8, 1.0, lang="en"),
                            _summary_rows("tatoeba", "standard", 0.4, 0.3, 0.5, lang="rlx"),
                            _summary_rows("udpos", "standard", 0.5, 0.4, 0.6, lang="rlx")])
    ax = plots.task_language_heatmap(summary, "standard", tasks=["udpos", "tatoeba"], langs=["en", "rlx"])
    assert sorted(t.get_text() for t in ax.texts) == ["40", "50", "90"]  # tatoeba has no English cell
    assert all(label.get_rotation() == 0 for label in ax.get_yticklabels())  # task names read across
    with pytest.raises(ValueError, match="several metrics"):
        plots.task_language_heatmap(pd.concat([summary, summary.assign(metric="f1")]), "standard")


def test_distance_figure_has_one_panel_per_task_titled_with_its_family():
    rows = [_summary_rows(task, method, 0.5, 0.4, 0.6, lang=lang) for task in ("udpos", "panx", "tatoeba")
            for method in ("standard", "scratch") for lang in ("rlx", "vfx")]
    fig = plots.by_distance_per_task(pd.DataFrame(rows), {"rlx": 1, "vfx": 4}, xtreme_report.task_family,
                                     tasks=["xnli", "tatoeba", "udpos", "panx"])  # xnli has no rows: no panel
    assert [ax.get_title() for ax in fig.axes] == ["tatoeba (retrieval)", "udpos (structured prediction)",
                                                   "panx (structured prediction)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["standard", "scratch"]  # one, for the figure
    fig = plots.by_distance_per_task(pd.DataFrame(rows), {"rlx": 1, "vfx": 4}, xtreme_report.task_family, ncols=1)
    assert [ax.get_title() for ax in fig.axes] == ["udpos (structured prediction)", "panx (structured prediction)",
                                                   "tatoeba (retrieval)"]  # one column, three rows
    assert [round(ax.get_position().x0, 3) for ax in fig.axes] == [round(fig.axes[0].get_position().x0, 3)] * 3


def test_describe_distance_does_not_call_a_seed_independent_score_significant():
    rows = [_summary_rows("tatoeba", "standard", m, m, m, lang=lang) | {"metric": "accuracy", "std": 0.0}
            for lang, m in {"rlx": 0.010, "vfx": 0.013}.items()]
    line = xtreme_report.describe_distance(pd.DataFrame(rows), {"rlx": 1, "vfx": 4})
    assert "the same for every seed" in line and "beyond seed noise" not in line
