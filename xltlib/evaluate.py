"""Zero-shot evaluation: every language of a task in one pass over a loaded model, the generalized
setting for pair tasks, and predictions in the XTREME submission layout.

The generalized setting (Huang et al., EMNLP 2021) pairs sentence 1 in one language with sentence 2 in
another; parallel test sets make every ordered language pair available. Per-language scores and the
macro average follow google-research/xtreme's scorer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .errors import DataError
from .methods import Perturbation
from .metrics import METRICS
from .results import atomic_write_text
from .tasks import TaskSpec
from .train import forward_from_embeddings

GENERALIZED_SPLIT = "test_generalized"


def eval_batches(model, examples: list[dict], collate, batch_size: int):
    """(start index, batch on the model's device without labels), with the model in eval mode; its mode is
    restored when the loop ends or is left."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for start in range(0, len(examples), batch_size):
            batch = {k: v.to(device) for k, v in collate(examples[start:start + batch_size]).items()}
            batch.pop("labels", None)
            yield start, batch
    finally:
        model.train(was_training)


@torch.no_grad()
def predict_labels(model, examples: list[dict], collate, batch_size: int,
                   perturbation: Perturbation | None = None, seed: int = 0) -> np.ndarray:
    """Predicted label ids; the perturbation's `predict_logits` hook wraps the forward pass."""
    perturbation = perturbation or Perturbation()
    embeddings = model.get_input_embeddings()
    out = []
    for start, batch in eval_batches(model, examples, collate, batch_size):
        generator = torch.Generator(device=batch["input_ids"].device).manual_seed(seed + start)
        logits = perturbation.predict_logits(forward_from_embeddings(model, batch),
                                             embeddings(batch["input_ids"]), generator,
                                             mask=batch.get("attention_mask"))
        out.append(logits.argmax(-1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=int)


def generalized_examples(spec: TaskSpec, tests: dict[str, list[dict]], lang1: str, lang2: str) -> list[dict]:
    """Sentence 1 from `lang1`, sentence 2 from `lang2`, label from `lang1`: rows must be parallel."""
    first, second = spec.text_fields
    a, b = tests[lang1], tests[lang2]
    if len(a) != len(b):
        raise DataError(f"task {spec.name!r}: the generalized setting needs parallel test sets, but "
                        f"{lang1} has {len(a)} rows and {lang2} has {len(b)}")
    return [{first: x[first], second: y[second], "label": x["label"]} for x, y in zip(a, b)]


def evaluate_task(model, spec: TaskSpec, tests: dict[str, list[dict]], collate, batch_size: int, *,
                  generalized: bool = False, perturbation: Perturbation | None = None,
                  seed: int = 0, max_generalized: int | None = None) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Score every language (and, for pair tasks, every ordered language pair, on its first `max_generalized`
    test pairs if given; the diagonal is then scored on those pairs too, so a row compares like with like).

    Returns records `{lang, split, metric, value}` and predictions keyed by lang (or `l1-l2`)."""
    metric = METRICS[spec.metric]
    records, predictions = [], {}
    for lang, examples in tests.items():
        predictions[lang] = predict_labels(model, examples, collate, batch_size, perturbation, seed)
        value = metric(predictions[lang], [e["label"] for e in examples])
        records.append({"lang": lang, "split": "test", "metric": spec.metric, "value": value})
    if generalized and spec.is_pair:
        for lang1 in tests:
            for lang2 in tests:
                key = f"{lang1}-{lang2}"
                if lang1 == lang2:  # the diagonal is the standard setting: reuse, don't recompute
                    labels = [e["label"] for e in tests[lang1][:max_generalized]]
                    value = metric(predictions[lang1][:max_generalized], labels)
                else:
                    examples = generalized_examples(spec, tests, lang1, lang2)[:max_generalized]
                    predictions[key] = predict_labels(model, examples, collate, batch_size, perturbation, seed)
                    value = metric(predictions[key], [e["label"] for e in examples])
                records.append({"lang": key, "split": GENERALIZED_SPLIT, "metric": spec.metric, "value": value})
    return records, predictions


def export_predictions(spec: TaskSpec, predictions: dict[str, np.ndarray], directory: Path) -> Path:
    """Write `<task>/test-<lang>.tsv`, one label per line, as XTREME's submission layout wants."""
    folder = Path(directory) / spec.submission_name
    for key, labels in predictions.items():
        if "-" in key:  # generalized pairs are not part of the XTREME submission
            continue
        names = spec.labels or None
        lines = [names[i] if names else str(i) for i in labels]
        atomic_write_text(folder / f"test-{key}.tsv", "".join(l + "\n" for l in lines))
    return folder
