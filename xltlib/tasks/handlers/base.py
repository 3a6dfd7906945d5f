"""The task-handler interface: what every task type does, so that nothing outside a handler asks which type it has.

A handler validates rows, builds batches and the head, predicts, scores, and writes predictions and gold in its
submission layout. It also says which perturbations are defined for its type (`supports`), so that a method or
attack that is not is refused when the run is planned, naming the method and the task.
"""
from __future__ import annotations

import abc
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch

from ...core.config import TrainArgs
from ...core.errors import ConfigError
from ...core.registry import Registry
from .. import files
from ..metrics import METRICS
from ..spec import TaskSpec
from ..submission import write_submission_file

IGNORE_INDEX = -100  # the label torch's cross-entropy skips

# What a perturbation needs of a task type: `embeddings` (training on perturbed input embeddings: at, free_at,
# rs_rp), `vote` (a majority vote over logits at prediction time: smoothing), `label_attack` (a test-time attack
# that searches against one gold label per example: pgd, synonym, codeswitch on classifiers), `pgd` (embedding
# PGD against the task's own loss), `substitution` (words of the handler's text fields rewritten: rs_da).
# `sentence_pairs`: two sentences per example (the hypothesis-only control).
CAPABILITIES = ("embeddings", "vote", "label_attack", "pgd", "substitution", "sentence_pairs")


@dataclass
class TaskData:
    """A task's loaded splits. `extra` holds what a type needs beyond rows (BUCC's dev pairs by language, a
    candidate set file's candidates)."""

    spec: TaskSpec
    train: list[dict] = field(default_factory=list)
    dev: list[dict] = field(default_factory=list)
    tests: dict[str, list[dict]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def forward_from_embeddings(model, batch: dict):
    """input embeddings -> the model's output on `batch` (everything but its input ids), so perturbations can
    work on the embeddings."""
    extra = {k: v for k, v in batch.items() if k != "input_ids"}
    return lambda embeds: model(inputs_embeds=embeds, **extra)


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}


