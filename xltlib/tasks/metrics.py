"""Task metrics by name (as the catalogue names them), computed on label arrays: the XTREME / XTREME-R metrics, each as defined by the script or library the benchmark scores with.

- Classification (XNLI, PAWS-X, XCOPA) and Tatoeba: accuracy.
- Tagging (UD-POS and PAN-X alike): seqeval's chunk F1 (default, conlleval-style mode), as google-research/
  xtreme `evaluate.py` computes it for both tasks. CCG supertagging (an intermediate task): token accuracy.
- Span QA: the SQuAD v1.1 evaluation script (Rajpurkar et al., 2016; `third_party/evaluate_squad.py` in
  xtreme) for XQuAD and TyDiQA-GoldP; MLQA's `mlqa_evaluation_v1.py` (facebookresearch/MLQA) for MLQA, whose
  normalisation knows each language's articles and splits Chinese into characters.
- Retrieval: mean average precision at 20 (`average_precision_at_k` of xtreme's `third_party/utils_lareqa.py`;
  for Mewsli-X's single gold entity it equals the MRR@20 of `utils_mewslix.py`); BUCC F1 over mined pairs
  with the threshold chosen as xtreme's `bucc_optimize`; Tatoeba is plain accuracy.
- Image-text retrieval (the image-text intermediate task): recall@1 and @5 in both directions, as CLIP reports
  COCO / Flickr30k retrieval; its one number is the mean of the two recall@1.
Values are fractions in [0, 1]; the scorer reports them x100 as the official scorer does. `evaluate`'s hub
metrics need a download, so the short definitions are written out here.
"""
from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections import Counter
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..core.registry import Registry

METRICS: Registry = Registry("metric")


def accuracy(predictions, labels) -> float:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"accuracy: {predictions.shape[0]} predictions for {labels.shape[0]} labels")
    return float((predictions == labels).mean()) if len(labels) else float("nan")


# -- tagging ------------------------------------------------------------------------------------------


