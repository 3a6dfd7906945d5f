"""xltlib.report.scorer on small submission folders in the XTREME layout: per-language, per-task, group and overall
scores equal hand-computed values for both XTREME and XTREME-R; bad files are DataErrors naming file and
row; the `score` subcommand prints the same JSON."""
import argparse
import json
from pathlib import Path

import pytest

from xltlib.core.errors import DataError
from xltlib.report.scorer import add_score_command, score_submission
from xltlib.tasks.benchmarks import BENCHMARKS
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.submission import FORMATS, write_submission_file


def submission_text(task: str, items) -> str:
    """The text of `task`'s submission file for `items` (the task's submission format's writer)."""
    return FORMATS[TASKS[task].submission_format].text(items)

# Per task: the gold file, a perfect prediction and an imperfect one with its hand-computed score (x100);
# every language gets the perfect one except the language named in IMPERFECT_LANG.
_SQUAD_GOLD = {"version": "1.1", "data": [{"title": "Paris", "paragraphs": [{
    "context": "The Eiffel Tower in Paris was finished in 1889 by the engineer Gustave Eiffel.",
    "qas": [{"id": "q1", "question": "What was finished?",
             "answers": [{"text": "The Eiffel Tower", "answer_start": 0}]},
            {"id": "q2", "question": "When?", "answers": [{"text": "1889", "answer_start": 42}]}]}]}]}
_MLQA_GOLD = {"data": [{"paragraphs": [{"context": "原电池又称化学电池，简称电池。",
                                        "qas": [{"id": "z1", "question": "又称？",
                                                 "answers": [{"text": "化学电池", "answer_start": 5}]}]}]}]}
_TYDI_GOLD = {"data": [{"paragraphs": [{"context": "Radium was discovered by Marie Curie.",
                                        "qas": [{"id": "t1", "question": "Who?",
                                                 "answers": [{"text": "Marie Curie", "answer_start": 25}]}]}]}]}


def _tags(sentences):
    return "".join("".join(t + "\n" for t in s) + "\n" for s in sentences)


def _lines(items):
    return "".join(f"{i}\n" for i in items)


def _jsonl(labels):
    return "".join(json.dumps({"label": label}) + "\n" for label in labels)


