"""Score predictions in the XTREME submission layout against gold labels in the same layout, computing what
google-research/xtreme's official `evaluate.py` computes, for `--xtreme-version xtreme` or `xtreme-r`.

Layout: one folder per task, one file `test-<lang>.<ext>` per language: `.tsv` with one label per line
(xnli, pawsx), one tag per line and a blank line between sentences (udpos, panx), the index of the matched
sentence per line (tatoeba) or tab-separated id pairs (bucc2018); `.json` mapping question id -> answer text
(xquad, mlqa, tydiqa; gold in SQuAD's json) or query id -> ranked ids (mewslix, lareqa; gold: the relevant
ids); `.jsonl` with a `label` per line (xcopa). Per language, each task's metrics (x100); per task their
average over its languages and its score (QA: (EM + F1) / 2; else F1, accuracy or mAP@20); per group the mean
of its tasks' scores; overall the mean over all tasks (the official `all_task`), plus the mean over groups.
A group (or the overall score) is reported only when all its tasks were scored, as officially. Groups are
named by `TaskGroup` (the official script's "tagging" is "structured_prediction" here).

Beyond the official script: bad input is a DataError naming the file and row (labels outside the task's
label set, answers absent from their context, mismatched ids or line counts); Mewsli-X's score is its
mAP@20 (the official script computes it but never takes it as the task's score); LAReQA is scored (mAP@20
on XQuAD-R's languages; the official script lists no languages for it) and counted in XTREME-R's retrieval
group as the XTREME-R paper does.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from .errors import ConfigError, DataError
from .metrics_xtreme import bucc_f1, headline, map_at_k, mlqa, seqeval_scores, squad
from .tasks import TASKS, TaskGroup
from .tasks_xtreme import BENCHMARKS

VERSIONS = tuple(BENCHMARKS)


# -- readers: each returns the file's items with their 1-based line (or question) numbers ---------------


def _read_text(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found (absolute: {path.resolve()})")
    try:
        text = path.read_text(encoding="utf-8")  # universal newlines, as the official script's open()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text: {e}") from e
    lines = text.split("\n")  # not splitlines(): that also splits on form feeds, U+2028 and the like
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """One item per line, stripped; blank lines at the end of the file are not items."""
    lines = [(n, line.strip()) for n, line in enumerate(_read_text(path), 1)]
    while lines and not lines[-1][1]:
        lines.pop()
    return lines


def _read_tags(path: Path) -> list[list[tuple[int, str]]]:
    """Sentences of (line, tag), a blank line closing each sentence (the official read_tag: two blank lines
    in a row make an empty sentence); blank lines at the end of the file close nothing more."""
    sentences, current = [], []
    for n, line in enumerate(_read_text(path), 1):
        line = line.strip()
        if line:
            current.append((n, line))
        else:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    while sentences and not sentences[-1]:
        sentences.pop()
    return sentences


def _read_json(path: Path):
    if not path.is_file():
        raise DataError(f"{path}: file not found (absolute: {path.resolve()})")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON: {e}") from e


def _read_jsonl_labels(path: Path) -> list[tuple[int, object]]:
    out = []
    for n, line in _read_lines(path):
        if not line:
            raise DataError(f"{path}: line {n}: empty; expected a JSON object with a 'label'")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {n}: not valid JSON: {e}") from e
        if not isinstance(row, dict) or "label" not in row:
            raise DataError(f"{path}: line {n}: expected a JSON object with a 'label', got {line[:80]!r}")
        out.append((n, row["label"]))
    return out


# -- checks -------------------------------------------------------------------------------------------


def _same_count(pred_path: Path, preds: list, gold_path: Path, gold: list, what: str) -> None:
    if len(preds) != len(gold):
        raise DataError(f"{pred_path}: {len(preds)} {what} but the gold file {gold_path} has {len(gold)}; "
                        "predictions must be one per gold item, in the same order")
    if not gold:
        raise DataError(f"{gold_path}: empty; nothing to score")


def _check_labels(path: Path, items: list[tuple[int, str]], allowed: tuple[str, ...], what: str) -> None:
    for n, value in items:
        if value not in allowed:
            raise DataError(f"{path}: line {n}: {what} {value!r} is not in the label set; allowed: "
                            f"{', '.join(allowed)}")


def _squad_gold(path: Path) -> dict[str, list[str]]:
    """id -> gold answer texts from SQuAD json ({data: [...]} or the bare article list), each answer checked
    to appear in its context."""
    top = _read_json(path)
    articles = top.get("data") if isinstance(top, dict) else top
    if not isinstance(articles, list):
        raise DataError(f"{path}: not SQuAD json: expected {{'data': [articles]}} or a list of articles")
    gold, number = {}, 0
    for article in articles:
        for paragraph in (article or {}).get("paragraphs", []):
            context = paragraph.get("context")
            for qa in paragraph.get("qas", []):
                number += 1
                where = f"{path}: question {number} (id {qa.get('id')!r})"
                if not isinstance(context, str):
                    raise DataError(f"{where}: its paragraph has no text 'context'")
                if qa.get("id") in gold:
                    raise DataError(f"{where}: the id repeats an earlier question")
                answers = qa.get("answers")
                if not isinstance(answers, list) or not answers:
                    raise DataError(f"{where}: no gold 'answers'")
                texts = []
                for answer in answers:
                    text = answer.get("text") if isinstance(answer, dict) else None
                    if not isinstance(text, str) or not text.strip():
                        raise DataError(f"{where}: an answer has no text: {answer!r}")
                    if text not in context:
                        raise DataError(f"{where}: answer {text!r} does not appear in its context")
                    texts.append(text)
                gold[qa["id"]] = texts
    if not gold:
        raise DataError(f"{path}: no questions; nothing to score")
    return gold


def _qa_predictions(path: Path) -> dict[str, str]:
    preds = _read_json(path)
    if not isinstance(preds, dict):
        raise DataError(f"{path}: expected a JSON object mapping question id -> answer text")
    for qid, text in preds.items():
        if not isinstance(text, str):
            raise DataError(f"{path}: question {qid!r}: the answer must be a string, got {text!r}")
    return preds


def _ranked_ids(path: Path, what: str) -> dict[str, list[str]]:
    data = _read_json(path)
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a non-empty JSON object mapping query id -> list of {what}")
    for n, (qid, ids) in enumerate(data.items(), 1):
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise DataError(f"{path}: entry {n} (id {qid!r}): expected a list of {what} (strings), got {ids!r}")
    return data


# -- per-task scoring: (prediction file, gold file, task, lang) -> {metric: value x100} ---------------


def _score_labels(pred_path, gold_path, task, lang):
    preds, gold = _read_lines(pred_path), _read_lines(gold_path)
    labels = TASKS[task].labels
    _check_labels(gold_path, gold, labels, "gold label")
    _check_labels(pred_path, preds, labels, "predicted label")
    _same_count(pred_path, preds, gold_path, gold, "labels")
    return {"accuracy": 100 * sum(p == g for (_, p), (_, g) in zip(preds, gold)) / len(gold)}


def _score_tags(pred_path, gold_path, task, lang):
    preds, gold = _read_tags(pred_path), _read_tags(gold_path)
    labels = TASKS[task].labels
    for path, sentences, what in ((gold_path, gold, "gold tag"), (pred_path, preds, "predicted tag")):
        for sentence in sentences:
            _check_labels(path, sentence, labels, what)
    _same_count(pred_path, preds, gold_path, gold, "sentences")
    for i, (p, g) in enumerate(zip(preds, gold), 1):
        if len(p) != len(g):
            line = p[0][0] if p else "?"
            raise DataError(f"{pred_path}: sentence {i} (from line {line}): {len(p)} tags but the gold sentence "
                            f"in {gold_path} has {len(g)}")
    scores = seqeval_scores([[t for _, t in s] for s in preds], [[t for _, t in s] for s in gold])
    return {k: 100 * v for k, v in scores.items()}


def _score_qa(pred_path, gold_path, task, lang):
    gold, preds = _squad_gold(gold_path), _qa_predictions(pred_path)
    scores = mlqa(preds, gold, lang) if TASKS[task].metric == "mlqa" else squad(preds, gold)
    return {k: 100 * v for k, v in scores.items()}


def _score_tatoeba(pred_path, gold_path, task, lang):
    preds, gold = _read_lines(pred_path), _read_lines(gold_path)
    for path, items in ((gold_path, gold), (pred_path, preds)):
        for n, value in items:
            if not value.isdigit():
                raise DataError(f"{path}: line {n}: {value!r} is not the index of a target sentence "
                                "(a non-negative integer)")
    _same_count(pred_path, preds, gold_path, gold, "lines")
    return {"accuracy": 100 * sum(p == g for (_, p), (_, g) in zip(preds, gold)) / len(gold)}


def _bucc_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for n, line in _read_lines(path):
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise DataError(f"{path}: line {n}: expected '<source id>\\t<target id>', got {line[:80]!r}")
        pairs.append((fields[0].strip(), fields[1].strip()))
    return pairs


def _score_bucc(pred_path, gold_path, task, lang):
    gold, preds = _bucc_pairs(gold_path), _bucc_pairs(pred_path)
    if not gold:
        raise DataError(f"{gold_path}: empty; nothing to score")
    return {k: 100 * v for k, v in bucc_f1(preds, gold).items()}


def _score_xcopa(pred_path, gold_path, task, lang):
    preds, gold = _read_jsonl_labels(pred_path), _read_jsonl_labels(gold_path)
    n_choices = TASKS[task].num_labels
    for path, items in ((gold_path, gold), (pred_path, preds)):
        for n, label in items:
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < n_choices:
                raise DataError(f"{path}: line {n}: label {label!r} is not a choice index; allowed: "
                                f"{', '.join(map(str, range(n_choices)))}")
    _same_count(pred_path, preds, gold_path, gold, "lines")
    return {"accuracy": 100 * sum(p == g for (_, p), (_, g) in zip(preds, gold)) / len(gold)}


def _score_ranking(pred_path, gold_path, task, lang):
    gold, preds = _ranked_ids(gold_path, "relevant ids"), _ranked_ids(pred_path, "ranked ids")
    for n, (qid, relevant) in enumerate(gold.items(), 1):
        if not relevant or (task == "mewslix" and len(relevant) != 1):
            want = "exactly one gold entity id" if task == "mewslix" else "at least one relevant id"
            raise DataError(f"{gold_path}: entry {n} (id {qid!r}): expected {want}, got {relevant!r}")
    missing = [qid for qid in gold if qid not in preds]
    extra = [qid for qid in preds if qid not in gold]
    if missing or extra:
        what = (f"no prediction for gold id {missing[0]!r}" if missing
                else f"id {extra[0]!r} is not in the gold file {gold_path}")
        raise DataError(f"{pred_path}: ids do not match the gold file ({len(missing)} missing, {len(extra)} "
                        f"unknown): {what}")
    return {"map@20": 100 * map_at_k(preds, gold, 20)}


# task -> (file extension, scorer)
FORMATS: dict[str, tuple[str, Callable]] = {
    "xnli": ("tsv", _score_labels), "pawsx": ("tsv", _score_labels),
    "udpos": ("tsv", _score_tags), "panx": ("tsv", _score_tags),
    "xquad": ("json", _score_qa), "mlqa": ("json", _score_qa), "tydiqa": ("json", _score_qa),
    "tatoeba": ("tsv", _score_tatoeba), "bucc2018": ("tsv", _score_bucc),
    "xcopa": ("jsonl", _score_xcopa), "mewslix": ("json", _score_ranking), "lareqa": ("json", _score_ranking),
}


# -- the whole folder ---------------------------------------------------------------------------------


def score_task(predictions_dir: Path, labels_dir: Path, task: str, langs) -> dict:
    """{metric: {lang: value}, 'avg_<metric>': ..., 'avg_metric': the task's score}, as the official script."""
    suffix, score_one = FORMATS[task]
    folder = TASKS[task].submission_name or task
    per_metric: dict[str, dict[str, float]] = {}
    for lang in langs:
        pred_path = Path(predictions_dir) / folder / f"test-{lang}.{suffix}"
        gold_path = Path(labels_dir) / folder / f"test-{lang}.{suffix}"
        for path in (pred_path, gold_path):
            if not path.is_file():
                raise DataError(f"{path}: file not found; task {task!r} is scored on {', '.join(langs)}")
        for metric, value in score_one(pred_path, gold_path, task, lang).items():
            per_metric.setdefault(metric, {})[lang] = value
    result: dict = dict(per_metric)
    averages = {m: sum(v.values()) / len(v) for m, v in per_metric.items()}
    result.update({f"avg_{m}": v for m, v in averages.items()})
    # The official order: QA (EM + F1) / 2, else F1, else accuracy; and mAP@20 for the retrieval rankings.
    result["avg_metric"] = headline(TASKS[task].metric, averages if len(averages) > 1 else averages.popitem()[1])
    return result


def score_submission(predictions_dir, labels_dir, xtreme_version: str = "xtreme") -> dict:
    """Score every task of `xtreme_version` whose folder is in both directories."""
    if xtreme_version not in BENCHMARKS:
        raise ConfigError(f"unknown XTREME version {xtreme_version!r}; allowed: {', '.join(VERSIONS)}")
    predictions_dir, labels_dir = Path(predictions_dir), Path(labels_dir)
    for what, directory in (("predictions", predictions_dir), ("labels", labels_dir)):
        if not directory.is_dir():
            raise DataError(f"{directory}: {what} directory not found (absolute: {directory.resolve()})")
    bench = BENCHMARKS[xtreme_version]
    tasks, missing = {}, []
    for task, langs in bench["tasks"].items():
        folder = TASKS[task].submission_name or task
        if (predictions_dir / folder).is_dir() and (labels_dir / folder).is_dir():
            tasks[task] = score_task(predictions_dir, labels_dir, task, langs)
        else:
            missing.append(task)
    groups = {}
    for group, members in bench["groups"].items():
        if all(t in tasks for t in members):
            groups[TaskGroup(group).value] = sum(tasks[t]["avg_metric"] for t in members) / len(members)
    complete = not missing
    return {
        "xtreme_version": xtreme_version,
        "overall": sum(t["avg_metric"] for t in tasks.values()) / len(tasks) if complete else None,
        "group_mean": sum(groups.values()) / len(groups) if complete else None,
        "groups": groups,
        "tasks": tasks,
        "missing_tasks": missing,
    }


def score_tasks(predictions_dir, labels_dir, task_langs: dict, xtreme_version: str = "xtreme-r") -> dict:
    """Score the given tasks on the given languages (e.g. the embedded world's), grouped by `xtreme_version`'s
    groups restricted to the tasks given: each group the mean of its tasks here, overall the mean over groups."""
    if xtreme_version not in BENCHMARKS:
        raise ConfigError(f"unknown XTREME version {xtreme_version!r}; allowed: {', '.join(VERSIONS)}")
    tasks = {task: score_task(Path(predictions_dir), Path(labels_dir), task, langs)
             for task, langs in task_langs.items()}
    groups = {}
    for group, members in BENCHMARKS[xtreme_version]["groups"].items():
        present = [t for t in members if t in tasks]
        if present:
            groups[TaskGroup(group).value] = sum(tasks[t]["avg_metric"] for t in present) / len(present)
    return {"xtreme_version": xtreme_version, "group_mean": sum(groups.values()) / len(groups) if groups else None,
            "groups": groups, "tasks": tasks}


# -- writing predictions in the layout ----------------------------------------------------------------


def submission_text(task: str, predictions) -> str:
    """The text of one `test-<lang>` prediction file for `task`: label names (xnli, pawsx), sentences of tag
    names (udpos, panx), {id: answer} (QA), target indices (tatoeba), (source id, target id) pairs (bucc2018),
    choice indices (xcopa), {id: ranked ids} (mewslix, lareqa)."""
    suffix, score_one = FORMATS[task]
    if score_one is _score_tags:
        return "".join("".join(f"{tag}\n" for tag in sentence) + "\n" for sentence in predictions)
    if score_one is _score_xcopa:
        return "".join(json.dumps({"label": int(label)}) + "\n" for label in predictions)
    if score_one is _score_bucc:
        return "".join(f"{source}\t{target}\n" for source, target in predictions)
    if suffix == "json":
        return json.dumps(dict(predictions), ensure_ascii=False, indent=1) + "\n"
    return "".join(f"{item}\n" for item in predictions)


def write_submission_file(directory, task: str, lang: str, predictions) -> Path:
    """Write `<directory>/<task>/test-<lang>.<ext>` (atomically) in the layout `score_submission` reads."""
    from .results import atomic_write_text

    path = Path(directory) / (TASKS[task].submission_name or task) / f"test-{lang}.{FORMATS[task][0]}"
    atomic_write_text(path, submission_text(task, predictions))
    return path


# -- the `xlt score` subcommand -----------------------------------------------------------------------


def add_score_command(subparsers) -> None:
    p = subparsers.add_parser("score", help="score an XTREME-layout predictions folder against gold labels")
    p.add_argument("--predictions", required=True, metavar="DIR", help="predictions: <task>/test-<lang>.<ext>")
    p.add_argument("--labels", required=True, metavar="DIR", help="gold labels in the same layout")
    p.add_argument("--xtreme-version", default="xtreme", choices=VERSIONS,
                   help="which benchmark's tasks, languages and groups (default: xtreme, as the official script)")
    p.add_argument("--output", metavar="FILE.json", help="also write the scores to this file")
    p.set_defaults(func=cmd_score)


def cmd_score(args) -> int:
    scores = score_submission(args.predictions, args.labels, args.xtreme_version)
    text = json.dumps(scores, indent=2, ensure_ascii=False)
    if args.output:
        from .results import atomic_write_text

        atomic_write_text(args.output, text + "\n")
    print(text)
    if scores["missing_tasks"]:
        print(f"not scored (no folder in both directories): {', '.join(scores['missing_tasks'])}", file=sys.stderr)
    return 0
