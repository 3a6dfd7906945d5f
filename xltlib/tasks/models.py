"""Models and heads through transformers: registered names, hub ids or local directories.

Heads are chosen by task type (each handler names its transformers Auto class) and shared across languages, so
the head trained on English is the one evaluated on every language. `InitFrom` says how a stage's model starts.
"""
from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

from ..core.errors import UnknownNameError
from ..core.registry import Registry
from .handlers import handler_for
from .spec import TaskSpec


class InitFrom(str, Enum):
    """How a stage's model starts (jiant's load modes, as an Enum, never a free string)."""

    PRETRAINED_ENCODER = "pretrained_encoder"  # encoder from model_name_or_path, a new task head
    SCRATCH = "scratch"  # the same architecture with random weights: the no-pretraining control
    PREVIOUS_ENCODER = "previous_encoder"  # the previous stage's encoder, a fresh head (jiant's `encoder_only`)
    PREVIOUS = "previous"  # the previous stage's whole model, head included (chained stages of one head type)

MODELS: Registry[str] = Registry("model")
MODELS.register("xlm-roberta-base", "FacebookAI/xlm-roberta-base")
MODELS.register("xlm-roberta-large", "FacebookAI/xlm-roberta-large")
MODELS.register("bert-base-multilingual-cased", "google-bert/bert-base-multilingual-cased")
MODELS.register("embedded", "<the embedded world's pretrained encoder>")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def check_model_name(name: str, world: str) -> None:
    """Accept a registered name, an existing local directory or a hub id (`org/name`)."""
    if name == "embedded":
        if world != "embedded":
            raise UnknownNameError("model 'embedded' exists only in world 'embedded'; "
                                   f"for world {world!r} use one of: {', '.join(_real_names())}")
        return
    if name in MODELS or Path(name).is_dir() or (_HUB_ID.match(name) and not Path(name).exists()):
        return
    raise UnknownNameError(
        f"unknown model {name!r}; use a registered model ({', '.join(MODELS.names())}), "
        "a local directory saved with save_pretrained, or a hub id such as 'org/name'"
    )


def _real_names() -> list[str]:
    return [n for n in MODELS.names() if n != "embedded"]


def resolve_model_path(name: str, world=None) -> str:
    """The path or hub id that `from_pretrained` gets."""
    if name == "embedded":
        return str(world.encoder_dir)
    if Path(name).is_dir():
        return str(Path(name).resolve())
    return MODELS[name] if name in MODELS else name


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def load_model(path: str, spec: TaskSpec, init: InitFrom, seed: int):
    """Load `spec`'s task model (its handler's head) from `path`, pretrained or (SCRATCH) randomly initialised;
    the head's random init is seeded so runs repeat exactly. Stages that start from a previous stage's model are
    `xltlib.run.stages`'."""
    import torch
    import transformers

    if init not in (InitFrom.PRETRAINED_ENCODER, InitFrom.SCRATCH):
        raise ValueError(f"load_model loads from a path; {init.value!r} starts from a previous stage's model")
    handler = handler_for(spec)
    auto = getattr(transformers, handler.auto_class)
    kwargs = handler.head_kwargs(spec)
    torch.manual_seed(seed)
    if init is InitFrom.SCRATCH:
        return auto.from_config(transformers.AutoConfig.from_pretrained(path, **kwargs))
    return auto.from_pretrained(path, **kwargs)


def fresh_head_model(previous, spec: TaskSpec, seed: int):
    """`spec`'s task model whose encoder is `previous`'s (its weights copied in), with a new, seeded head: a stage
    entered from the previous stage's encoder (jiant's `encoder_only`)."""
    import copy

    import torch
    import transformers

    handler = handler_for(spec)
    auto = getattr(transformers, handler.auto_class)
    config = copy.deepcopy(previous.config)
    for name, value in handler.head_kwargs(spec).items():  # num_labels first: it resets the label maps
        setattr(config, name, value)
    torch.manual_seed(seed)
    model = auto.from_config(config)
    encoder = getattr(previous, previous.base_model_prefix, previous)
    getattr(model, model.base_model_prefix).load_state_dict(encoder.state_dict())
    return model