TASK_FILES = {
    # task: (extension, gold, perfect, imperfect, {metric: imperfect value}, imperfect task score)
    "xnli": ("tsv", _lines(["entailment", "neutral", "contradiction", "neutral"]), None,
             _lines(["entailment", "neutral", "neutral", "neutral"]), {"accuracy": 75.0}, 75.0),
    "pawsx": ("tsv", _lines(["0", "1", "1", "0"]), None, _lines(["0", "1", "0", "0"]), {"accuracy": 75.0}, 75.0),
    "udpos": ("tsv", _tags([["PRON", "VERB", "PUNCT"], ["DET", "NOUN"]]), None,
              _tags([["PRON", "NOUN", "PUNCT"], ["DET", "NOUN"]]), {"f1": 80.0}, 80.0),
    "panx": ("tsv", _tags([["B-PER", "I-PER", "O", "B-LOC"]]), None, _tags([["B-PER", "I-PER", "O", "O"]]),
             {"f1": 200 / 3, "precision": 100.0, "recall": 50.0}, 200 / 3),
    # q1 'Eiffel Tower' matches after dropping 'The'; q2 'in 1889 .': EM 0, F1 2/3
    "xquad": ("json", json.dumps(_SQUAD_GOLD), json.dumps({"q1": "The Eiffel Tower", "q2": "1889"}),
              json.dumps({"q1": "Eiffel Tower", "q2": "in 1889 ."}),
              {"exact_match": 50.0, "f1": 100 * (1 + 2 / 3) / 2}, (50.0 + 100 * (1 + 2 / 3) / 2) / 2),
    # 电池 vs 化学电池, by characters: precision 1, recall 1/2
    "mlqa": ("json", json.dumps(_MLQA_GOLD), json.dumps({"z1": "化学电池"}), json.dumps({"z1": "电池"}),
             {"exact_match": 0.0, "f1": 200 / 3}, 100 / 3),
    "tydiqa": ("json", json.dumps(_TYDI_GOLD), json.dumps({"t1": "Marie Curie"}), json.dumps({"t1": "Curie"}),
               {"exact_match": 0.0, "f1": 200 / 3}, 100 / 3),
    "tatoeba": ("tsv", _lines([2, 0, 1, 3]), None, _lines([2, 0, 3, 1]), {"accuracy": 50.0}, 50.0),
    "bucc2018": ("tsv", "de-001\ten-007\nde-002\ten-003\n", None, "de-001\ten-007\nde-002\ten-009\n",
                 {"f1": 50.0, "precision": 50.0, "recall": 50.0}, 50.0),
    "xcopa": ("jsonl", _jsonl([0, 1, 1, 0]), None, _jsonl([0, 1, 0, 0]), {"accuracy": 75.0}, 75.0),
    "mewslix": ("json", json.dumps({"m1": ["Q1"], "m2": ["Q2"]}), json.dumps({"m1": ["Q1", "Q5"], "m2": ["Q2"]}),
                json.dumps({"m1": ["Q9", "Q1"], "m2": ["Q2"]}), {"map@20": 75.0}, 75.0),
    "lareqa": ("json", json.dumps({"q1": ["a", "b"], "q2": ["c"]}), json.dumps({"q1": ["b", "a"], "q2": ["c"]}),
               json.dumps({"q1": ["x", "a", "y", "b"], "q2": ["c"]}), {"map@20": 75.0}, 75.0),
}
IMPERFECT_LANG = {"mlqa": "zh", "tydiqa": "en", "bucc2018": "fr"}  # else each task's first language


def _imperfect_lang(task, langs):
    return IMPERFECT_LANG.get(task, langs[0])


def write_submission(root: Path, version: str, tasks=None) -> tuple[Path, Path]:
    predictions, labels = root / "predictions", root / "labels"
    for task, langs in BENCHMARKS[version]["tasks"].items():
        if tasks is not None and task not in tasks:
            continue
        ext, gold, perfect, imperfect, _, _ = TASK_FILES[task]
        for lang in langs:
            prediction = imperfect if lang == _imperfect_lang(task, langs) else perfect or gold
            for folder, text in ((labels, gold), (predictions, prediction)):
                path = folder / task / f"test-{lang}.{ext}"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return predictions, labels


def expected_task_score(version: str, task: str) -> float:
    n = len(BENCHMARKS[version]["tasks"][task])
    return (100.0 * (n - 1) + TASK_FILES[task][5]) / n


@pytest.mark.parametrize("version", ["xtreme", "xtreme-r"])
def test_scores_match_hand_computed_values(tmp_path, version):
    predictions, labels = write_submission(tmp_path, version)
    scores = score_submission(predictions, labels, version)
    bench = BENCHMARKS[version]
    assert scores["xtreme_version"] == version and scores["missing_tasks"] == []
    assert set(scores["tasks"]) == set(bench["tasks"])
    for task, langs in bench["tasks"].items():
        result, imperfect = scores["tasks"][task], _imperfect_lang(task, langs)
        for metric, value in TASK_FILES[task][4].items():
            assert set(result[metric]) == set(langs), (task, metric)
            assert result[metric][imperfect] == pytest.approx(value), (task, metric)
            others = [v for lang, v in result[metric].items() if lang != imperfect]
            assert others == pytest.approx([100.0] * (len(langs) - 1)), (task, metric)
            assert result[f"avg_{metric}"] == pytest.approx((100.0 * (len(langs) - 1) + value) / len(langs))
        assert result["avg_metric"] == pytest.approx(expected_task_score(version, task)), task
    groups = {g.value: sum(expected_task_score(version, t) for t in members) / len(members)
              for g, members in bench["groups"].items()}
    assert scores["groups"] == pytest.approx(groups)
    tasks = [expected_task_score(version, t) for t in bench["tasks"]]
    assert scores["overall"] == pytest.approx(sum(tasks) / len(tasks))  # the official `all_task`
    assert scores["group_mean"] == pytest.approx(sum(groups.values()) / len(groups))


