"""Multiple choice (XCOPA; COPA and SIQA, its training and intermediate tasks): one (context, choice) pair per
choice, shaped [batch, n_choices, seq], one score each; accuracy. Rows: `premise`, `question`, `choices`, `label`
(COPA's premise/choice1/choice2 and SIQA's context/answerA-C both come back in this schema).
"""
from __future__ import annotations

import datasets
import torch
from transformers import DataCollatorWithPadding

from ...core.config import TrainArgs
from ...core.errors import DataError
from ..files import check_text_values, column, require_fields
from ..spec import TaskSpec
from .base import (HANDLERS, Collator, ScoredHandler, accuracy_of, eval_batches, logits_of, padding, split_features,
                   train_args)

COPA_QUESTIONS = ("cause", "effect")


def validate_choices(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    if "answerA" in ds.column_names:  # SIQA: context, question, answerA-C, label "1".."3"
        require_fields(ds, ["context", "question", "answerA", "answerB", "answerC", "label"], spec, where)
        premise_field, choice_fields, offset = "context", ["answerA", "answerB", "answerC"], 1
    else:  # COPA / XCOPA: premise, choice1, choice2, question (cause|effect), label 0|1
        require_fields(ds, ["premise", "choice1", "choice2", "question", "label"], spec, where)
        premise_field, choice_fields, offset = "premise", ["choice1", "choice2"], 0
        for row, question in enumerate(column(ds, "question"), 1):
            if question not in COPA_QUESTIONS:
                raise DataError(f"{where}: row {row}: field 'question' is {question!r}; COPA asks for the "
                                f"'cause' or the 'effect'")
    premises, questions = column(ds, premise_field), column(ds, "question")
    check_text_values(premises, premise_field, where)
    check_text_values(questions, "question", where)
    columns = [column(ds, name) for name in choice_fields]
    for name, values in zip(choice_fields, columns):
        check_text_values(values, name, where)
    n = len(choice_fields)
    valid = {i + offset: i for i in range(n)}
    valid.update({str(k): v for k, v in valid.items()})
    labels = []
    for row, value in enumerate(column(ds, "label"), 1):
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


def choice_context(example: dict) -> str:
    """The first segment of every (context, choice) pair. COPA's question is the relation asked for, so it
    becomes "What was the cause?" / "... effect?" (as XTREME-R's run_xcopa.py); SIQA's is a sentence."""
    question = example["question"]
    if question in ("cause", "effect"):
        return f"{example['premise']} What was the {question}?"
    return f"{example['premise']} {question}"


def multiple_choice_collate(tokenizer, spec: TaskSpec, args: TrainArgs, with_labels: bool = True) -> Collator:
    """Collate {premise, question, choices, label} examples into tensors of shape [batch, n_choices, seq]."""

    def collate(examples: list[dict]) -> dict:
        n_choices = len(examples[0]["choices"])
        if any(len(e["choices"]) != n_choices for e in examples):
            raise ValueError(f"task {spec.name!r}: every example in a batch needs the same number of choices, "
                             f"got {sorted({len(e['choices']) for e in examples})}")
        firsts = [choice_context(e) for e in examples for _ in range(n_choices)]
        seconds = [choice for e in examples for choice in e["choices"]]
        enc = tokenizer(firsts, seconds, truncation=True, max_length=args.max_seq_length,
                        padding=padding(args), return_tensors="pt")
        batch = {k: v.view(len(examples), n_choices, -1) for k, v in enc.items()}
        if with_labels:
            batch["labels"] = torch.tensor([e["label"] for e in examples], dtype=torch.long)
        return batch

    def encode(examples: list[dict]) -> list[dict]:
        pairs = split_features(tokenizer([choice_context(e) for e in examples for _ in e["choices"]],
                                         [choice for e in examples for choice in e["choices"]],
                                         truncation=True, max_length=args.max_seq_length))
        features, start = [], 0
        for e in examples:
            features.append({"choices": pairs[start:start + len(e["choices"])],
                             **({"labels": e["label"]} if with_labels else {})})
            start += len(e["choices"])
        return features

    pad_pairs = DataCollatorWithPadding(tokenizer, padding=padding(args), max_length=args.max_seq_length,
                                        return_tensors="pt")

    def pad(features: list[dict]) -> dict:
        n_choices = len(features[0]["choices"])
        if any(len(f["choices"]) != n_choices for f in features):
            raise ValueError(f"task {spec.name!r}: every example in a batch needs the same number of choices, "
                             f"got {sorted({len(f['choices']) for f in features})}")
        # Every (context, choice) pair padded to the batch's longest, as one tokenizer call pads them.
        pairs = pad_pairs([pair for f in features for pair in f["choices"]])
        batch = {k: v.view(len(features), n_choices, -1) for k, v in pairs.items()}
        if with_labels:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch

    return Collator(collate, encode, pad, length=lambda f: max(len(pair["input_ids"]) for pair in f["choices"]))


class MultipleChoice(ScoredHandler):
    name = "multiple_choice"
    auto_class = "AutoModelForMultipleChoice"
    supports = frozenset({"embeddings", "vote", "label_attack", "pgd", "substitution"})

    def validate(self, spec, ds, where, lang):
        return validate_choices(spec, ds, where)

    def text_fields(self, spec):
        return ("premise",)  # the choices differ in a word or two: substituting them would change the task

    def collate(self, spec, tokenizer, cfg, max_length, with_labels=True):
        return multiple_choice_collate(tokenizer, spec, train_args(cfg, max_length), with_labels)

    def predict(self, spec, model, tokenizer, examples, cfg, max_length, perturbation=None, seed=0):
        collate = self.collate(spec, tokenizer, cfg, max_length, with_labels=False)
        out = []
        for start, batch in eval_batches(model, examples, collate, cfg.per_device_eval_batch_size):
            logits = model(**batch).logits if perturbation is None else logits_of(model, batch, perturbation, seed,
                                                                                   start)
            out += logits.argmax(-1).cpu().tolist()
        return out

    def scores(self, spec, predictions, examples, lang, data):
        return {spec.metric: accuracy_of(predictions, [e["label"] for e in examples])}

    def submission_items(self, spec, predictions):
        return [int(p) for p in predictions]

    def gold_items(self, spec, lang, examples, data):
        return [e["label"] for e in examples]


HANDLERS.register(MultipleChoice.name, MultipleChoice())
