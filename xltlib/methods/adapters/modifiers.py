"""Parameter-efficient methods as model modifiers: what a method does to the loaded model before the training loop
sees it (insert adapters or LoRA layers, freeze the rest), and, for a stack of language and task adapters, which
language adapter each evaluation language runs under. The loop trains whatever parameters require gradients and
never asks which modifier it runs (`xltlib.run.adapters` applies them)."""
from __future__ import annotations

import abc
import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ...core.errors import ConfigError
from ...core.options import check_bool, check_choice, check_number
from .bottleneck import (PLACEMENTS, STACK_ATTRIBUTE, AdapterConfig, adapter_stack, add_adapter,
                         check_reduction_factor, load_adapter, swap_adapter)
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
    # task adapters frozen below the trained one, one per intermediate stage stacked over (`enter_stage`, stack=True)
    stacked: int = 0


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

    defaults: dict = {}  # the modifier's own options (a schedule method adds its own beside them)

    def own(self, options: dict) -> dict:
        """The modifier's options among a method's (`lora+seq:mnli` also has the schedule's)."""
        return {key: options[key] for key in self.defaults}

    def key_options(self, options: dict) -> dict:
        """The options that change what the modifier trains (a shared stage's key)."""
        return self.own(options)

    def check_schedule(self, what: str, context: ModifierContext) -> None:
        if context.multi_task:
            raise ConfigError(f"{what} trains its adapter one task a stage (seq: schedules); a multi-task or joint "
                              "stage shares one encoder among several heads, which is not built for adapters: use "
                              "seq:<task>, or full fine-tuning (multi:..., joint:...)")

    def enter_stage(self, previous, fresh, options: dict, context: ModifierContext, stack: bool):
        """`fresh` (the next stage's task model: the pretrained encoder, a new seeded head) modified as the previous
        stage left `previous`: its adapters carried over, the top one trained on (`stack` False: continue), or all
        of them frozen below a new task adapter (`stack` True). Returns the model the next stage trains."""
        below = _task_adapters(previous)
        model = self.apply(fresh, options, dataclasses.replace(context, stacked=len(below) - 1 + stack))
        target = adapter_stack(model).adapters
        for position, name in enumerate(below):  # the previous stage's task adapters, bottom first
            target[_task_adapter_name(position, len(below) - 1 + stack)].load_state_dict(
                adapter_stack(previous).adapters[name].state_dict())
        return model


def _task_adapter_name(position: int, stacked: int) -> str:
    """The task adapter at `position` of a stack with `stacked` frozen ones below the trained `task`."""
    return "task" if position == stacked else f"task{position}"


def _task_adapters(model) -> list[str]:
    """`model`'s task adapters, bottom first (frozen `task0`, `task1`, ..., then the trained `task`)."""
    return [name for name in adapter_stack(model).order if name.startswith("task")]


def _add_task_adapters(model, config: AdapterConfig, context: ModifierContext) -> set[str]:
    """`context.stacked` frozen task adapters, then the trained `task` at the top; the names of `task`'s weights."""
    for position in range(context.stacked):
        add_adapter(model, _task_adapter_name(position, context.stacked), config, seed=context.seed)
    add_adapter(model, "task", config, seed=context.seed)
    return adapter_names(model, "task")


class Lora(ModelModifier):
    @property
    def defaults(self):
        return LORA_OPTIONS

    def apply(self, model, options, context):
        self.check_schedule("method 'lora'", context)
        apply_lora(model, seed=context.seed, **self.own(options))
        train_only(model, set(lora_parameter_names(model)) | set(head_parameter_names(model)))
        return model

    def enter_stage(self, previous, fresh, options, context, stack):
        """Continue: the previous stage's LoRA weights carried into the same LoRA layers. Stack: LoRA sums rather
        than stacks, so the previous update is merged into the frozen weights (W + BA) and a new LoRA trained on
        top."""
        encoder = {}
        for name, value in previous.base_model.state_dict().items():
            if ".lora_" not in name:
                encoder[name.replace(".base_layer.", ".")] = value
        if stack:
            for name, module in previous.base_model.named_modules():
                if hasattr(module, "get_delta_weight") and hasattr(module, "base_layer"):
                    encoder[f"{name}.weight"] = encoder[f"{name}.weight"] + module.get_delta_weight("default")
        fresh.base_model.load_state_dict(encoder, strict=True)
        model = self.apply(fresh, options, context)
        if not stack:
            trained = {k: v for k, v in previous.base_model.state_dict().items() if ".lora_" in k}
            missing = set(trained) - set(model.base_model.state_dict())
            if missing:
                raise ValueError(f"LoRA layers of the previous stage missing in the next: {sorted(missing)[:3]}")
            model.base_model.load_state_dict(trained, strict=False)
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
    @property
    def defaults(self):
        return BOTTLENECK_OPTIONS

    def apply(self, model, options, context):
        self.check_schedule("method 'bottleneck'", context)
        check_reduction_factor(model, options["reduction_factor"], "method 'bottleneck': reduction_factor")
        trained = _add_task_adapters(model, AdapterConfig(**self.own(options)), context)
        train_only(model, trained | set(head_parameter_names(model)))
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

    @property
    def defaults(self):
        return MADX_OPTIONS

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
        trained = _add_task_adapters(model, AdapterConfig("pfeiffer", options["reduction_factor"], False,
                                                          options["non_linearity"]), context)
        train_only(model, trained | set(head_parameter_names(model)))
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