def eval_batches(model, examples: list[dict], collate, batch_size: int):
    """(start index, batch on the model's device without labels), with the model in eval mode; its mode is
    restored when the loop ends or is left."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for start in range(0, len(examples), batch_size):
            batch = to_device(collate(examples[start:start + batch_size]), device)
            batch.pop("labels", None)
            yield start, batch
    finally:
        model.train(was_training)


@torch.inference_mode()
def plain_logits(model, examples: list[dict], collate, batch_size: int) -> torch.Tensor:
    """The model's logits on `examples`, on the CPU. Batches are taken in the examples' order, as every other
    evaluation takes them: a forward pass does not depend on which examples share its batch, but it does, in the
    last digits, on how far they are padded, so batches are not regrouped by length."""
    embeddings = model.get_input_embeddings()
    parts = [forward_from_embeddings(model, batch)(embeddings(batch["input_ids"])).logits.cpu()
             for _, batch in eval_batches(model, examples, collate, batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0, model.config.num_labels)


def sequence_length(model, requested: int) -> int:
    """`requested`, capped at what the model's position embeddings hold (RoBERTa-style models reserve
    pad id + 1 positions), so a long QA context is windowed rather than overflowing the positions."""
    config = model.config
    reserved = config.pad_token_id + 1 if config.model_type in ("roberta", "xlm-roberta") else 0
    return min(requested, config.max_position_embeddings - reserved)


def require_fast(tokenizer, what: str) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{what} needs a fast tokenizer (word_ids, offset mappings); got {type(tokenizer).__name__}")


@dataclass(frozen=True)
class Collator:
    """A task's training batches, whole and in two halves, so that a training set can be tokenized once
    (`xltlib.run.loop`): `encode(examples)` gives one unpadded feature dict per example (token ids as int32
    arrays, a fraction of the memory of Python lists, and labels), `pad(features)` the batch of tensors, and
    `length(feature)` its tokens.
    Calling it collates raw examples in one tokenizer call; `pad(encode(examples))` is the same batch (tested)."""

    collate: Callable[[list[dict]], dict]
    encode: Callable[[list[dict]], list[dict]]
    pad: Callable[[list[dict]], dict]
    length: Callable[[dict], int] = lambda feature: len(feature["input_ids"])  # tokens (length-grouped batches)

    def __call__(self, examples: list[dict]) -> dict:
        return self.collate(examples)


def split_features(encoding, labels: list | None = None) -> list[dict]:
    """An unpadded batch encoding as one feature dict per example, each field an int32 array; `labels`, if
    given, go under "labels"."""
    names = list(encoding.keys())
    features = [{name: np.asarray(encoding[name][i], dtype=np.int32) for name in names}
                for i in range(len(encoding["input_ids"]))]
    for feature, label in zip(features, labels if labels is not None else ()):
        feature["labels"] = label
    return features


def padding(args: TrainArgs) -> str:
    return "max_length" if args.pad_to_max_length else "longest"


def train_args(cfg, max_length: int) -> TrainArgs:
    return TrainArgs(max_seq_length=max_length, pad_to_max_length=cfg.pad_to_max_length)


class TaskHandler(abc.ABC):
    """One task type. Subclasses set `name`, `auto_class` (the transformers head) and `supports`, and implement
    `validate` (rows), `evaluate` (every test language) and `gold_items` (the gold submission layout); fine-tuned
    types also `collate` and `dev_scorer`. Most types score example by example: `ScoredHandler`."""

    name = ""
    auto_class = "AutoModel"
    supports: frozenset = frozenset()
    fine_tuned = True  # trained on English before its tests are scored (False: retrieval from a frozen encoder)
    # Whether the training loss couples a batch's examples (in-batch negatives): split over several processes, each
    # would see only its own share, so such a task trains on one process (`xltlib.run.stages.per_process_config`).
    in_batch_loss = False
    splits = ("train", "validation", "test")
    # (spec, example, substitutions, rng) -> example: word substitution that must move labels with the words
    # (span QA's answer offsets); None: each text field is substituted in place.
    substitute = None

    # The options a task of this type takes (a run's `task_options: {task: {option: value}}`), as a frozen dataclass:
    # its fields' names, types and defaults are what is accepted, its `__post_init__` checks ranges
    # (`resolve_task_options`). None: the type takes none.
    options_type = None

    def with_options(self, options) -> "TaskHandler":
        """This type's handler for a task run with `options` (an `options_type`, resolved)."""
        return self

    # -- data ----------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def validate(self, spec: TaskSpec, ds, where: str, lang: str):
        """The rows of `ds` (read from `where`) checked and in this type's schema."""

    def read_local(self, spec: TaskSpec, path: Path, lang: str):
        """A local file in a layout of this type's own, or None for the generic readers."""
        return None

    def spec_for(self, spec: TaskSpec, data_files) -> TaskSpec:
        """The spec a run of `spec` uses with `data_files`: `spec` itself, or, for a type whose labels can come from
        the training files (CCGbank's supertags: tagging), `spec` with those labels. Loading resolves it
        (`xltlib.run.experiment`), so heads, rows and scores see the same labels."""
        return spec

    def load_split(self, spec: TaskSpec, split: str, lang: str, data_files, max_samples) -> list[dict]:
        return files.load_split(spec, split, lang, data_files, max_samples,
                                validate=lambda ds, where: self.validate(spec, ds, where, lang),
                                read_local=lambda path: self.read_local(spec, path, lang)).to_list()

    def load(self, cfg, spec: TaskSpec, data_files: dict, langs: tuple[str, ...]) -> TaskData:
        data = TaskData(spec)
        data.tests = {lang: self.load_split(spec, "test", lang, data_files, cfg.max_eval_samples) for lang in langs}
        if "train" in self.splits:
            data.train = self.load_split(spec, "train", spec.src_lang, data_files, cfg.max_train_samples)
        if "validation" in self.splits:
            data.dev = self.load_split(spec, "validation", spec.src_lang, data_files, cfg.max_eval_samples)
        return data

    def training_examples(self, data: TaskData) -> list[dict]:
        return data.train

    def text_fields(self, spec: TaskSpec) -> tuple[str, ...]:
        """The fields word substitution may rewrite (RS-DA, the word attacks); () where it is not defined."""
        return tuple(spec.text_fields)

    # -- the model -----------------------------------------------------------------------------------------
    def head_kwargs(self, spec: TaskSpec) -> dict:
        if not spec.num_labels:
            return {}
        return dict(num_labels=spec.num_labels, id2label=dict(enumerate(spec.labels)),
                    label2id={label: i for i, label in enumerate(spec.labels)})

    # A type whose training wraps the encoder in a module of its own (`trainable`: a dual encoder, image-text
    # projections) cannot be one head of a multi-task stage, whose heads are the transformers task models.
    wraps_for_training = False

    def trainable(self, model):
        """The module the training loop trains (a dual encoder wraps the encoder)."""
        return model

    def max_length(self, model, cfg) -> int:
        return sequence_length(model, cfg.max_seq_length)

    def collate(self, spec: TaskSpec, tokenizer, cfg, max_length: int, with_labels: bool = True):
        """Training batches; only fine-tuned types have them (the plan refuses training any other)."""
        raise ConfigError(f"task {spec.name!r} ({self.name}) is not fine-tuned: there are no batches to train on")

    def dev_scorer(self, spec: TaskSpec, data: TaskData, tokenizer, cfg, max_length: int):
        """model -> its English dev score: model selection sees English only (the zero-shot protocol)."""
        raise ConfigError(f"task {spec.name!r} ({self.name}) is not fine-tuned: it has no English dev to select on")

    # -- prediction and scores -----------------------------------------------------------------------------
    @abc.abstractmethod
    def evaluate(self, spec: TaskSpec, model, tokenizer, data: TaskData, cfg, max_length: int, perturbation,
                 seed: int) -> tuple[list[dict], dict]:
        """Records {lang, split, metric, value} for every test language, and predictions by language in the
        submission layout."""

    @torch.no_grad()
    def predict_from_batches(self, spec, model, tokenizer, examples, cfg, max_length: int, label_keys) -> object:
        """Predictions through `self.batches` (types whose batches carry the loss's labels and a decoder: tagging,
        span QA), with `label_keys` dropped before the forward pass."""
        was_training = model.training
        model.eval()
        parts = []
        for batch, decode in self.batches(spec, tokenizer, examples, cfg, max_length, next(model.parameters()).device):
            parts.append(decode(model(**{k: v for k, v in batch.items() if k not in label_keys})))
        model.train(was_training)
        return self.join_predictions(parts)

    def join_predictions(self, parts: list):
        """Predictions of consecutive batches as one (lists of per-example predictions, concatenated)."""
        return [p for part in parts for p in part]

    # -- the submission layout -----------------------------------------------------------------------------
    def submission_items(self, spec: TaskSpec, predictions):
        return predictions

    @abc.abstractmethod
    def gold_items(self, spec: TaskSpec, lang: str, examples: list[dict], data: TaskData):
        """The gold side of one language's test set, in the items `write_submission_file` takes."""

    def write_predictions(self, spec: TaskSpec, predictions: dict, directory: Path) -> None:
        for lang, items in predictions.items():
            write_submission_file(directory, spec, lang, self.submission_items(spec, items))

    def write_gold(self, spec: TaskSpec, data: TaskData, directory: Path) -> None:
        """Gold labels in the layout `xlt score --labels` reads."""
        for lang, examples in data.tests.items():
            write_submission_file(directory, spec, lang, self.gold_items(spec, lang, examples, data), gold=True)

    # -- what is defined for this type ---------------------------------------------------------------------
    def check_supports(self, spec: TaskSpec, capability: str, what: str) -> None:
        """Refuse `what` (e.g. "method 'rs_da'") on `spec` unless this type supports `capability`."""
        if capability not in self.supports:
            defined = ", ".join(sorted(self.supports)) or "none"
            raise ConfigError(f"{what} is not defined for task {spec.name!r} ({self.name}): it needs "
                              f"{capability!r}, and {self.name} tasks support: {defined}")