def test_xtreme_overall_by_hand(tmp_path):
    """The XTREME numbers written out once: e.g. PAN-X's 40 languages, one at F1 66.67."""
    predictions, labels = write_submission(tmp_path, "xtreme")
    scores = score_submission(predictions, labels, "xtreme")
    panx = scores["tasks"]["panx"]
    assert panx["avg_f1"] == pytest.approx((39 * 100 + 200 / 3) / 40)
    assert panx["avg_precision"] == pytest.approx(100.0)
    assert panx["avg_recall"] == pytest.approx((39 * 100 + 50) / 40)
    xquad = scores["tasks"]["xquad"]  # 11 languages; QA's score is (EM + F1) / 2
    assert xquad["avg_exact_match"] == pytest.approx((10 * 100 + 50) / 11)
    assert xquad["avg_metric"] == pytest.approx((xquad["avg_exact_match"] + xquad["avg_f1"]) / 2)
    assert scores["groups"]["retrieval"] == pytest.approx(((3 * 100 + 50) / 4 + (35 * 100 + 50) / 36) / 2)
    assert set(scores["groups"]) == {"classification", "structured_prediction", "qa", "retrieval"}


def test_incomplete_submission_scores_complete_groups_only(tmp_path):
    predictions, labels = write_submission(tmp_path, "xtreme-r", tasks={"xnli", "xcopa", "udpos"})
    scores = score_submission(predictions, labels, "xtreme-r")
    assert set(scores["tasks"]) == {"xnli", "xcopa", "udpos"}
    assert set(scores["groups"]) == {"classification"}  # structured prediction lacks panx
    assert scores["overall"] is None and scores["group_mean"] is None
    assert set(scores["missing_tasks"]) == {"panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa"}


def test_score_subcommand_prints_the_scores(tmp_path, capsys):
    predictions, labels = write_submission(tmp_path, "xtreme-r", tasks={"xnli", "xcopa"})
    parser = argparse.ArgumentParser(prog="xlt")
    add_score_command(parser.add_subparsers(dest="command", required=True))
    out_file = tmp_path / "scores.json"
    args = parser.parse_args(["score", "--predictions", str(predictions), "--labels", str(labels),
                              "--xtreme-version", "xtreme-r", "--output", str(out_file)])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out_file.read_text())
    assert printed["groups"]["classification"] == pytest.approx(
        (expected_task_score("xtreme-r", "xnli") + expected_task_score("xtreme-r", "xcopa")) / 2)


def test_written_predictions_are_read_back_by_the_scorer(tmp_path):
    """write_submission_file's layout is the one the scorer reads: gold written as predictions scores 100."""
    predictions, labels = write_submission(tmp_path, "xtreme-r", tasks={"udpos", "xcopa", "mlqa", "lareqa"})
    gold = {
        "udpos": [["PRON", "VERB", "PUNCT"], ["DET", "NOUN"]],
        "xcopa": [0, 1, 1, 0],
        "mlqa": {"z1": "化学电池"},
        "lareqa": {"q1": ["a", "b"], "q2": ["c"]},
    }
    for task, items in gold.items():
        for lang in BENCHMARKS["xtreme-r"]["tasks"][task]:
            path = write_submission_file(predictions, TASKS[task], lang, items)
            assert path == predictions / task / f"test-{lang}.{path.suffix[1:]}"
    scores = score_submission(predictions, labels, "xtreme-r")
    assert {t: s["avg_metric"] for t, s in scores["tasks"].items()} == pytest.approx({t: 100.0 for t in gold})
    assert submission_text("bucc2018", [("de-1", "en-2")]) == "de-1\ten-2\n"
    assert submission_text("xnli", ["neutral", "entailment"]) == "neutral\nentailment\n"
    assert submission_text("tatoeba", [3, 0]) == "3\n0\n"


