"""Loaders for the XTREME / XTREME-R task types beyond sentence pairs, through Hugging Face `datasets`: from
the hub, or from local files in the hub's schema (SQuAD-format QA also in its original nested JSON).

Every split comes back in one schema per task type, checked row by row; errors name the file (or hub id) and
the 1-based row, as `xltlib.data` does for pair tasks (whose local-file helpers are reused here):
- tagging (udpos, panx): `tokens` (list of str), `tags` (ClassLabel ids in the task's label order);
- span QA (xquad, mlqa, tydiqa; lareqa's XQuAD-R): `id`, `question`, `context`, `answers` {text, answer_start},
  every answer checked to sit at its `answer_start` in the context;
- multiple choice (xcopa; COPA; SIQA, its intermediate task): `premise`, `question`, `choices`, `label`;
- sentence retrieval (tatoeba, bucc2018): `source_sentence`, `target_sentence`; BUCC adds `source_id`,
  `target_id`, and a row may hold one side only (a sentence with no translation, null on the other side);
- ranking for a dual encoder (lareqa, mewslix): one row per query, `id`, `query`, `relevant` (its gold candidate
  ids in this file), and the candidates the row brings to the pool (`candidate_ids`, `candidates`). See
  `_qa_ranking` (SQuAD-shaped files: SQuAD v1.1, XQuAD-R) and `_mewsli_jsonl` (Mewsli-X's release files).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Mapping

import datasets

from .config import SPLITS
from .data import _check_text_values, _key_path, _load_local, load_checked
from .errors import ConfigError, DataError
from .languages import check_languages
from .paths import project_root
from .tasks import TaskSpec, TaskType

XTREME_SPLITS = SPLITS + ("intermediate",)  # `intermediate`: the task trained on before `train` (xcopa: SIQA)
COPA_QUESTIONS = ("cause", "effect")


def load_xtreme_split(spec: TaskSpec, split: str, lang: str,
                      data_files: Mapping[str, Mapping[str, str]] | None = None,
                      max_samples: int | None = None) -> datasets.Dataset:
    """Load one split of `spec` in `lang`: the local file `data_files[split][lang]` if given, else the hub.

    `data_files` is one task's {split: {lang: path}}; `max_samples` keeps (and checks) the first N rows."""
    def validate(spec, ds, where):  # ranking rows name their candidates by language (LAReQA's pool spans all)
        return _validated(spec, ds, where, lang)

    return load_checked(spec, split, lang, data_files, max_samples, splits=XTREME_SPLITS,
                        load_local=_load_local_file, load_hub=_load_hub, validate=validate,
                        local_path=_local_path)


# -- where the rows come from -------------------------------------------------------------------------


def _local_path(spec: TaskSpec, split: str, lang: str, data_files) -> Path | None:
    if not data_files:
        return None
    if not isinstance(data_files, Mapping):
        raise ConfigError(f"data_files for task {spec.name!r} must map splits to {{lang: path}}, got {data_files!r}")
    for key in data_files:
        if key not in XTREME_SPLITS:
            raise ConfigError(f"data_files for task {spec.name!r}: unknown split {key!r}; allowed: "
                              f"{', '.join(XTREME_SPLITS)} (pass RunConfig.data_files[{spec.name!r}])")
    path = (data_files.get(split) or {}).get(lang)
    if not path:
        return None
    path = Path(path).expanduser()
    # Relative to the project, not the working directory (papermill runs kernels inside notebooks/), as in .data.
    return path if path.is_absolute() else project_root() / path


def _load_local_file(spec: TaskSpec, split: str, lang: str, path: Path) -> datasets.Dataset:
    if spec.dual_encoder and path.suffix.lower() == ".jsonl" and path.is_file() and _is_mewsli(path):
        return _mewsli_jsonl(path, lang)
    if path.suffix.lower() == ".json" and path.is_file() and spec.label_field == "answers":
        nested = _squad_json(path)
        if nested is not None:
            return nested
    return _load_local(spec, split, lang, path)