class ScoredHandler(TaskHandler):
    """A type whose predictions are made and scored example by example: `predict` and `scores` give its
    evaluation of every language and its English dev score."""

    @abc.abstractmethod
    def predict(self, spec: TaskSpec, model, tokenizer, examples: list[dict], cfg, max_length: int,
                perturbation=None, seed: int = 0):
        """Predictions for `examples`, in the submission layout's items."""

    @abc.abstractmethod
    def scores(self, spec: TaskSpec, predictions, examples: list[dict], lang: str, data: TaskData) -> dict[str, float]:
        """{metric: value} in [0, 1]; the task's own metric name carries its one number."""

    def dev_scorer(self, spec: TaskSpec, data: TaskData, tokenizer, cfg, max_length: int):
        dev = data.dev
        return lambda m: self.scores(spec, self.predict(spec, m, tokenizer, dev, cfg, max_length), dev,
                                     spec.src_lang, data)[spec.metric]

    def evaluate(self, spec: TaskSpec, model, tokenizer, data: TaskData, cfg, max_length: int, perturbation,
                 seed: int) -> tuple[list[dict], dict]:
        records, predictions = [], {}
        for lang, examples in data.tests.items():
            predictions[lang] = self.predict(spec, model, tokenizer, examples, cfg, max_length, perturbation, seed)
            values = self.scores(spec, predictions[lang], examples, lang, data)
            records += [{"lang": lang, "split": "test", "metric": m, "value": float(v)} for m, v in values.items()]
        return records, predictions


