"""Models and heads through transformers: registered names, hub ids or local directories.

Heads are chosen by task type (each handler names its transformers Auto class) and shared across languages, so
the head trained on English is the one evaluated on every language. `InitFrom` says how a stage's model starts.
A local model folder is checked before it loads (its config.json, a tokenizer that covers the model's vocabulary),
and a model that cannot be fetched from the hub is one line saying why and how to point at a local copy.
"""
from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

from ..core.errors import ConfigError, UnknownNameError
from ..core.registry import Registry
from .handlers import handler_for
from .hub import from_hub
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
LOCAL_MODEL_HINT = "set model_name_or_path: /path/to/folder (a model and tokenizer saved with save_pretrained)"
# A tokenizer is refused when it has fewer tokens than this, or covers less than this share of the model's
# vocabulary: a model folder saved without its tokenizer files loads a 5-token tokenizer (the special tokens) that
# turns every word into the unknown token, and the run trains and reports chance without an error. Real tokenizers
# differ from the model's `vocab_size` by a few added tokens or padding rows (a multiple of 8 or 64), far less.
MIN_TOKENIZER_SIZE = 100
MIN_VOCAB_COVERAGE = 0.5


def check_model_name(name: str, world: str) -> None:
    """Accept a registered name, an existing local directory or a hub id (`org/name`)."""
    if name == "embedded":
        if world != "embedded":
            raise UnknownNameError("model 'embedded' exists only in world 'embedded'; "
                                   f"for world {world!r} use one of: {', '.join(_real_names())}")
        return
    if Path(name).is_dir():
        check_model_dir(Path(name))
        return
    if name in MODELS or (_HUB_ID.match(name) and not Path(name).exists()):
        return
    raise UnknownNameError(
        f"unknown model {name!r}; use a registered model ({', '.join(MODELS.names())}), "
        "a local directory saved with save_pretrained, or a hub id such as 'org/name'"
    )


def check_model_dir(directory: Path) -> None:
    """A local model folder has the config.json that every load needs (transformers' own error when it is missing
    comes from the tokenizer and names no path)."""
    if (directory / "config.json").is_file():
        return
    present = sorted(p.name for p in directory.iterdir())
    shown = ", ".join(present[:8]) + (f" and {len(present) - 8} more" if len(present) > 8 else "")
    raise ConfigError(f"model folder {directory}: no config.json (the model's architecture and vocabulary size), "
                      f"so it cannot be loaded; found {shown or 'nothing'}. Save the model with "
                      "model.save_pretrained(folder) (config.json and the weights) and its tokenizer with "
                      "tokenizer.save_pretrained(folder)")


def check_tokenizer_vocabulary(tokenizer, path: str) -> None:
    """Refuse a tokenizer that does not fit the model at `path`: one much smaller than the model's vocabulary
    (`MIN_TOKENIZER_SIZE`, `MIN_VOCAB_COVERAGE`: the tokenizer files are missing or another model's), or one with
    ids the model has no embedding for."""
    import transformers

    with from_hub(f"the model config of {path!r}", LOCAL_MODEL_HINT):
        config = transformers.AutoConfig.from_pretrained(path)
    vocab_size, size = getattr(config, "vocab_size", None), len(tokenizer)
    if not vocab_size:
        return
    if size > vocab_size:
        raise ConfigError(f"model {path}: its tokenizer has {size} tokens but the model's vocab_size is {vocab_size}, "
                          f"so token ids {vocab_size} and above have no embedding; the tokenizer is another model's "
                          "(save the model's own tokenizer with it, or resize the embeddings before saving)")
    if size < MIN_TOKENIZER_SIZE or size < MIN_VOCAB_COVERAGE * vocab_size:
        found = ""
        if Path(path).is_dir():
            files = sorted(p.name for p in Path(path).iterdir() if "token" in p.name or p.suffix in (".txt", ".model"))
            found = f" (tokenizer files found: {', '.join(files) or 'none'})"
        raise ConfigError(f"model {path}: its tokenizer has {size} tokens but the model's vocab_size is {vocab_size}"
                          f"{found}: the tokenizer files are missing or not this model's, and almost every word would "
                          "become the unknown token (a run would train and report chance). Save the tokenizer the "
                          "model was trained with beside it: tokenizer.save_pretrained(folder)")


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
    """The tokenizer at `path` (a folder or hub id), checked against the model's vocabulary size."""
    from transformers import AutoTokenizer

    if Path(path).is_dir():
        check_model_dir(Path(path))
    with from_hub(f"the tokenizer of {path!r}", LOCAL_MODEL_HINT):
        tokenizer = AutoTokenizer.from_pretrained(path)
    check_tokenizer_vocabulary(tokenizer, path)
    return tokenizer


def load_model(path: str, spec: TaskSpec, init: InitFrom, seed: int, pooling: str | None = None):
    """Load `spec`'s task model (its handler's head) from `path`, pretrained or (SCRATCH) randomly initialised,
    its sentence-level head reading `pooling` (`use_pooling`; None: as the model's config says, else "cls");
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
    with from_hub(f"model {path!r}", LOCAL_MODEL_HINT):
        if init is InitFrom.SCRATCH:
            model = auto.from_config(transformers.AutoConfig.from_pretrained(path, **kwargs))
        else:
            model = auto.from_pretrained(path, **kwargs)
    # a model saved by a run that mean-pooled (config.json says so) loads back mean-pooling
    return use_pooling(model, pooling or getattr(model.config, "classifier_pooling", "cls"))


def use_pooling(model, pooling: str):
    """Make `model`'s sentence-level head read `pooling` ("cls": unchanged; "mean": the mean over real tokens,
    `xltlib.tasks.pooling`), recorded in its config (`classifier_pooling`) so a saved model loads back with it."""
    if pooling == "cls":
        return model
    from .pooling import mean_pool

    return mean_pool(model)


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
    # BERT's pooler belongs to sentence-level heads (token-level and span models are built without one): between a
    # stage of one kind and the next of the other, it is dropped, or started seeded like the rest of the head.
    missing, unexpected = getattr(model, model.base_model_prefix).load_state_dict(encoder.state_dict(), strict=False)
    mismatched = [k for k in missing + unexpected if not k.startswith("pooler.")]
    if mismatched:
        raise RuntimeError(f"task {spec.name!r}: the previous stage's encoder does not fit its model: "
                           f"{', '.join(mismatched[:3])}")
    return use_pooling(model, getattr(config, "classifier_pooling", "cls"))
