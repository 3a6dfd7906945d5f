"""The XTREME submission layout, one format per kind of prediction: one folder per task, one file `test-<lang>.<ext>`
per language. Each format writes its files and scores a prediction file against a gold file as
google-research/xtreme's official `evaluate.py` does (x100); bad input is a DataError naming the file and line.
A task's catalogue entry names its format.

Formats: `.tsv` with one label per line (xnli, pawsx), one tag per line and a blank line between sentences
(udpos, panx), the index of the matched sentence per line (tatoeba) or tab-separated id pairs (bucc2018); `.json`
mapping question id -> answer text (xquad, mlqa, tydiqa; gold in SQuAD's json) or query id -> ranked ids
(mewslix, lareqa; gold: the relevant ids); `.jsonl` with a `label` per line (xcopa).
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.atomic import atomic_write_text
from ..core.errors import DataError
from ..core.registry import Registry
from .files import check_squad_layout
from .metrics import METRICS, bucc_f1, map_at_k, seqeval_scores
from .spec import TaskSpec


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
    check_squad_layout(path, articles)
    gold, number = {}, 0
    for article in articles:
        for paragraph in article.get("paragraphs", []):
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


def _score_labels(pred_path, gold_path, spec, lang):
    preds, gold = _read_lines(pred_path), _read_lines(gold_path)
    labels = spec.labels
    _check_labels(gold_path, gold, labels, "gold label")
    _check_labels(pred_path, preds, labels, "predicted label")
    _same_count(pred_path, preds, gold_path, gold, "labels")
    return {"accuracy": 100 * sum(p == g for (_, p), (_, g) in zip(preds, gold)) / len(gold)}


def _score_tags(pred_path, gold_path, spec, lang):
    preds, gold = _read_tags(pred_path), _read_tags(gold_path)
    labels = spec.labels
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


def _score_qa(pred_path, gold_path, spec, lang):
    gold, preds = _squad_gold(gold_path), _qa_predictions(pred_path)
    scores = METRICS[spec.metric](preds, gold, lang)  # squad, or mlqa (which normalises by language)
    return {k: 100 * v for k, v in scores.items()}


def _score_tatoeba(pred_path, gold_path, spec, lang):
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


def _score_bucc(pred_path, gold_path, spec, lang):
    gold, preds = _bucc_pairs(gold_path), _bucc_pairs(pred_path)
    if not gold:
        raise DataError(f"{gold_path}: empty; nothing to score")
    _warn_unknown_bucc_ids(pred_path, preds, gold_path, gold)
    return {k: 100 * v for k, v in bucc_f1(preds, gold).items()}


def _id_prefix(sentence_id: str) -> str:
    """An id without its number: `de-000012` -> `de-` (BUCC's ids start with the language)."""
    return re.sub(r"\d+$", "", sentence_id)


def _warn_unknown_bucc_ids(pred_path: Path, preds: list, gold_path: Path, gold: list) -> None:
    """Warn when one side's predicted ids are all unknown to the gold pairs, in both number and prefix (`fr-...`
    where gold has `de-...`): F1 is then 0 whatever the model did, and the usual cause is a file of another language
    or ids renumbered on the way. Unknown ids of the gold's own prefix are normal: a mined pair may use sentences
    that have no gold pair (a weak model's few pairs may all be such)."""
    for side, name in ((0, "source"), (1, "target")):
        gold_ids = {pair[side] for pair in gold}
        gold_prefixes = {_id_prefix(i) for i in gold_ids}
        unknown = [pair[side] for pair in preds if pair[side] not in gold_ids]
        if preds and len(unknown) == len(preds) and not {_id_prefix(i) for i in unknown} & gold_prefixes:
            warnings.warn(f"{pred_path}: {len(unknown)} of {len(preds)} predicted {name} ids match none of the gold "
                          f"ids in {gold_path} (e.g. predicted {unknown[0]!r}, gold {gold[0][side]!r}), so F1 is 0: "
                          "are these predictions for another language, or renumbered?", stacklevel=3)
            return


def _score_choices(pred_path, gold_path, spec, lang):
    preds, gold = _read_jsonl_labels(pred_path), _read_jsonl_labels(gold_path)
    n_choices = spec.num_labels
    for path, items in ((gold_path, gold), (pred_path, preds)):
        for n, label in items:
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < n_choices:
                raise DataError(f"{path}: line {n}: label {label!r} is not a choice index; allowed: "
                                f"{', '.join(map(str, range(n_choices)))}")
    _same_count(pred_path, preds, gold_path, gold, "lines")
    return {"accuracy": 100 * sum(p == g for (_, p), (_, g) in zip(preds, gold)) / len(gold)}


def _score_ranking(pred_path, gold_path, spec, lang, one_gold: bool = False):
    gold, preds = _ranked_ids(gold_path, "relevant ids"), _ranked_ids(pred_path, "ranked ids")
    for n, (qid, relevant) in enumerate(gold.items(), 1):
        if not relevant or (one_gold and len(relevant) != 1):
            want = "exactly one gold entity id" if one_gold else "at least one relevant id"
            raise DataError(f"{gold_path}: entry {n} (id {qid!r}): expected {want}, got {relevant!r}")
    missing = [qid for qid in gold if qid not in preds]
    extra = [qid for qid in preds if qid not in gold]
    if missing or extra:
        what = (f"no prediction for gold id {missing[0]!r}" if missing
                else f"id {extra[0]!r} is not in the gold file {gold_path}")
        raise DataError(f"{pred_path}: ids do not match the gold file ({len(missing)} missing, {len(extra)} "
                        f"unknown): {what}")
    return {"map@20": 100 * map_at_k(preds, gold, 20)}


def _score_entity_ranking(pred_path, gold_path, spec, lang):
    return _score_ranking(pred_path, gold_path, spec, lang, one_gold=True)


# -- writing ------------------------------------------------------------------------------------------


def _lines(items) -> str:
    return "".join(f"{item}\n" for item in items)


def _tag_sentences(items) -> str:
    return "".join("".join(f"{tag}\n" for tag in sentence) + "\n" for sentence in items)


def _choice_lines(items) -> str:
    return "".join(json.dumps({"label": int(label)}) + "\n" for label in items)


def _id_pairs(items) -> str:
    return "".join(f"{source}\t{target}\n" for source, target in items)


def _json_mapping(items) -> str:
    return json.dumps(dict(items), ensure_ascii=False, indent=1) + "\n"


def _squad_gold_json(items) -> str:
    """Gold QA as SQuAD json: `items` are (lang, examples) with `id`, `question`, `context`, `answers`."""
    lang, examples = items
    paragraphs = [{"context": e["context"], "qas": [{"id": e["id"], "question": e["question"], "answers": [
        {"text": t, "answer_start": s} for t, s in zip(e["answers"]["text"], e["answers"]["answer_start"])]}]}
        for e in examples]
    return json.dumps({"data": [{"title": lang, "paragraphs": paragraphs}]}, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class SubmissionFormat:
    """One file layout: its suffix, how items become the file's text (predictions; gold when it differs), and
    how a prediction file is scored against its gold file: (pred path, gold path, spec, lang) -> {metric: x100}."""

    name: str
    suffix: str
    text: Callable[[object], str]
    score: Callable[..., dict]
    gold_text: Callable[[object], str] | None = None


FORMATS: Registry[SubmissionFormat] = Registry("submission format")
for _format in (
    SubmissionFormat("labels", "tsv", _lines, _score_labels),  # a label name per line (xnli, pawsx)
    SubmissionFormat("tags", "tsv", _tag_sentences, _score_tags),  # a tag per line, sentences apart (udpos, panx)
    SubmissionFormat("squad", "json", _json_mapping, _score_qa, _squad_gold_json),  # {id: answer}; gold SQuAD json
    SubmissionFormat("target_index", "tsv", _lines, _score_tatoeba),  # the matched sentence's index (tatoeba)
    SubmissionFormat("id_pairs", "tsv", _id_pairs, _score_bucc),  # mined (source id, target id) pairs (bucc2018)
    SubmissionFormat("choice_index", "jsonl", _choice_lines, _score_choices),  # {"label": i} per line (xcopa)
    SubmissionFormat("ranking", "json", _json_mapping, _score_ranking),  # {query id: ranked ids} (lareqa)
    SubmissionFormat("entity_ranking", "json", _json_mapping, _score_entity_ranking),  # one gold entity (mewslix)
):
    FORMATS.register(_format.name, _format)


def submission_path(directory, spec: TaskSpec, lang: str) -> Path:
    return Path(directory) / spec.folder / f"test-{lang}.{FORMATS[spec.submission_format].suffix}"


def write_submission_file(directory, spec: TaskSpec, lang: str, items, gold: bool = False) -> Path:
    """Write `<directory>/<task>/test-<lang>.<ext>` (atomically) in the task's layout, which the scorer reads."""
    layout = FORMATS[spec.submission_format]
    path = submission_path(directory, spec, lang)
    atomic_write_text(path, (layout.gold_text if gold and layout.gold_text else layout.text)(items))
    return path