HANDLERS: Registry[TaskHandler] = Registry("task type")


# -- task options ------------------------------------------------------------------------------------------

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _of_kind(value, hint) -> bool:
    if hint is bool or isinstance(value, bool):  # YAML's true is no number, and 1 is no switch
        return hint is bool and isinstance(value, bool)
    return isinstance(value, (int, float)) if hint is float else isinstance(value, hint)


def accepted_options(handler: TaskHandler) -> str:
    """`name (kind, default value)` for each option `handler`'s type takes, for messages; "none" without any."""
    if handler.options_type is None:
        return "none"
    hints = typing.get_type_hints(handler.options_type)
    return ", ".join(f"{f.name} ({_KINDS.get(hints[f.name], hints[f.name])}, default {f.default!r})"
                     for f in dataclasses.fields(handler.options_type))


def resolve_task_options(handler: TaskHandler, task: str, requested: Mapping):
    """`requested` (a run's `task_options[task]`) over the defaults of `handler`'s `options_type`, built and so
    checked; an option the type does not take, a value of the wrong kind or out of range is a ConfigError naming
    `task_options.<task>.<option>` and what is accepted. An options type's own checks raise ConfigErrors that start
    with the option's name (`temperature: must be in ...`)."""
    where = f"task_options.{task}"
    if handler.options_type is None:
        takes = sorted(t for t in HANDLERS.names() if HANDLERS[t].options_type is not None)
        raise ConfigError(f"{where}: task {task!r} ({handler.name}) takes no options; task types with options: "
                          f"{', '.join(takes) or 'none'}")
    hints = typing.get_type_hints(handler.options_type)
    for name, value in requested.items():
        if name not in hints:
            raise ConfigError(f"{where}.{name}: unknown option of task {task!r} ({handler.name}); it takes: "
                              f"{accepted_options(handler)}")
        if not _of_kind(value, hints[name]):
            raise ConfigError(f"{where}.{name}: must be {_KINDS.get(hints[name], hints[name])}, got {value!r}; "
                              f"{task!r} takes: {accepted_options(handler)}")
    try:
        return handler.options_type(**{name: float(value) if hints[name] is float else value
                                       for name, value in requested.items()})
    except ConfigError as e:
        raise ConfigError(f"{where}.{e}") from None


def changed_options(options) -> dict:
    """The fields of an options dataclass that differ from their defaults (a run's key holds these only, so a task
    run with its defaults, spelled out or not, keys as one run without options)."""
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
            if getattr(options, f.name) != f.default}


def accuracy_of(predictions, labels) -> float:
    return METRICS["accuracy"](np.asarray(predictions), np.asarray(labels))


@torch.no_grad()
def logits_of(model, batch: dict, perturbation=None, seed: int = 0, start: int = 0):
    """The model's logits on `batch`; a perturbation's `predict_logits` hook (e.g. a smoothed vote) wraps the
    forward pass when given."""
    embeddings = model.get_input_embeddings()
    embeds = embeddings(batch["input_ids"])
    forward = forward_from_embeddings(model, batch)
    if perturbation is None:
        return forward(embeds).logits
    generator = torch.Generator(device=embeds.device).manual_seed(seed + start)
    return perturbation.predict_logits(forward, embeds, generator, mask=batch.get("attention_mask"))