def _squad_json(path: Path) -> datasets.Dataset | None:
    """SQuAD's original nested layout (data > paragraphs > qas), as XQuAD, MLQA and TyDiQA-GoldP are released,
    flattened to the hub's one row per question; None if the file is not in that layout. A paragraph's
    `sentence_breaks` (XQuAD-R's release: [start, end] character spans) are kept when the file has them."""
    try:
        with path.open(encoding="utf-8") as f:
            top = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # JSON lines, or broken: the generic reader reports it
    if not isinstance(top, dict) or "data" not in top:
        return None
    rows = []
    try:
        with_breaks = any("sentence_breaks" in p for a in top["data"] for p in a["paragraphs"])
        for article in top["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    rows.append({"id": qa["id"], "title": article.get("title", ""),
                                 "context": paragraph["context"], "question": qa["question"],
                                 "answers": qa["answers"]})
                    if with_breaks:
                        rows[-1]["sentence_breaks"] = paragraph.get("sentence_breaks")
    except (KeyError, TypeError) as e:
        raise DataError(f"{path}: not in SQuAD's layout (data > paragraphs > context, qas > id, question, "
                        f"answers) at question {len(rows) + 1}: missing or malformed {e}") from e
    return datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({})


def _load_hub(spec: TaskSpec, split: str, lang: str) -> tuple[datasets.Dataset, str]:
    hub = {"train": spec.train, "validation": spec.dev, "test": spec.test,
           "intermediate": spec.intermediate}[split]
    if hub is None or not hub.path:
        raise DataError(f"task {spec.name!r} has no hub {split} split; give a local copy in its schema by "
                        f"{_key_path(spec, split, lang)}")
    prefix = hub.id_prefix_for(lang) if hasattr(hub, "id_prefix_for") else ""
    per_lang = "{lang}" in hub.config or "{name}" in hub.config or bool(prefix)
    if split != "test" and not per_lang and lang != spec.src_lang:
        raise DataError(f"task {spec.name!r} has no hub {split} split in {lang!r} (it is {spec.src_lang!r} "
                        f"only: {hub.path} config {hub.config!r}); give a local copy by "
                        f"{_key_path(spec, split, lang)}")
    allowed = spec.langs if split == "test" else tuple(dict.fromkeys(spec.langs + (spec.src_lang,)))
    check_languages([lang], allowed, f"task {spec.name!r} split {split!r}")
    config = hub.config_for(lang)
    where = f"hub dataset {hub.path!r} config {config!r} split {hub.split!r}"
    try:
        ds = datasets.load_dataset(hub.path, config, split=hub.split)
    except Exception as e:  # offline, not cached, or renamed on the hub
        raise DataError(f"could not load {where}: {type(e).__name__}: {e}; without network, give a local "
                        f"copy in the hub schema by {_key_path(spec, split, lang)}") from e
    if prefix:
        ds = ds.filter(lambda i: i.startswith(prefix), input_columns="id")
        where += f" (ids starting {prefix!r})"
    return ds, where


# -- checks, by task type -----------------------------------------------------------------------------


def _validated(spec: TaskSpec, ds: datasets.Dataset, where: str, lang: str) -> datasets.Dataset:
    if spec.dual_encoder:
        if "query" in ds.column_names:  # already ranking rows (Mewsli-X's release files, read by _mewsli_jsonl)
            return _ranking_rows(ds, where)
        if spec.label_field == "answers":
            return _qa_ranking(spec, ds, where, lang)
    if spec.type is TaskType.TAGGING:
        return _tagging(spec, ds, where)
    if spec.label_field == "answers":
        return _span_qa(spec, ds, where)
    if spec.type is TaskType.MULTIPLE_CHOICE:
        return _multiple_choice(spec, ds, where)
    if spec.text_fields == ("source_sentence", "target_sentence"):
        return _sentence_pairs(spec, ds, where)
    raise DataError(f"{where}: no loader for task {spec.name!r} ({spec.type.value}) yet; "
                    "read its release files directly")


