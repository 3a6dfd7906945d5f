"""Span QA (XQuAD, MLQA, TyDiQA-GoldP): a question-answering head over windows of (question, context).

Contexts longer than the window are cut into overlapping windows (a third of the length shared, XTREME's 128 of
384; the question repeated), offsets map tokens back to characters, and an answer is decoded as the best-scoring
valid span (start <= end, at most 30 tokens, inside the context) over every window of its question, searching the
n best starts x n best ends of each window (the SQuAD BERT recipe). Exact match and F1 (SQuAD's, or MLQA's
per-language script); the task's one number is (EM + F1) / 2. Rows: `id`, `question`, `context`, `answers`
{text, answer_start}, every answer checked to sit at its `answer_start`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import datasets
import numpy as np
import torch

from ...core.errors import DataError
from ..files import check_text_values, column, require_fields, squad_json
from ..metrics import METRICS, headline
from ..spec import TaskSpec
from .base import HANDLERS, ScoredHandler, require_fast, to_device

QA_N_BEST, QA_MAX_ANSWER_TOKENS = 20, 30  # the SQuAD BERT recipe's defaults, as XTREME's run_squad.py


def _answers(value) -> tuple[list, list] | None:
    """(texts, starts) from the hub's {text: [...], answer_start: [...]} or SQuAD's [{text, answer_start}]."""
    if isinstance(value, dict) and "text" in value and "answer_start" in value:
        return list(value["text"] or []), list(value["answer_start"] or [])
    if isinstance(value, list) and all(isinstance(a, dict) and "text" in a for a in value):
        return [a["text"] for a in value], [a.get("answer_start") for a in value]
    return None


def validate_squad(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    require_fields(ds, ["id", "question", "context", "answers"], spec, where)
    ids = [str(i) if isinstance(i, int) and not isinstance(i, bool) else i for i in column(ds, "id")]
    questions, contexts = column(ds, "question"), column(ds, "context")
    check_text_values(ids, "id", where)
    check_text_values(questions, "question", where)
    check_text_values(contexts, "context", where)
    seen = {}
    for row, qid in enumerate(ids, 1):
        if qid in seen:
            raise DataError(f"{where}: row {row}: id {qid!r} repeats row {seen[qid]}; question ids must be unique")
        seen[qid] = row
    out_answers = []
    for row, (qid, context, value) in enumerate(zip(ids, contexts, column(ds, "answers")), 1):
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


@dataclass
class QAFeatures:
    """Model inputs for QA windows and what decoding needs: each window's example and its token offsets
    (None outside the context)."""

    inputs: dict
    example_index: list[int]
    offsets: list[list[tuple[int, int] | None]]
    start_positions: list[int] = field(default_factory=list)
    end_positions: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.example_index)


def prepare_qa_features(tokenizer, examples: list[dict], max_seq_length: int = 384, doc_stride: int = 128,
                        with_labels: bool = True, pad_to_max_length: bool = False) -> QAFeatures:
    """Windows over (question, context) with `doc_stride` tokens of overlap between consecutive windows.

    With labels, a window's target is its token span of the first gold answer, or the first token (CLS)
    when the answer is not wholly inside the window (so the model learns that window has no answer)."""
    require_fast(tokenizer, "span QA")
    questions = [e["question"].lstrip() for e in examples]  # leading spaces only waste question tokens
    enc = tokenizer(questions, [e["context"] for e in examples], truncation="only_second",
                    max_length=max_seq_length, stride=doc_stride, return_overflowing_tokens=True,
                    return_offsets_mapping=True, padding="max_length" if pad_to_max_length else "longest",
                    return_tensors="pt")
    example_index = enc.pop("overflow_to_sample_mapping").tolist()
    offset_mapping = enc.pop("offset_mapping").tolist()
    features = QAFeatures(inputs=dict(enc), example_index=example_index, offsets=[])
    for i, offsets in enumerate(offset_mapping):
        sequence_ids = enc.sequence_ids(i)
        features.offsets.append([tuple(o) if s == 1 else None for o, s in zip(offsets, sequence_ids)])
        if with_labels:
            start, end = _answer_tokens(features.offsets[-1], examples[example_index[i]]["answers"])
            features.start_positions.append(start)
            features.end_positions.append(end)
    if with_labels:
        features.inputs["start_positions"] = torch.tensor(features.start_positions, dtype=torch.long)
        features.inputs["end_positions"] = torch.tensor(features.end_positions, dtype=torch.long)
    return features


def _answer_tokens(offsets: list[tuple[int, int] | None], answers: dict) -> tuple[int, int]:
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    context = [i for i, o in enumerate(offsets) if o is not None]
    if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return 0, 0  # not wholly inside this window
    start = max(i for i in context if offsets[i][0] <= start_char)
    end = min(i for i in context if offsets[i][1] >= end_char)
    return start, end


@dataclass(frozen=True)
class SpanCandidate:
    text: str
    score: float
    start_char: int
    end_char: int
    window: int


def nbest_spans(start_logits, end_logits, features: QAFeatures, examples: list[dict], n_best: int = 20,
                max_answer_length: int = 30) -> list[list[SpanCandidate]]:
    """For each example, its valid spans from every window, best first (score = start + end logit)."""
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    by_example: list[list[SpanCandidate]] = [[] for _ in examples]
    for window, example in enumerate(features.example_index):
        offsets, context = features.offsets[window], examples[example]["context"]
        starts = np.argsort(start_logits[window])[::-1][:n_best]
        ends = np.argsort(end_logits[window])[::-1][:n_best]
        for s in starts:
            for e in ends:
                if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                    continue
                if e < s or e - s + 1 > max_answer_length:
                    continue
                a, b = offsets[s][0], offsets[e][1]
                by_example[example].append(SpanCandidate(context[a:b], float(start_logits[window][s]
                                                                             + end_logits[window][e]),
                                                         a, b, window))
    for candidates in by_example:
        candidates.sort(key=lambda c: -c.score)
    return by_example


def decode_answers(start_logits, end_logits, features: QAFeatures, examples: list[dict], n_best: int = 20,
                   max_answer_length: int = 30) -> dict[str, str]:
    """id -> the best span's text over all windows of the question ("" if no window has a valid span)."""
    spans = nbest_spans(start_logits, end_logits, features, examples, n_best, max_answer_length)
    return {e["id"]: (c[0].text if c else "") for e, c in zip(examples, spans)}


