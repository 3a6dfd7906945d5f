"""Multiple choice (XCOPA; COPA and SIQA, its training and intermediate tasks; Phang et al.'s HellaSwag, Cosmos QA and
CommonsenseQA): one (context, choice) pair per choice, shaped [batch, n_choices, seq], one score each; accuracy.
Rows: `premise`, `question`, `choices`, `label`; each source schema (`_SCHEMAS`) comes back in this one.
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


def _copa(ds, spec, where):
    """COPA / XCOPA: premise, choice1, choice2, question (cause|effect), label 0|1."""
    require_fields(ds, ["premise", "choice1", "choice2", "question", "label"], spec, where)
    for row, question in enumerate(column(ds, "question"), 1):
        if question not in COPA_QUESTIONS:
            raise DataError(f"{where}: row {row}: field 'question' is {question!r}; COPA asks for the "
                            f"'cause' or the 'effect'")
    return "premise", "question", [column(ds, "choice1"), column(ds, "choice2")], column(ds, "label"), range(2)


def _siqa(ds, spec, where):
    """Social IQa: context, question, answerA-C, label "1".."3"."""
    fields = ["answerA", "answerB", "answerC"]
    require_fields(ds, ["context", "question", *fields, "label"], spec, where)
    return "context", "question", [column(ds, f) for f in fields], column(ds, "label"), range(1, 4)


def _cosmos_qa(ds, spec, where):
    """Cosmos QA (allenai/cosmos_qa): context, question, answer0-3, label 0..3."""
    fields = [f"answer{i}" for i in range(4)]
    require_fields(ds, ["context", "question", *fields, "label"], spec, where)
    return "context", "question", [column(ds, f) for f in fields], column(ds, "label"), range(4)


def _hellaswag(ds, spec, where):
    """HellaSwag (Rowan/hellaswag): ctx, endings (a list of 4), label "0".."3"; no question."""
    require_fields(ds, ["ctx", "endings", "label"], spec, where)
    endings = _choice_lists(column(ds, "endings"), "endings", spec, where)
    return "ctx", None, [list(c) for c in zip(*endings)], column(ds, "label"), range(spec.num_labels)


def _commonsense_qa(ds, spec, where):
    """CommonsenseQA (tau/commonsense_qa): question, choices {label: [A..E], text: [...]}, answerKey A..E; the question
    is the context every choice is read with."""
    require_fields(ds, ["question", "choices", "answerKey"], spec, where)
    texts = []
    for row, choices in enumerate(column(ds, "choices"), 1):
        if not isinstance(choices, dict) or not isinstance(choices.get("text"), list):
            raise DataError(f"{where}: row {row}: field 'choices' is {choices!r}; expected {{'label': [...], "
                            f"'text': [...]}}")
        texts.append(choices["text"])
    texts = _choice_lists(texts, "choices", spec, where)
    return "question", None, [list(c) for c in zip(*texts)], column(ds, "answerKey"), spec.labels  # "A".."E"


def _choice_lists(lists, name, spec, where):
    """Every row's choices: a list of the same length as the task's (`spec.labels`)."""
    n = spec.num_labels
    for row, choices in enumerate(lists, 1):
        if not isinstance(choices, list) or len(choices) != n:
            raise DataError(f"{where}: row {row}: field {name!r} is {choices!r}; task {spec.name!r} expects a list "
                            f"of {n} choices")
    return lists


# Each source schema by a column only it has, to (premise field, question field or None, choice columns, raw
# labels, the label values in choice order); the first that matches reads the rows.
_SCHEMAS = (("answerA", _siqa), ("answer0", _cosmos_qa), ("endings", _hellaswag), ("answerKey", _commonsense_qa),
            ("choice1", _copa))
_SCHEMA_FIELDS = ("COPA (premise, choice1, choice2, question, label); SIQA (context, question, answerA-C, label); "
                  "Cosmos QA (context, question, answer0-3, label); HellaSwag (ctx, endings, label); CommonsenseQA "
                  "(question, choices, answerKey)")


def validate_choices(spec: TaskSpec, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    read = next((reader for marker, reader in _SCHEMAS if marker in ds.column_names), None)
    if read is None:
        raise DataError(f"{where}: task {spec.name!r} reads multiple-choice rows in one of these schemas: "
                        f"{_SCHEMA_FIELDS}; columns found: {', '.join(ds.column_names)}")
    premise_field, question_field, columns, raw_labels, label_values = read(ds, spec, where)
    premises = column(ds, premise_field)
    check_text_values(premises, premise_field, where)
    questions = column(ds, question_field) if question_field else [""] * len(premises)
    if question_field:
        check_text_values(questions, question_field, where)
    for i, values in enumerate(columns):
        check_text_values(values, f"choice {i + 1}", where)
    valid = {value: i for i, value in enumerate(label_values)}
    valid.update({str(k): v for k, v in valid.items()})
    labels = []
    for row, value in enumerate(raw_labels, 1):
        key = value.strip() if isinstance(value, str) else value
        if isinstance(key, bool) or not isinstance(key, (int, str)) or key not in valid:
            raise DataError(f"{where}: row {row}: label {value!r} is not one of the {len(columns)} choices; "
                            f"allowed: {', '.join(map(str, label_values))}")
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
    return f"{example['premise']} {question}" if question else example["premise"]  # HellaSwag, CommonsenseQA: none


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