def _col(ds: datasets.Dataset, name: str) -> list:
    return ds[name][:]  # a plain list (datasets >= 4 returns a lazy Column for ds[name])


def _require(ds: datasets.Dataset, names, spec: TaskSpec, where: str) -> None:
    for name in names:
        if name not in ds.column_names:
            raise DataError(f"{where}: missing required field {name!r} for task {spec.name!r} (needs "
                            f"{', '.join(names)}); columns found: {', '.join(ds.column_names)}")


def _tag_names(ds: datasets.Dataset, field: str):
    """The hub's ClassLabel names for a tag sequence column, or None if the file holds plain values."""
    feature = ds.features[field]
    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def _tagging(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    field = spec.label_field
    _require(ds, ["tokens", field], spec, where)
    names = _tag_names(ds, field)
    index = {label: i for i, label in enumerate(spec.labels)}
    allowed = ", ".join(spec.labels)
    all_tokens, all_tags = [], []
    for row, (tokens, tags) in enumerate(zip(_col(ds, "tokens"), _col(ds, field)), 1):
        if not isinstance(tokens, list) or not tokens:
            raise DataError(f"{where}: row {row}: field 'tokens' must be a non-empty list of words, got {tokens!r}")
        for j, token in enumerate(tokens, 1):
            if not isinstance(token, str) or not token.strip():
                raise DataError(f"{where}: row {row}: token {j} is empty or not text: {token!r}")
        if not isinstance(tags, list) or len(tags) != len(tokens):
            n = len(tags) if isinstance(tags, list) else "no"
            raise DataError(f"{where}: row {row}: {len(tokens)} tokens but {n} tags in field {field!r}")
        ids = []
        for j, tag in enumerate(tags, 1):
            name = tag
            if names is not None and isinstance(tag, int):
                name = names[tag] if 0 <= tag < len(names) else tag
            elif isinstance(tag, int) and not isinstance(tag, bool):
                name = spec.labels[tag] if 0 <= tag < len(spec.labels) else tag
            if name not in index:
                raise DataError(f"{where}: row {row}: tag {j} ({tokens[j - 1]!r}) is {tag!r}, not a "
                                f"{spec.name} tag; allowed: {allowed} (or their indices)")
            ids.append(index[name])
        all_tokens.append(tokens)
        all_tags.append(ids)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.ClassLabel(names=list(spec.labels)))})
    return datasets.Dataset.from_dict({"tokens": all_tokens, "tags": all_tags}, features=features)


def _answers(value) -> tuple[list, list] | None:
    """(texts, starts) from the hub's {text: [...], answer_start: [...]} or SQuAD's [{text, answer_start}]."""
    if isinstance(value, dict) and "text" in value and "answer_start" in value:
        return list(value["text"] or []), list(value["answer_start"] or [])
    if isinstance(value, list) and all(isinstance(a, dict) and "text" in a for a in value):
        return [a["text"] for a in value], [a.get("answer_start") for a in value]
    return None


