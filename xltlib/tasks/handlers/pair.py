"""Pair classification (XNLI, PAWS-X): two sentences, one label; a sequence-classification head; accuracy.

Rows come back with exactly the task's two text fields and an int64 `label` (names, ints or strings of ints in
the file). The generalized setting (Huang et al., EMNLP 2021) is this type's: sentence 1 in one language, sentence
2 in another, from parallel test sets; every ordered language pair is scored.
"""
from __future__ import annotations

import datasets
import numpy as np
import pyarrow as pa
import torch
from transformers import DataCollatorWithPadding

from ...core.errors import DataError
from ..files import check_text_column, json_value
from ..spec import TaskSpec
from .base import (HANDLERS, Collator, ScoredHandler, TaskData, accuracy_of, eval_batches, logits_of, padding,
                   plain_logits, split_features)

GENERALIZED_SPLIT = "test_generalized"


def validate_pairs(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    """Exactly the task's text fields plus an int64 `label`, in file order."""
    required = list(spec.text_fields) + [spec.label_field]
    for name in required:
        if name not in ds.column_names:
            raise DataError(f"{where}: missing required field {name!r} for task {spec.name!r} "
                            f"(needs {', '.join(required)}); columns found: {', '.join(ds.column_names)}")
    table = ds.with_format("arrow")[:]
    for name in spec.text_fields:
        check_text_column(table.column(name), ds.features[name], name, where)
    labels = _label_ids(table.column(spec.label_field), ds.features[spec.label_field], spec, where)
    out = ds.select_columns(list(spec.text_fields))
    for name in spec.text_fields:
        if out.features[name] != datasets.Value("string"):
            out = out.cast_column(name, datasets.Value("string"))
    return out.add_column("label", labels, feature=datasets.Value("int64"))


def _label_ids(col: pa.ChunkedArray, feature, spec: TaskSpec, where: str) -> np.ndarray:
    """Map a label column to int64 ids: ints in range, label names, or strings of ints in range."""
    n = spec.num_labels
    if isinstance(feature, datasets.ClassLabel) and tuple(feature.names) != spec.labels:
        # A ClassLabel ordered differently from the task: go through the names, not the ints.
        names = np.array(feature.names + [None], dtype=object)
        ints = np.nan_to_num(col.to_numpy(zero_copy_only=False).astype(float), nan=-1).astype(np.int64)
        known = (ints >= 0) & (ints < len(feature.names))
        col = pa.chunked_array([pa.array(names[np.where(known, ints, len(feature.names))])])
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        values = col.to_numpy(zero_copy_only=False).astype(float)  # nulls become NaN
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0) | (values >= n)
        if bad.any():
            _bad_label(spec, where, int(np.argmax(bad)), col[int(np.argmax(bad))].as_py())
        return values.astype(np.int64)
    if (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) and not isinstance(
            feature, datasets.Json):
        lookup = {str(i): i for i in range(n)}
        lookup.update({label: i for i, label in enumerate(spec.labels)})  # names win over digit strings
        mapped = col.to_pandas().str.strip().map(lookup)
        bad = mapped.isna().to_numpy()
        if bad.any():
            _bad_label(spec, where, int(np.argmax(bad)), col[int(np.argmax(bad))].as_py())
        return mapped.to_numpy().astype(np.int64)
    values = col.to_pylist()
    if isinstance(feature, datasets.Json):
        values = [json_value(v) for v in values]
    return np.array([_label_id(v, spec, where, row) for row, v in enumerate(values)], dtype=np.int64)