# -- bad input ----------------------------------------------------------------------------------------


def _score_expecting(tmp_path, version, tasks, edit, *fragments):
    predictions, labels = write_submission(tmp_path, version, tasks=tasks)
    path = edit(predictions, labels)
    with pytest.raises(DataError) as info:
        score_submission(predictions, labels, version)
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_tag_outside_the_label_set(tmp_path):
    def edit(predictions, labels):
        path = predictions / "panx" / "test-de.tsv"
        path.write_text(_tags([["B-PER", "I-PER", "B-MISC", "O"]]))
        return path
    _score_expecting(tmp_path, "xtreme", {"panx"}, edit, "line 3", "'B-MISC'", "allowed: O, B-PER")


def test_sentence_with_a_missing_tag(tmp_path):
    def edit(predictions, labels):
        path = predictions / "udpos" / "test-de.tsv"
        path.write_text(_tags([["PRON", "VERB", "PUNCT"], ["DET"]]))
        return path
    _score_expecting(tmp_path, "xtreme", {"udpos"}, edit, "sentence 2 (from line 5)", "1 tags", "has 2")


def test_gold_answer_not_in_its_context(tmp_path):
    def edit(predictions, labels):
        gold = json.loads(json.dumps(_SQUAD_GOLD))
        gold["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["text"] = "1890"
        path = labels / "xquad" / "test-es.json"
        path.write_text(json.dumps(gold))
        return path
    _score_expecting(tmp_path, "xtreme", {"xquad"}, edit, "question 2 (id 'q2')", "'1890' does not appear")


def test_retrieval_ids_that_do_not_match(tmp_path):
    def edit(predictions, labels):
        path = predictions / "mewslix" / "test-ja.json"
        path.write_text(json.dumps({"m1": ["Q1"], "m3": ["Q2"]}))
        return path
    _score_expecting(tmp_path, "xtreme-r", {"mewslix"}, edit, "no prediction for gold id 'm2'")


def test_retrieval_line_counts_that_do_not_match(tmp_path):
    def edit(predictions, labels):
        path = predictions / "tatoeba" / "test-fi.tsv"
        path.write_text(_lines([2, 0, 1]))
        return path
    _score_expecting(tmp_path, "xtreme", {"tatoeba"}, edit, "3 lines", "has 4", "test-fi.tsv")


def test_malformed_bucc_pair(tmp_path):
    def edit(predictions, labels):
        path = predictions / "bucc2018" / "test-ru.tsv"
        path.write_text("de-001\ten-007\nde-002 en-003\n")
        return path
    _score_expecting(tmp_path, "xtreme", {"bucc2018"}, edit, "line 2", "<source id>")


def test_xcopa_label_that_is_no_choice(tmp_path):
    def edit(predictions, labels):
        path = predictions / "xcopa" / "test-qu.jsonl"
        path.write_text(_jsonl([0, 1, 2, 0]))
        return path
    _score_expecting(tmp_path, "xtreme-r", {"xcopa"}, edit, "line 3", "label 2", "allowed: 0, 1")


def test_classification_label_outside_the_label_set(tmp_path):
    def edit(predictions, labels):
        path = predictions / "xnli" / "test-sw.tsv"
        path.write_text(_lines(["entailment", "neutral", "2", "neutral"]))
        return path
    _score_expecting(tmp_path, "xtreme", {"xnli"}, edit, "line 3", "predicted label '2'")


def test_missing_language_file(tmp_path):
    def edit(predictions, labels):
        path = predictions / "mlqa" / "test-vi.json"
        path.unlink()
        return path
    _score_expecting(tmp_path, "xtreme", {"mlqa"}, edit, "file not found", "ar, de, en, es, hi, vi, zh")
