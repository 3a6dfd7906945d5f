"""Tagging (UD-POS, PAN-X): a token-classification head; words are tokenized as given and each word's tag goes on
its first subword only (the rest, and special tokens, get -100), as in XTREME's run_tag.py and transformers'
token classification examples; predictions map back to words through the same first subwords; seqeval F1.
Rows: `tokens` (list of str) and `tags` (ids in the task's label order). CCGbank's AUTO files are read here too
(`xltlib.tasks.ccgbank`), and then the task's tags are the inventory of its training files (`spec_for`).
"""
from __future__ import annotations

import dataclasses

import datasets
import numpy as np
import torch
from transformers import DataCollatorForTokenClassification

from ...core.config import TrainArgs
from ...core.errors import DataError
from .. import ccgbank, files
from ..files import column, require_fields
from ..metrics import METRICS, headline
from ..spec import TaskSpec
from .base import (HANDLERS, IGNORE_INDEX, Collator, ScoredHandler, padding, require_fast, split_features, to_device,
                   train_args)


def tag_names(ds: datasets.Dataset, field: str):
    """The hub's ClassLabel names for a tag sequence column, or None if the file holds plain values."""
    feature = ds.features[field]
    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def validate_tags(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    field = spec.label_field
    require_fields(ds, ["tokens", field], spec, where)
    names = tag_names(ds, field)
    index = {label: i for i, label in enumerate(spec.labels)}
    allowed = ", ".join(spec.labels)
    all_tokens, all_tags = [], []
    for row, (tokens, tags) in enumerate(zip(column(ds, "tokens"), column(ds, field)), 1):
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
            if name not in index and spec.unknown_label:
                name = spec.unknown_label  # a tag outside the inventory built from the training files
            if name not in index:
                raise DataError(f"{where}: row {row}: tag {j} ({tokens[j - 1]!r}) is {tag!r}, not a "
                                f"{spec.name} tag; allowed: {allowed} (or their indices)")
            ids.append(index[name])
        all_tokens.append(tokens)
        all_tags.append(ids)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.ClassLabel(names=list(spec.labels)))})
    return datasets.Dataset.from_dict({"tokens": all_tokens, "tags": all_tags}, features=features)


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
    require_fast(tokenizer, f"task {spec.name!r}")

    def collate(examples: list[dict]) -> dict:
        enc = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, truncation=True,
                        max_length=args.max_seq_length, padding=padding(args), return_tensors="pt")
        word_ids = [enc.word_ids(i) for i in range(len(examples))]
        batch = dict(enc)
        if with_labels:
            batch["labels"] = torch.tensor([align_word_labels(w, e["tags"]) for w, e in zip(word_ids, examples)],
                                           dtype=torch.long)
        if keep_word_ids:
            batch["word_ids"] = word_ids
        return batch

    def encode(examples: list[dict]) -> list[dict]:
        encoding = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, truncation=True,
                             max_length=args.max_seq_length)
        labels = [np.asarray(align_word_labels(encoding.word_ids(i), e["tags"]), dtype=np.int32)
                  for i, e in enumerate(examples)] if with_labels else None
        return split_features(encoding, labels)

    pad = DataCollatorForTokenClassification(tokenizer, padding=padding(args), max_length=args.max_seq_length,
                                             label_pad_token_id=IGNORE_INDEX, return_tensors="pt")
    # word_ids are for decoding predictions, not training: only the whole collate keeps them.
    return collate if keep_word_ids else Collator(collate, encode, lambda features: dict(pad(features)))


class Tagging(ScoredHandler):
    name = "tagging"
    auto_class = "AutoModelForTokenClassification"
    # Word substitution on `tokens` keeps one word per tag, so labels stay aligned.
    supports = frozenset({"embeddings", "pgd", "substitution"})

    def validate(self, spec, ds, where, lang):
        return validate_tags(spec, ds, where)

    def text_fields(self, spec):
        return ("tokens",)

    def load_split(self, spec, split, lang, data_files, max_samples):
        def read_local(path):  # CCGbank's AUTO files, or a folder of them: the split names the sections
            return ccgbank.read_auto(path, split) if ccgbank.is_auto(path) else None

        return files.load_split(spec, split, lang, data_files, max_samples, read_local=read_local,
                                validate=lambda ds, where: self.validate(spec, ds, where, lang)).to_list()

    def spec_for(self, spec, data_files):
        """With CCGbank's AUTO files for training, the task's tags are their inventory (`ccgbank.tag_inventory`:
        categories seen often enough, the rest one unknown tag), so the head is built on it; else `spec`'s own."""
        path = files.local_path(spec, "train", spec.src_lang, data_files)
        if path is None or not path.exists() or not ccgbank.is_auto(path):
            return spec
        return dataclasses.replace(spec, labels=ccgbank.tag_inventory(path), unknown_label=ccgbank.UNKNOWN_TAG)

    def collate(self, spec, tokenizer, cfg, max_length, with_labels=True):
        return tagging_collate(tokenizer, spec, train_args(cfg, max_length), with_labels)

    def batches(self, spec, tokenizer, examples, cfg, max_length, device):
        """(batch with the loss's labels, decode(model output) -> tag names per word) per evaluation batch."""
        collate = tagging_collate(tokenizer, spec, train_args(cfg, max_length), with_labels=True,
                                  keep_word_ids=True)
        size = cfg.per_device_eval_batch_size
        for start in range(0, len(examples), size):
            chunk = examples[start:start + size]
            batch = collate(chunk)
            word_ids = batch.pop("word_ids")

            def decode(output, chunk=chunk, word_ids=word_ids):
                tags = output.logits.argmax(-1).cpu()
                return [[spec.labels[t] for t in word_predictions(tags[i], word_ids[i], len(e["tokens"]))]
                        for i, e in enumerate(chunk)]

            yield to_device(batch, device), decode

    def predict(self, spec, model, tokenizer, examples, cfg, max_length, perturbation=None, seed=0):
        return self.predict_from_batches(spec, model, tokenizer, examples, cfg, max_length, ("labels",))

    def scores(self, spec, predictions, examples, lang, data):
        value = METRICS[spec.metric](predictions, self.gold_items(spec, lang, examples, data))
        return {spec.metric: headline(spec.metric, value)}  # seqeval's F1, or token accuracy itself

    def gold_items(self, spec, lang, examples, data):
        return [[spec.labels[t] for t in e["tags"]] for e in examples]


HANDLERS.register(Tagging.name, Tagging())
