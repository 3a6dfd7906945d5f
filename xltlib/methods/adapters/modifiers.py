"""Parameter-efficient methods as model modifiers: what a method does to the loaded model before the training loop
sees it (insert adapters or LoRA layers, freeze the rest), and, for a stack of language and task adapters, which
language adapter each evaluation language runs under. The loop trains whatever parameters require gradients and
never asks which modifier it runs (`xltlib.run.adapters` applies them)."""
from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ...core.errors import ConfigError
from ...core.options import check_bool, check_choice, check_number
from .bottleneck import (PLACEMENTS, STACK_ATTRIBUTE, AdapterConfig, add_adapter, check_reduction_factor,
                         load_adapter, swap_adapter)
from .lora import apply_lora, lora_parameter_names


@dataclass(frozen=True)
class ModifierContext:
    """What a modifier needs beyond its options, given by the run layer."""

    seed: int = 0
    src_lang: str = "en"
    eval_langs: tuple[str, ...] = ()
    # lang -> the folder of its trained language adapter; raises an XltError naming the language when there is none
    language_adapter: Callable[[str], Path] | None = None
    mixes_languages: bool = False  # the evaluation puts two languages in one example (the generalized setting)
    stages: int = 1
    multi_task: bool = False


def head_parameter_names(model) -> list[str]:
    """The task head's parameters: those outside the encoder (`base_model_prefix`) and the adapters."""
    prefixes = (model.base_model_prefix + ".", STACK_ATTRIBUTE + ".")
    return [name for name, _ in model.named_parameters() if not name.startswith(prefixes)]