def substitute_outside_answers(example: dict, substitutions, rng) -> dict:
    """Word substitution (RS-DA) on a QA row with its answers kept aligned: question words are substituted
    freely; context words only outside every gold answer span, and each answer_start moves by the change in
    length before it. Whitespace is kept as it was, so only the substituted words change."""
    out = dict(example)
    out["question"] = substitutions.substitute_text(example["question"], rng)
    answers = example["answers"]
    spans = [(s, s + len(t)) for t, s in zip(answers["text"], answers["answer_start"])]
    pieces, shift_at, cursor = [], [], 0
    for match in re.finditer(r"\S+", example["context"]):
        start, end = match.span()
        word = match.group()
        inside = any(start < b and a < end for a, b in spans)
        new = word if inside else substitutions.pick(word, rng)
        pieces.append(example["context"][cursor:start] + new)
        shift_at.append((end, len(new) - len(word)))
        cursor = end
    out["context"] = "".join(pieces) + example["context"][cursor:]
    starts = [s + sum(d for end, d in shift_at if end <= s) for s in answers["answer_start"]]
    out["answers"] = {"text": list(answers["text"]), "answer_start": starts}
    return out


def qa_collate(tokenizer, max_length: int):
    def collate(examples: list[dict]) -> dict:
        return prepare_qa_features(tokenizer, examples, max_length, max_length // 3, with_labels=True).inputs

    return collate


class SpanQA(ScoredHandler):
    name = "span_qa"
    auto_class = "AutoModelForQuestionAnswering"
    supports = frozenset({"embeddings", "pgd", "substitution"})

    def validate(self, spec, ds, where, lang):
        return validate_squad(spec, ds, where)

    def read_local(self, spec, path, lang):
        return squad_json(path) if path.suffix.lower() == ".json" else None

    def text_fields(self, spec):
        return ("question", "context")

    def substitute(self, spec, example, substitutions, rng):
        return substitute_outside_answers(example, substitutions, rng)

    def collate(self, spec, tokenizer, cfg, max_length, with_labels=True):
        return qa_collate(tokenizer, max_length)

    def batches(self, spec, tokenizer, examples, cfg, max_length, device):
        """(windows with the loss's start/end positions, decode(model output) -> {id: answer}) per batch."""
        size = cfg.per_device_eval_batch_size
        for start in range(0, len(examples), size):
            chunk = examples[start:start + size]
            features = prepare_qa_features(tokenizer, chunk, max_length, max_length // 3, with_labels=True)

            def decode(output, features=features, chunk=chunk):
                return decode_answers(output.start_logits.float().cpu(), output.end_logits.float().cpu(), features,
                                      chunk, QA_N_BEST, QA_MAX_ANSWER_TOKENS)

            yield to_device(features.inputs, device), decode

    def join_predictions(self, parts):
        return {qid: answer for part in parts for qid, answer in part.items()}

    def predict(self, spec, model, tokenizer, examples, cfg, max_length, perturbation=None, seed=0):
        return self.predict_from_batches(spec, model, tokenizer, examples, cfg, max_length,
                                         ("start_positions", "end_positions"))

    def scores(self, spec, predictions, examples, lang, data):
        values = METRICS[spec.metric](predictions, self.gold_answers(examples), lang)  # MLQA's normalises by language
        return {"exact_match": values["exact_match"], "f1": values["f1"], spec.metric: headline(spec.metric, values)}

    @staticmethod
    def gold_answers(examples):
        return {e["id"]: list(e["answers"]["text"]) for e in examples}

    def gold_items(self, spec, lang, examples, data):
        return (lang, examples)


HANDLERS.register(SpanQA.name, SpanQA())