def seqeval_scores(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> dict[str, float]:
    """seqeval's micro chunk precision, recall and F1 over sentences of tag strings.

    Tags without a B-/I- prefix (UD-POS) are still chunked by seqeval (first character as the chunk tag, the
    rest as the type), which is what XTREME's UD-POS number is; seqeval's "not a NE tag" warnings are muted."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    predictions, labels = _aligned_tags("seqeval", predictions, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return {"f1": float(f1_score(labels, predictions)),
                "precision": float(precision_score(labels, predictions)),
                "recall": float(recall_score(labels, predictions))}


def token_accuracy(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> float:
    """The share of tokens whose tag is right, over all sentences: what jiant and the supertagging literature report
    for CCG (a supertag is a word's category, not a chunk, so seqeval's chunk F1 would misread it)."""
    predictions, labels = _aligned_tags("token_accuracy", predictions, labels)
    pairs = [(p, l) for sentence_p, sentence_l in zip(predictions, labels) for p, l in zip(sentence_p, sentence_l)]
    return sum(p == l for p, l in pairs) / len(pairs) if pairs else float("nan")


def _aligned_tags(metric: str, predictions, labels) -> tuple[list[list[str]], list[list[str]]]:
    predictions, labels = [list(p) for p in predictions], [list(l) for l in labels]
    if len(predictions) != len(labels):
        raise ValueError(f"{metric}: {len(predictions)} predicted sentences for {len(labels)} gold ones")
    for i, (p, l) in enumerate(zip(predictions, labels)):
        if len(p) != len(l):
            raise ValueError(f"{metric}: sentence {i + 1} has {len(p)} predicted tags for {len(l)} gold tags")
    return predictions, labels


# -- SQuAD v1.1 ---------------------------------------------------------------------------------------

_SQUAD_PUNCT = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """SQuAD v1.1: lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _SQUAD_PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_f1(prediction: str, ground_truth: str) -> float:
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def squad_exact_match(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(pred_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:  # both scripts score 0 here, even when both sides normalise to nothing
        return 0.0
    precision, recall = num_same / len(pred_tokens), num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
          lang: str | None = None) -> dict[str, float]:
    """Exact match and F1 over questions, each the max over its gold answers; an unanswered question
    (id missing from `predictions`) scores 0, as in the official script. `references`: id -> answer texts.
    `lang` is accepted so every QA metric is called alike; SQuAD's normalisation ignores it (MLQA's does not)."""
    return _qa_scores(predictions, references, squad_exact_match, squad_f1)


def _qa_scores(predictions, references, em_fn, f1_fn) -> dict[str, float]:
    if not references:
        raise ValueError("no gold questions to score")
    em = f1 = 0.0
    for qid, golds in references.items():
        if qid not in predictions:
            continue
        em += max(em_fn(predictions[qid], g) for g in golds)
        f1 += max(f1_fn(predictions[qid], g) for g in golds)
    return {"exact_match": em / len(references), "f1": f1 / len(references)}


# -- MLQA ---------------------------------------------------------------------------------------------

MLQA_LANGS = ("en", "es", "hi", "vi", "de", "ar", "zh")
_WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    # MLQA's pattern is '\sال^|ال'; its first branch can never match (`^` after a character), so every
    # occurrence of the definite article ال is replaced, inside words too.
    "ar": "ال",
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def _is_punct(ch: str) -> bool:
    """MLQA's PUNCT: every Unicode punctuation (category P*) plus ASCII string.punctuation."""
    return ch in _SQUAD_PUNCT or unicodedata.category(ch).startswith("P")


def mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokens: each CJK character (U+4E00-U+9FA5) and punctuation mark alone, runs of other
    characters split on whitespace."""
    tokens, run = [], ""
    for ch in text:
        if _CJK.match(ch) or _is_punct(ch):
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def mlqa_normalize(s: str, lang: str) -> str:
    if lang not in MLQA_LANGS:
        raise ValueError(f"MLQA normalisation has no rules for language {lang!r}; known: {', '.join(MLQA_LANGS)}")
    s = "".join(ch for ch in s.lower() if not _is_punct(ch))
    if lang in _ARTICLES:
        s = re.sub(_ARTICLES[lang], " ", s)
    tokens = s.split() if lang in _WHITESPACE_LANGS else mixed_segmentation(s)
    return " ".join(t for t in tokens if t.strip())


def mlqa_f1(prediction: str, ground_truth: str, lang: str) -> float:
    return _token_f1(mlqa_normalize(prediction, lang).split(), mlqa_normalize(ground_truth, lang).split())


def mlqa_exact_match(prediction: str, ground_truth: str, lang: str) -> float:
    return float(mlqa_normalize(prediction, lang) == mlqa_normalize(ground_truth, lang))


def mlqa(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], lang: str) -> dict[str, float]:
    """MLQA's exact match and F1 with the answer language's normalisation (see `squad` for the rest)."""
    return _qa_scores(predictions, references, lambda p, g: mlqa_exact_match(p, g, lang),
                      lambda p, g: mlqa_f1(p, g, lang))


# -- retrieval ----------------------------------------------------------------------------------------


def average_precision_at_k(relevant: Iterable[str], ranked: Sequence[str], k: int = 20) -> float:
    """AP@k: precision at each rank (within the first k) holding a relevant item not seen before, summed and
    divided by min(#relevant, k)."""
    relevant = set(relevant)
    if not relevant:
        raise ValueError("average precision needs at least one relevant item")
    hits, total, seen = 0, 0.0, set()
    for rank, item in enumerate(ranked[:k], 1):
        if item in relevant and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / min(len(relevant), k)


def map_at_k(predictions: Mapping[str, Sequence[str]], references: Mapping[str, Iterable[str]],
             k: int = 20) -> float:
    """Mean AP@k over the gold queries; a query with no prediction scores 0."""
    if not references:
        raise ValueError("no gold queries to score")
    return sum(average_precision_at_k(rel, predictions.get(qid, ()), k)
               for qid, rel in references.items()) / len(references)


def map_at_20(predictions: Mapping[str, Sequence[str]], references: Mapping[str, Iterable[str]]) -> float:
    return map_at_k(predictions, references, 20)


def bucc_f1(predictions: Iterable[tuple[str, str]], labels: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Precision, recall and F1 of the mined (source id, target id) pairs against the gold pairs (as sets)."""
    predictions, labels = set(map(tuple, predictions)), set(map(tuple, labels))
    correct = len(predictions & labels)
    if correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision, recall = correct / len(predictions), correct / len(labels)
    return {"f1": 2 * precision * recall / (precision + recall), "precision": precision, "recall": recall}


def bucc_best_threshold(candidate_scores: Mapping[tuple[str, str], float],
                        gold: Iterable[tuple[str, str]]) -> float:
    """XTREME's BUCC threshold: walk the candidate pairs from the highest score down, and put the threshold
    halfway between the pair where F1 against `gold` peaks and the next one (at the last pair's own score
    when the peak is the last pair). Chosen on the dev split's gold pairs, then applied to test."""
    items = sorted(candidate_scores.items(), key=lambda kv: -kv[1])
    gold = set(map(tuple, gold))
    extracted = correct = 0
    threshold, best_f1 = 0.0, 0.0
    for i, (pair, score) in enumerate(items):
        extracted += 1
        correct += tuple(pair) in gold
        if correct:
            precision, recall = correct / extracted, correct / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


def bucc_extract(candidate_scores: Mapping[tuple[str, str], float], threshold: float) -> set[tuple[str, str]]:
    """The candidate pairs kept at `threshold` (score >= threshold)."""
    return {tuple(pair) for pair, score in candidate_scores.items() if score >= threshold}


def top_k(similarities: np.ndarray, k: int) -> np.ndarray:
    """Each row's k highest columns, best first (ties: the lower column first)."""
    return np.argsort(-similarities, axis=1, kind="stable")[:, :k]


def retrieval_recall(similarities: np.ndarray, gold: Sequence[int], ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Recall@k of text->image (a caption's image among its k nearest images) and image->text (any of an image's
    captions among its k nearest captions), from [captions, images] similarities and each caption's image;
    `retrieval_recall_at_1` is the mean of the two at k = 1."""
    similarities, gold = np.asarray(similarities), np.asarray(gold)
    out = {}
    for k in ks:
        out[f"text_to_image_recall_at_{k}"] = float((top_k(similarities, k) == gold[:, None]).any(1).mean())
        captions = top_k(similarities.T, k)  # [images, k]
        out[f"image_to_text_recall_at_{k}"] = float((gold[captions] == np.arange(similarities.shape[1])[:, None])
                                                    .any(1).mean())
    out["retrieval_recall_at_1"] = (out["text_to_image_recall_at_1"] + out["image_to_text_recall_at_1"]) / 2
    return out


def headline(metric: str, value) -> float:
    """A task's one number, as XTREME's scorer takes it: (EM + F1) / 2 for QA, F1 where there is one, else
    the value itself (accuracy, mAP@20)."""
    if isinstance(value, Mapping):
        if "exact_match" in value:
            return (value["exact_match"] + value["f1"]) / 2
        return value["f1"]
    return float(value)


METRICS.register("accuracy", accuracy)
METRICS.register("seqeval", seqeval_scores)
METRICS.register("token_accuracy", token_accuracy)
METRICS.register("squad", squad)
METRICS.register("mlqa", mlqa)
METRICS.register("bucc_f1", bucc_f1)
METRICS.register("map_at_20", map_at_20)
METRICS.register("retrieval_recall_at_1", retrieval_recall)
