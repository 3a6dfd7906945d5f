"""Dense retrieval (LAReQA, Mewsli-X): a dual encoder (`xltlib.tasks.dual_encoder`) fine-tuned on English pairs,
selected by English dev mAP@20; each query's top 20 of the pool (every test language's candidates, plus a
candidate set file beside the test files) is exported and scored by mAP@20.

Rows, one per query: `id`, `query`, `relevant` (its gold candidate ids), and the candidates the row brings to the
pool (`candidate_ids`, `candidates`); read from SQuAD-shaped files (SQuAD v1.1, XQuAD-R with its sentence breaks;
`_qa_ranking`) or from Mewsli-X's release files (`_mewsli_jsonl`).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import datasets

from ...core.errors import DataError
from ..dual_encoder import DualEncoder, candidate_pool, pair_collate, top_candidates, training_pairs
from ..files import check_text_values, column, local_path, squad_json
from ..metrics import METRICS
from ..spec import TaskSpec
from .base import HANDLERS, TaskData, TaskHandler, sequence_length
from .span_qa import validate_squad

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
    breaks = column(ds, "sentence_breaks") if "sentence_breaks" in ds.column_names else [None] * len(ds)
    checked = validate_squad(spec, ds, where)  # ids unique, answers at their offsets
    contexts: dict[tuple, int] = {}
    rows, skipped = {name: [] for name in RANKING_FEATURES}, 0
    for row, (qid, question, context, answers, value) in enumerate(zip(
            column(checked, "id"), column(checked, "question"), column(checked, "context"), column(checked, "answers"),
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
    check_text_values(column(ds, "id"), "id", where)
    check_text_values(column(ds, "query"), "query", where)
    seen, texts = {}, {}
    for row, (qid, relevant, ids, candidates) in enumerate(zip(
            column(ds, "id"), column(ds, "relevant"), column(ds, "candidate_ids"), column(ds, "candidates")), 1):
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
               if (path := local_path(spec, "test", lang, data_files)) is not None}
    for folder in sorted(folders):
        path = folder / MEWSLI_CANDIDATES
        if not path.is_file():
            continue
        _each_record(path, "Mewsli-X entity", read_entity)
    return out

def check_relevant_in_pool(spec: TaskSpec, tests: dict[str, list[dict]], pool: dict[str, str]) -> None:
    for lang, rows in tests.items():
        for n, row in enumerate(rows, 1):
            missing = [r for r in row["relevant"] if r not in pool]
            if missing:
                raise DataError(f"task {spec.name!r} test {lang!r}: row {n} (query {row['id']!r}): relevant id "
                                f"{missing[0]!r} is in no candidate of the pool ({len(pool)} candidates: the test "
                                "files' own, and a candidate set file beside them)")


def all_rows(tests: dict[str, list[dict]]) -> list[dict]:
    return [row for rows in tests.values() for row in rows]


def relevant_sets(tests: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Query id -> relevant candidate ids over every language loaded: a LAReQA question's answer sentence in each
    language (its id is the same in all); a Mewsli-X mention's one entity."""
    out: dict[str, dict[str, None]] = {}
    for row in all_rows(tests):
        out.setdefault(row["id"], {}).update(dict.fromkeys(row["relevant"]))
    return {qid: list(ids) for qid, ids in out.items()}


def ranked(model, tokenizer, rows: list[dict], pool: dict[str, str], cfg) -> dict[str, list[str]]:
    """{query id: its top-20 candidate ids}, the submission layout of lareqa / mewslix."""
    encoder = model.encoder if isinstance(model, DualEncoder) else model
    top = top_candidates(encoder, tokenizer, [r["query"] for r in rows], pool, cfg.per_device_eval_batch_size,
                         sequence_length(encoder, cfg.max_seq_length))
    return {r["id"]: ids for r, ids in zip(rows, top)}


def ranking_score(spec: TaskSpec, model, tokenizer, rows: list[dict], pool: dict[str, str], relevant, cfg):
    found = ranked(model, tokenizer, rows, pool, cfg)
    return found, METRICS[spec.metric](found, {r["id"]: relevant[r["id"]] for r in rows})


class DenseRetrieval(TaskHandler):
    name = "dense_retrieval"
    auto_class = "AutoModel"
    supports = frozenset({"embeddings"})  # noise or PGD on the input embeddings of both towers while training
    wraps_for_training = True
    in_batch_loss = True  # each query's negatives are the batch's other candidates

    def validate(self, spec, ds, where, lang):
        if "query" in ds.column_names:  # already ranking rows (Mewsli-X's release files, read by _mewsli_jsonl)
            return _ranking_rows(ds, where)
        return _qa_ranking(spec, ds, where, lang)

    def read_local(self, spec, path, lang):
        # Mewsli-X's WikiNews files hold every language: `_mewsli_jsonl` keeps `lang`'s mentions.
        if path.suffix.lower() == ".jsonl" and _is_mewsli(path):
            return _mewsli_jsonl(path, lang)
        return squad_json(path) if path.suffix.lower() == ".json" else None

    def load(self, cfg, spec, data_files, langs):
        data = super().load(cfg, spec, data_files, langs)
        data.extra["candidates"] = load_candidate_set(spec, data_files, langs)
        check_relevant_in_pool(spec, data.tests, candidate_pool(all_rows(data.tests), data.extra["candidates"]))
        return data

    def training_examples(self, data):
        return training_pairs(data.train)

    def trainable(self, model):
        return DualEncoder(model)  # shares `model`'s weights: training it trains the encoder

    def collate(self, spec, tokenizer, cfg, max_length, with_labels=True):
        return pair_collate(tokenizer, max_length, cfg.pad_to_max_length)

    def dev_scorer(self, spec, data, tokenizer, cfg, max_length):
        """A dual encoder ranks English dev's own candidates (mAP@20)."""
        dev = data.dev
        pool, relevant = candidate_pool(dev), relevant_sets({spec.src_lang: dev})
        return lambda m: ranking_score(spec, m, tokenizer, dev, pool, relevant, cfg)[1]

    def evaluate(self, spec, model, tokenizer, data: TaskData, cfg, max_length, perturbation, seed):
        """The pool spans every test language (LAReQA) and the candidate set (Mewsli-X)."""
        pool, relevant = candidate_pool(all_rows(data.tests), data.extra["candidates"]), relevant_sets(data.tests)
        records, predictions = [], {}
        for lang, rows in data.tests.items():
            predictions[lang], value = ranking_score(spec, model, tokenizer, rows, pool, relevant, cfg)
            records.append({"lang": lang, "split": "test", "metric": spec.metric, "value": float(value)})
        return records, predictions

    def gold_items(self, spec, lang, examples, data):
        relevant = relevant_sets(data.tests)
        return {e["id"]: relevant[e["id"]] for e in examples}


HANDLERS.register(DenseRetrieval.name, DenseRetrieval())