def _label_id(value, spec: TaskSpec, where: str, row: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < spec.num_labels:
        return value
    if isinstance(value, str):
        if value.strip() in spec.labels:
            return spec.labels.index(value.strip())
        if value.strip() in {str(i) for i in range(spec.num_labels)}:
            return int(value.strip())
    _bad_label(spec, where, row, value)


def _bad_label(spec: TaskSpec, where: str, row: int, value) -> None:
    names = ", ".join(repr(label) for label in spec.labels)
    note = " (-1 marks an unlabeled example, as in some MNLI splits: drop those rows)" if value in (-1, "-1") else ""
    raise DataError(f"{where}: row {row + 1}: unknown label {value!r} in field {spec.label_field!r}{note}; "
                    f"allowed: integers 0..{spec.num_labels - 1} or the names {names}")


def pair_collate(tokenizer, spec: TaskSpec, args, with_labels: bool = True) -> Collator:
    """Two text fields are encoded as a pair; one (SST-2) as a single segment."""
    first, second = (tuple(spec.text_fields) + (None,))[:2]

    def seconds(examples: list[dict]):
        return [e[second] for e in examples] if second else None

    def collate(examples: list[dict]) -> dict:
        batch = dict(tokenizer([e[first] for e in examples], seconds(examples),
                               truncation=True, max_length=args.max_seq_length, padding=padding(args),
                               return_tensors="pt"))
        if with_labels:
            batch["labels"] = torch.tensor([e["label"] for e in examples], dtype=torch.long)
        return batch

    def encode(examples: list[dict]) -> list[dict]:
        encoding = tokenizer([e[first] for e in examples], seconds(examples), truncation=True,
                             max_length=args.max_seq_length)
        return split_features(encoding, [e["label"] for e in examples] if with_labels else None)

    pad = DataCollatorWithPadding(tokenizer, padding=padding(args), max_length=args.max_seq_length,
                                  return_tensors="pt")
    return Collator(collate, encode, lambda features: dict(pad(features)))


def predict_labels(model, examples: list[dict], collate, batch_size: int, perturbation=None,
                   seed: int = 0) -> np.ndarray:
    """Predicted label ids; a perturbation's `predict_logits` hook wraps the forward pass when given."""
    if perturbation is None:
        return plain_logits(model, examples, collate, batch_size).argmax(-1).numpy()
    out = [logits_of(model, batch, perturbation, seed, start).argmax(-1).cpu()
           for start, batch in eval_batches(model, examples, collate, batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=int)


def generalized_examples(spec: TaskSpec, tests: dict[str, list[dict]], lang1: str, lang2: str) -> list[dict]:
    """Sentence 1 from `lang1`, sentence 2 from `lang2`, label from `lang1`: rows must be parallel."""
    first, second = spec.text_fields
    a, b = tests[lang1], tests[lang2]
    if len(a) != len(b):
        raise DataError(f"task {spec.name!r}: the generalized setting needs parallel test sets, but "
                        f"{lang1} has {len(a)} rows and {lang2} has {len(b)}")
    return [{first: x[first], second: y[second], "label": x["label"]} for x, y in zip(a, b)]


def labels_of(examples: list[dict]) -> list[int]:
    return [e["label"] for e in examples]


class PairClassification(ScoredHandler):
    name = "pair_classification"
    auto_class = "AutoModelForSequenceClassification"
    supports = frozenset({"embeddings", "vote", "label_attack", "pgd", "substitution", "sentence_pairs"})

    def validate(self, spec, ds, where, lang):
        return validate_pairs(spec, ds, where)

    def collate(self, spec, tokenizer, cfg, max_length, with_labels=True):
        return pair_collate(tokenizer, spec, cfg, with_labels)

    def max_length(self, model, cfg) -> int:
        return cfg.max_seq_length

    def predict(self, spec, model, tokenizer, examples, cfg, max_length, perturbation=None, seed=0):
        collate = self.collate(spec, tokenizer, cfg, max_length)
        return predict_labels(model, examples, collate, cfg.per_device_eval_batch_size, perturbation, seed)

    def scores(self, spec, predictions, examples, lang, data):
        return {spec.metric: accuracy_of(predictions, labels_of(examples))}

    def evaluate(self, spec, model, tokenizer, data: TaskData, cfg, max_length, perturbation, seed):
        """Every language, then (with `cfg.generalized`) every ordered language pair on its first
        `max_generalized_samples` test pairs; the diagonal is then scored on those pairs too, so a row compares
        like with like. Generalized predictions are not part of the submission."""
        records, predictions = super().evaluate(spec, model, tokenizer, data, cfg, max_length, perturbation, seed)
        if not cfg.generalized:
            return records, predictions
        tests, cap = data.tests, cfg.max_generalized_samples
        for lang1 in tests:
            for lang2 in tests:
                if lang1 == lang2:  # the diagonal is the standard setting: reuse, don't recompute
                    value = accuracy_of(predictions[lang1][:cap], labels_of(tests[lang1][:cap]))
                else:
                    examples = generalized_examples(spec, tests, lang1, lang2)[:cap]
                    predicted = self.predict(spec, model, tokenizer, examples, cfg, max_length, perturbation, seed)
                    value = accuracy_of(predicted, labels_of(examples))
                records.append({"lang": f"{lang1}-{lang2}", "split": GENERALIZED_SPLIT, "metric": spec.metric,
                                "value": value})
        return records, predictions

    def submission_items(self, spec, predictions):
        return [spec.labels[i] for i in predictions]

    def gold_items(self, spec, lang, examples, data):
        return [spec.labels[e["label"]] for e in examples]


HANDLERS.register(PairClassification.name, PairClassification())