def _span_qa(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    _require(ds, ["id", "question", "context", "answers"], spec, where)
    ids = [str(i) if isinstance(i, int) and not isinstance(i, bool) else i for i in _col(ds, "id")]
    questions, contexts = _col(ds, "question"), _col(ds, "context")
    _check_text_values(ids, "id", where)
    _check_text_values(questions, "question", where)
    _check_text_values(contexts, "context", where)
    seen = {}
    for row, qid in enumerate(ids, 1):
        if qid in seen:
            raise DataError(f"{where}: row {row}: id {qid!r} repeats row {seen[qid]}; question ids must be unique")
        seen[qid] = row
    out_answers = []
    for row, (qid, context, value) in enumerate(zip(ids, contexts, _col(ds, "answers")), 1):
        parsed = _answers(value)
        if parsed is None or not parsed[0]:
            raise DataError(f"{where}: row {row} (id {qid!r}): field 'answers' must hold at least one answer as "
                            f"{{text: [...], answer_start: [...]}}, got {value!r}")
        texts, starts = parsed
        if len(texts) != len(starts):
            raise DataError(f"{where}: row {row} (id {qid!r}): {len(texts)} answer texts but {len(starts)} "
                            "answer_start offsets")
        for text, start in zip(texts, starts):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: row {row} (id {qid!r}): an answer text is empty: {text!r}")
            if text not in context:
                raise DataError(f"{where}: row {row} (id {qid!r}): answer {text!r} does not appear in its context")
            if isinstance(start, bool) or not isinstance(start, int) or context[start:start + len(text)] != text:
                found = context.find(text)
                raise DataError(f"{where}: row {row} (id {qid!r}): answer {text!r} is not at answer_start "
                                f"{start!r} of its context (it first occurs at {found})")
        out_answers.append({"text": texts, "answer_start": starts})
    features = datasets.Features({
        "id": datasets.Value("string"), "question": datasets.Value("string"), "context": datasets.Value("string"),
        "answers": datasets.Sequence({"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}),
    })
    return datasets.Dataset.from_dict({"id": ids, "question": questions, "context": contexts,
                                       "answers": out_answers}, features=features)


def _multiple_choice(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    if "answerA" in ds.column_names:  # SIQA: context, question, answerA-C, label "1".."3"
        _require(ds, ["context", "question", "answerA", "answerB", "answerC", "label"], spec, where)
        premise_field, choice_fields, offset = "context", ["answerA", "answerB", "answerC"], 1
    else:  # COPA / XCOPA: premise, choice1, choice2, question (cause|effect), label 0|1
        _require(ds, ["premise", "choice1", "choice2", "question", "label"], spec, where)
        premise_field, choice_fields, offset = "premise", ["choice1", "choice2"], 0
        for row, question in enumerate(_col(ds, "question"), 1):
            if question not in COPA_QUESTIONS:
                raise DataError(f"{where}: row {row}: field 'question' is {question!r}; COPA asks for the "
                                f"'cause' or the 'effect'")
    premises, questions = _col(ds, premise_field), _col(ds, "question")
    _check_text_values(premises, premise_field, where)
    _check_text_values(questions, "question", where)
    columns = [_col(ds, name) for name in choice_fields]
    for name, values in zip(choice_fields, columns):
        _check_text_values(values, name, where)
    n = len(choice_fields)
    valid = {i + offset: i for i in range(n)}
    valid.update({str(k): v for k, v in valid.items()})
    labels = []
    for row, value in enumerate(_col(ds, "label"), 1):
        key = value.strip() if isinstance(value, str) else value
        if isinstance(key, bool) or not isinstance(key, (int, str)) or key not in valid:
            raise DataError(f"{where}: row {row}: label {value!r} is not one of the {n} choices; allowed: "
                            f"{', '.join(str(k) for k in valid if isinstance(k, int))}")
        labels.append(valid[key])
    features = datasets.Features({"premise": datasets.Value("string"), "question": datasets.Value("string"),
                                  "choices": datasets.Sequence(datasets.Value("string")),
                                  "label": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"premise": premises, "question": questions,
                                       "choices": [list(c) for c in zip(*columns)], "label": labels},
                                      features=features)


def _sentence_pairs(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    _require(ds, ["source_sentence", "target_sentence"], spec, where)
    if spec.metric == "bucc_f1":
        return _bucc_sentences(ds, where)
    for name in ("source_sentence", "target_sentence"):
        _check_text_values(_col(ds, name), name, where)
    return ds.select_columns(["source_sentence", "target_sentence"])


def _bucc_sentences(ds: datasets.Dataset, where: str) -> datasets.Dataset:
    """BUCC rows: a gold pair, or (as in BUCC's comparable corpora) a sentence with no translation, its other
    side null. Ids come from `source_id` / `target_id` when given (unique per side), else from the row."""
    columns = {name: _col(ds, name) if name in ds.column_names else [None] * len(ds)
               for name in ("source_id", "source_sentence", "target_id", "target_sentence")}
    seen: dict[str, dict] = {"source": {}, "target": {}}
    for row in range(len(ds)):
        present = [side for side in ("source", "target") if columns[f"{side}_sentence"][row] is not None]
        if not present:
            raise DataError(f"{where}: row {row + 1}: both 'source_sentence' and 'target_sentence' are empty")
        for side in ("source", "target"):
            text, key = columns[f"{side}_sentence"][row], f"{side}_id"
            if text is None:
                columns[key][row] = None
                continue
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: row {row + 1}: field '{side}_sentence' is not text: {text!r}")
            sid = columns[key][row]
            sid = f"{side}-{row + 1}" if sid is None else str(sid)
            if sid in seen[side]:
                raise DataError(f"{where}: row {row + 1}: {key} {sid!r} repeats row {seen[side][sid]}")
            seen[side][sid] = row + 1
            columns[key][row] = sid
    return datasets.Dataset.from_dict(columns, features=datasets.Features(
        {name: datasets.Value("string") for name in columns}))


# -- ranking for a dual encoder (lareqa, mewslix) ----------------------------------------------------

RANKING_FEATURES = datasets.Features({
    "id": datasets.Value("string"), "query": datasets.Value("string"),
    "relevant": datasets.Sequence(datasets.Value("string")),
    "candidate_ids": datasets.Sequence(datasets.Value("string")),
    "candidates": datasets.Sequence(datasets.Value("string")),
})
MEWSLI_CANDIDATES = "candidate_set_entities.jsonl"  # the release's candidate set, beside its mention files
_SENTENCE_END = re.compile(r"[.!?\u3002\u0964\u061f](?=\s|$)")


def infer_sentence_breaks(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the sentences of `text`, ending after `.`, `!`, `?` (and the Chinese, Devanagari and
    Arabic full stops) followed by whitespace; surrounding whitespace is left out. For SQuAD-shaped files without
    the release's `sentence_breaks` (SQuAD v1.1 itself, the hub's XQuAD-R), as XTREME-R breaks SQuAD's contexts
    with a rule-based splitter before pairing questions with answer sentences."""
    spans, start = [], 0
    for match in list(_SENTENCE_END.finditer(text)) + [None]:
        end = match.end() if match else len(text)
        piece = text[start:end]
        if piece.strip():
            left = start + len(piece) - len(piece.lstrip())
            spans.append((left, start + len(piece.rstrip())))
        start = end
    return spans


def _breaks(value, context: str, where: str, row: int, qid: str) -> list[tuple[int, int]]:
    if value is None:
        return infer_sentence_breaks(context)
    ok = isinstance(value, list) and value and all(
        isinstance(b, (list, tuple)) and len(b) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in b)
        and 0 <= b[0] < b[1] <= len(context) for b in value)
    if not ok:
        raise DataError(f"{where}: row {row} (id {qid!r}): field 'sentence_breaks' must be a non-empty list of "
                        f"[start, end] character spans inside the context (length {len(context)}), got {value!r}")
    return [tuple(b) for b in value]


def _qa_ranking(spec: TaskSpec, ds: datasets.Dataset, where: str, lang: str) -> datasets.Dataset:
    """SQuAD-shaped rows (SQuAD v1.1; XQuAD-R, which adds each paragraph's `sentence_breaks`) as LAReQA's ranking:
    the query is the question, the candidates are the sentences of its context, the relevant one is the sentence
    holding the answer's start (XTREME-R's `utils_lareqa.py`). Candidate ids are `<lang>_<context>_<sentence>`,
    contexts numbered by first appearance, so the same question id in several languages has one relevant
    sentence in each. A question whose answer starts in no sentence is skipped, as in both reference scripts."""
    breaks = _col(ds, "sentence_breaks") if "sentence_breaks" in ds.column_names else [None] * len(ds)
    checked = _span_qa(spec, ds, where)  # ids unique, answers at their offsets
    contexts: dict[tuple, int] = {}
    rows, skipped = {name: [] for name in RANKING_FEATURES}, 0
    for row, (qid, question, context, answers, value) in enumerate(zip(
            _col(checked, "id"), _col(checked, "question"), _col(checked, "context"), _col(checked, "answers"),
            breaks), 1):
        spans = _breaks(value, context, where, row, qid)
        number = contexts.setdefault((context, tuple(spans)), len(contexts) + 1)
        ids = [f"{lang}_{number}_{k}" for k in range(len(spans))]
        start = answers["answer_start"][0]
        found = [k for k, (a, b) in enumerate(spans) if a <= start < b]
        if not found:
            skipped += 1
            continue
        rows["id"].append(qid)
        rows["query"].append(question)
        rows["relevant"].append([ids[found[0]]])
        rows["candidate_ids"].append(ids)
        rows["candidates"].append([context[a:b] for a, b in spans])
    if skipped:
        warnings.warn(f"{where}: skipped {skipped} of {len(checked)} questions whose answer starts in no sentence "
                      "(between the sentence breaks)", stacklevel=2)
    if not rows["id"]:
        raise DataError(f"{where}: no question has its answer inside a sentence; check the sentence breaks")
    return datasets.Dataset.from_dict(rows, features=RANKING_FEATURES)


def _ranking_rows(ds: datasets.Dataset, where: str) -> datasets.Dataset:
    """Check rows already in the ranking schema: unique non-empty ids, a query, at least one relevant id, and
    candidate ids matching their texts one to one (no id given two different texts in the file)."""
    _check_text_values(_col(ds, "id"), "id", where)
    _check_text_values(_col(ds, "query"), "query", where)
    seen, texts = {}, {}
    for row, (qid, relevant, ids, candidates) in enumerate(zip(
            _col(ds, "id"), _col(ds, "relevant"), _col(ds, "candidate_ids"), _col(ds, "candidates")), 1):
        if qid in seen:
            raise DataError(f"{where}: row {row}: query id {qid!r} repeats row {seen[qid]}")
        seen[qid] = row
        if not relevant or not all(isinstance(r, str) and r for r in relevant):
            raise DataError(f"{where}: row {row} (id {qid!r}): needs at least one relevant candidate id, got "
                            f"{relevant!r}")
        if len(ids) != len(candidates):
            raise DataError(f"{where}: row {row} (id {qid!r}): {len(ids)} candidate ids for {len(candidates)} "
                            "candidate texts")
        for cid, text in zip(ids, candidates):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: row {row} (id {qid!r}): candidate {cid!r} has no text")
            if texts.setdefault(cid, text) != text:
                raise DataError(f"{where}: row {row} (id {qid!r}): candidate id {cid!r} has another text than "
                                "earlier in the file")
    return ds.cast(RANKING_FEATURES)


# Mewsli-X's release (google-research dense_representations_for_entity_retrieval/mel/mewsli_x, schema.py): JSON
# lines of MentionEntityPair ({contextual_mention: {context, mention}, entity}: wikipedia_pairs-{train,dev}),
# ContextualMentions ({context, mentions: [...]}: wikinews_mentions-{dev,test}, every language in one file), or
# Entity ({entity_id, title, description, sentence_spans, ...}: candidate_set_entities.jsonl).
_MARKERS = re.compile(r"\{(.*?)\}")


def _is_mewsli(path: Path) -> bool:
    with path.open(encoding="utf-8") as f:
        first = f.readline()
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and ("contextual_mention" in record or "mentions" in record
                                         or "mention" in record)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _spans(value, text: str, what: str) -> list[tuple[int, int]]:
    spans = [(s["start"], s["end"]) for s in value]
    for start, end in spans:
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise ValueError(f"{what} sentence span [{start}, {end}) is outside its text (length {len(text)})")
    return spans


def mention_query(context: dict, mention: dict) -> str:
    """Mewsli-X's baseline query (XTREME-R's `preprocess_mention`): the sentence holding the mention, the mention
    set off by { } (braces already in the text become parentheses), the mention's text put in front."""
    text, span = context["text"], mention["mention_span"]
    start, end = span["start"], span["end"]
    if text[start:end] != span["text"]:
        raise ValueError(f"mention_span text {span['text']!r} is not the context's [{start}:{end}] "
                         f"({text[start:end]!r})")
    sentences = _spans(context["sentence_spans"], text, "context")
    holding = [(a, b) for a, b in sentences if a <= start and end <= b]
    if not holding:
        raise ValueError(f"mention [{start}:{end}] lies in no sentence (or crosses a sentence break)")
    a, b = holding[0]
    left, right = (_MARKERS.sub(r"(\1)", part) for part in (text[a:start], text[end:b]))
    return _one_line(f"{span['text']}: {left} {{ {span['text']} }} {right}")


def entity_description(entity: dict) -> str:
    """Mewsli-X's baseline entity text: its description's sentences, joined on one line."""
    text = entity["description"]
    spans = _spans(entity.get("sentence_spans") or [{"start": 0, "end": len(text)}], text, "description")
    return _one_line(" ".join(text[a:b] for a, b in spans))


def _each_record(path: Path, what: str, read) -> None:
    """`read(record)` for each JSON line of `path` (blank lines skipped); a line that is not JSON or a record
    `read` cannot take is a DataError naming the file and the 1-based row."""
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                read(json.loads(line))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
                raise DataError(f"{path}: row {n}: not a {what} ({detail})") from e


def _mewsli_jsonl(path: Path, lang: str) -> datasets.Dataset:
    """Ranking rows from one of Mewsli-X's mention files. Mentions in WikiNews articles (every language in one
    file) are kept for `lang` only and bring no candidates (those are the candidate set beside the file);
    Wikipedia pairs bring their own entity as a candidate (the dev pool is the dev entities)."""
    rows = {name: [] for name in RANKING_FEATURES}

    def add(qid, query, entity_id, candidate=None):
        rows["id"].append(qid)
        rows["query"].append(query)
        rows["relevant"].append([entity_id])
        rows["candidate_ids"].append([entity_id] if candidate is not None else [])
        rows["candidates"].append([candidate] if candidate is not None else [])

    def read(record: dict) -> None:
        if "contextual_mention" in record:
            cm, entity = record["contextual_mention"], record["entity"]
            if cm["mention"]["entity_id"] != entity["entity_id"]:
                raise ValueError(f"the mention's entity_id {cm['mention']['entity_id']!r} is not its "
                                 f"entity's {entity['entity_id']!r}")
            add(cm["mention"]["example_id"], mention_query(cm["context"], cm["mention"]), entity["entity_id"],
                entity_description(entity))
            return
        context = record["context"]
        if context["language"] == lang:
            for mention in record.get("mentions") or [record["mention"]]:
                add(mention["example_id"], mention_query(context, mention), mention["entity_id"])

    _each_record(path, "Mewsli-X record", read)
    return datasets.Dataset.from_dict(rows, features=RANKING_FEATURES)


def load_candidate_set(spec: TaskSpec, data_files, langs) -> dict[str, str]:
    """{entity id: text} of Mewsli-X's candidate set, read from `candidate_set_entities.jsonl` beside each local
    test file that has one (the release keeps them together); {} when there is none (LAReQA: its pool is its
    test files' sentences). The candidates of the rows themselves are added by the caller."""
    out: dict[str, str] = {}

    def read_entity(entity: dict) -> None:
        entity_id, text = entity["entity_id"], entity_description(entity)
        if not isinstance(entity_id, str) or not entity_id or not text:
            raise ValueError("an entity needs an entity_id and a description")
        if out.setdefault(entity_id, text) != text:
            raise ValueError(f"entity {entity_id!r} appears twice with different texts")

    folders = {path.parent for lang in langs
               if (path := _local_path(spec, "test", lang, data_files)) is not None}
    for folder in sorted(folders):
        path = folder / MEWSLI_CANDIDATES
        if not path.is_file():
            continue
        _each_record(path, "Mewsli-X entity", read_entity)
    return out