def train_only(model, names: set[str]) -> None:
    """Freeze every parameter of `model` but those named."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in names)


class ModelModifier(abc.ABC):
    """A method's change to the model. `apply` returns the model to train; `evaluation_groups` says which languages
    are evaluated together and what to switch before each group (one group, nothing switched, unless a stack swaps
    its language adapter)."""

    @abc.abstractmethod
    def apply(self, model, options: dict, context: ModifierContext):
        """Modify `model` in place for training and return it."""

    def evaluation_groups(self, model, langs, options: dict, context: ModifierContext) -> Iterator[tuple]:
        yield tuple(langs), contextlib.nullcontext()

    def key_options(self, options: dict) -> dict:
        """The options that change what the modifier trains (a shared stage's key)."""
        return dict(options)

    def check_schedule(self, what: str, context: ModifierContext) -> None:
        if context.stages > 1 or context.multi_task:
            raise ConfigError(f"{what} trains one stage of one task; adapter-based intermediate-task training "
                              "(several stages) is not built yet (issue 13, item 3): remove this task's `stages`")


class Lora(ModelModifier):
    def apply(self, model, options, context):
        self.check_schedule("method 'lora'", context)
        apply_lora(model, seed=context.seed, **options)
        train_only(model, set(lora_parameter_names(model)) | set(head_parameter_names(model)))
        return model


LORA_OPTIONS = {"rank": 8, "alpha": 16, "dropout": 0.1, "target_modules": []}


def check_lora(what: str, options: dict) -> None:
    check_number(what, "rank", options["rank"], low=1, integer=True)
    check_number(what, "alpha", options["alpha"], low=1e-12)
    check_number(what, "dropout", options["dropout"], high=0.99)
    targets = options["target_modules"]
    if not isinstance(targets, (list, tuple)) or not all(isinstance(t, str) for t in targets):
        raise ConfigError(f"{what}: option 'target_modules' must be a list of module names ([]: the architecture's "
                          f"default), got {targets!r}")


class Bottleneck(ModelModifier):
    def apply(self, model, options, context):
        self.check_schedule("method 'bottleneck'", context)
        check_reduction_factor(model, options["reduction_factor"], "method 'bottleneck': reduction_factor")
        add_adapter(model, "task", AdapterConfig(**options), seed=context.seed)
        train_only(model, adapter_names(model, "task") | set(head_parameter_names(model)))
        return model


BOTTLENECK_OPTIONS = {"placement": "pfeiffer", "reduction_factor": 16, "invertible": False, "non_linearity": "relu"}


def check_bottleneck(what: str, options: dict) -> None:
    check_choice(what, "placement", options["placement"], tuple(PLACEMENTS))
    check_number(what, "reduction_factor", options["reduction_factor"], low=1, integer=True)
    check_bool(what, "invertible", options["invertible"])
    check_choice(what, "non_linearity", options["non_linearity"], ("relu", "gelu", "tanh"))


def adapter_names(model, adapter: str) -> set[str]:
    return {n for n, _ in model.named_parameters() if n.startswith(f"{STACK_ATTRIBUTE}.adapters.{adapter}.")}


class MadX(ModelModifier):
    """MAD-X: the source language's adapter (frozen, trained with MLM beforehand) below a new task adapter; at test
    time each language runs under its own language adapter, the task adapter unchanged."""

    def apply(self, model, options, context):
        self.check_schedule("method 'madx'", context)
        check_reduction_factor(model, options["reduction_factor"], "method 'madx': reduction_factor")
        check_reduction_factor(model, options["lang_reduction_factor"], "method 'madx': lang_reduction_factor")
        if context.mixes_languages:
            raise ConfigError("method 'madx' runs each example under one language's adapter, and the generalized "
                              "setting puts two languages in one example: set generalized: false for this run")
        folders = {lang: context.language_adapter(lang)  # every language checked before anything trains
                   for lang in dict.fromkeys((context.src_lang, *context.eval_langs))}
        load_adapter(model, folders[context.src_lang], "lang")
        add_adapter(model, "task", AdapterConfig("pfeiffer", options["reduction_factor"], False,
                                                 options["non_linearity"]), seed=context.seed)
        train_only(model, adapter_names(model, "task") | set(head_parameter_names(model)))
        return model

    def evaluation_groups(self, model, langs, options, context):
        for lang in langs:
            yield (lang,), _language(model, context.language_adapter(lang), context.language_adapter(context.src_lang))


@contextlib.contextmanager
def _language(model, folder: Path, source_folder: Path):
    swap_adapter(model, "lang", folder)
    try:
        yield
    finally:  # back to the source language's adapter, as training left it
        swap_adapter(model, "lang", source_folder)


MADX_OPTIONS = {"reduction_factor": 16, "non_linearity": "relu", "lang_reduction_factor": 2, "lang_invertible": True,
                "lang_steps": 300, "lang_learning_rate": 1e-3, "lang_batch_size": 32, "lang_max_length": 64,
                "lang_seed": 0, "lang_corpus": {}}


def check_madx(what: str, options: dict) -> None:
    for name in ("reduction_factor", "lang_reduction_factor", "lang_steps", "lang_batch_size", "lang_max_length"):
        check_number(what, name, options[name], low=1, integer=True)
    check_number(what, "lang_seed", options["lang_seed"], integer=True)
    check_number(what, "lang_learning_rate", options["lang_learning_rate"], low=1e-12)
    check_bool(what, "lang_invertible", options["lang_invertible"])
    check_choice(what, "non_linearity", options["non_linearity"], ("relu", "gelu", "tanh"))
    corpus = options["lang_corpus"]
    if not isinstance(corpus, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in corpus.items()):
        raise ConfigError(f"{what}: option 'lang_corpus' must map language codes to plain-text files, got {corpus!r}")


def language_adapter_config(options: dict) -> AdapterConfig:
    """The language adapters a `madx` run's options ask for (Pfeiffer placement, MAD-X's invertible adapter)."""
    return AdapterConfig("pfeiffer", options["lang_reduction_factor"], options["lang_invertible"],
                         options["non_linearity"])


LANGUAGE_ADAPTER_OPTIONS = ("lang_reduction_factor", "lang_invertible", "non_linearity", "lang_steps",
                            "lang_learning_rate", "lang_batch_size", "lang_max_length", "lang_seed")
