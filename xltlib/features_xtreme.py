"""Preprocessing and decoding for the XTREME task types beyond sentence pairs, on fast tokenizers.

- Tagging: words are tokenized as given (`is_split_into_words`) and each word's tag goes on its first subword
  only (the rest, and special tokens, get -100), as in XTREME's run_tag.py and transformers' token
  classification examples; predictions map back to words through the same first subwords.
- Span QA: contexts longer than the window are cut into overlapping windows (`stride` tokens shared, the
  question repeated), offsets map tokens back to characters, and an answer is decoded as the best-scoring
  valid span (start <= end, at most `max_answer_length` tokens, inside the context) over every window of its
  question, searching the n best starts x n best ends of each window (the SQuAD BERT recipe).
- Multiple choice: one (context, choice) pair per choice, shaped [batch, n_choices, seq], one score each.
- Retrieval: mean-pooled hidden states of a chosen layer, compared by cosine similarity.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .config import TrainArgs
from .tasks import TaskSpec

IGNORE_INDEX = -100  # the label torch's cross-entropy skips


def _require_fast(tokenizer, what: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{what} needs a fast tokenizer (word_ids, offset mappings); "
                         f"got {type(tokenizer).__name__}")


def _padding(args: TrainArgs) -> str:
    return "max_length" if args.pad_to_max_length else "longest"


# -- tagging ------------------------------------------------------------------------------------------


def align_word_labels(word_ids: list[int | None], word_labels: list[int]) -> list[int]:
    """One label per token: the word's label on its first subword, IGNORE_INDEX elsewhere."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(word_labels[word] if word is not None and word != previous else IGNORE_INDEX)
        previous = word
    return labels


def word_predictions(token_predictions, word_ids: list[int | None], n_words: int, fill: int = 0) -> list[int]:
    """Per-word predictions read off each word's first subword; words cut off by truncation get `fill`."""
    out, previous = [fill] * n_words, None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            out[word] = int(token_predictions[position])
        previous = word
    return out


def tagging_collate(tokenizer, spec: TaskSpec, args: TrainArgs, with_labels: bool = True,
                    keep_word_ids: bool = False):
    """Collate {tokens, tags} examples into padded tensors. With `keep_word_ids`, each example's token ->
    word map is added under `word_ids` (for `word_predictions`); pop it before the forward pass."""
    _require_fast(tokenizer, f"task {spec.name!r}")

    def collate(examples: list[dict]) -> dict:
        enc = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, truncation=True,
                        max_length=args.max_seq_length, padding=_padding(args), return_tensors="pt")
        word_ids = [enc.word_ids(i) for i in range(len(examples))]
        batch = dict(enc)
        if with_labels:
            batch["labels"] = torch.tensor([align_word_labels(w, e["tags"]) for w, e in zip(word_ids, examples)],
                                           dtype=torch.long)
        if keep_word_ids:
            batch["word_ids"] = word_ids
        return batch

    return collate


# -- span QA ------------------------------------------------------------------------------------------


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
    _require_fast(tokenizer, "span QA")
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


# -- multiple choice ----------------------------------------------------------------------------------


def choice_context(example: dict) -> str:
    """The first segment of every (context, choice) pair. COPA's question is the relation asked for, so it
    becomes "What was the cause?" / "... effect?" (as XTREME-R's run_xcopa.py); SIQA's is a sentence."""
    question = example["question"]
    if question in ("cause", "effect"):
        return f"{example['premise']} What was the {question}?"
    return f"{example['premise']} {question}"


def multiple_choice_collate(tokenizer, spec: TaskSpec, args: TrainArgs, with_labels: bool = True):
    """Collate {premise, question, choices, label} examples into tensors of shape [batch, n_choices, seq]."""

    def collate(examples: list[dict]) -> dict:
        n_choices = len(examples[0]["choices"])
        if any(len(e["choices"]) != n_choices for e in examples):
            raise ValueError(f"task {spec.name!r}: every example in a batch needs the same number of choices, "
                             f"got {sorted({len(e['choices']) for e in examples})}")
        firsts = [choice_context(e) for e in examples for _ in range(n_choices)]
        seconds = [choice for e in examples for choice in e["choices"]]
        enc = tokenizer(firsts, seconds, truncation=True, max_length=args.max_seq_length,
                        padding=_padding(args), return_tensors="pt")
        batch = {k: v.view(len(examples), n_choices, -1) for k, v in enc.items()}
        if with_labels:
            batch["labels"] = torch.tensor([e["label"] for e in examples], dtype=torch.long)
        return batch

    return collate


# -- retrieval ----------------------------------------------------------------------------------------


@torch.no_grad()
def sentence_embeddings(model, tokenizer, sentences: list[str], layer: int = -1, batch_size: int = 32,
                        max_length: int = 128) -> np.ndarray:
    """[n, hidden] mean over the non-padding tokens of hidden layer `layer` (0 = embeddings, -1 = last;
    XTREME's retrieval baselines use a middle layer, so pass it)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(sentences), batch_size):
        enc = tokenizer(sentences[start:start + batch_size], truncation=True, max_length=max_length,
                        padding="longest", return_tensors="pt").to(device)
        hidden = model(**enc, output_hidden_states=True).hidden_states[layer]
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out.append(((hidden * mask).sum(1) / mask.sum(1)).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.hidden_size), dtype=np.float32)


def cosine_similarity(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """[n_queries, n_candidates] cosine similarities."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    c = candidates / np.maximum(np.linalg.norm(candidates, axis=1, keepdims=True), 1e-12)
    return q @ c.T


def rank_candidates(queries: np.ndarray, candidates: np.ndarray, k: int | None = None) -> np.ndarray:
    """[n_queries, k] candidate indices by decreasing cosine similarity (ties: lower index first).

    With `k` below the pool size only each row's k best are sorted (a partition first), so ranking a large
    pool (Mewsli-X's million entities) costs a pass over the row, not a full sort."""
    similarity = cosine_similarity(queries, candidates)
    if k is None or k >= similarity.shape[1]:
        return np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    kth = -np.partition(-similarity, k - 1, axis=1)[:, k - 1]  # each row's k-th best score
    rows = []
    for row, threshold in zip(similarity, kth):
        best = np.flatnonzero(row >= threshold)  # ascending index, every tie at the threshold included
        rows.append(best[np.argsort(-row[best], kind="stable")][:k])
    return np.stack(rows) if rows else np.zeros((0, k), dtype=np.int64)
