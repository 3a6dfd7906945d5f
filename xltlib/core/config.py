"""Run configuration: one frozen dataclass, validated when built, loaded from papermill YAML files.

Field names follow transformers' TrainingArguments where one exists (`learning_rate`,
`per_device_train_batch_size`, `num_train_epochs`, `max_seq_length`, `seed`...). Notebook parameters are
these fields, flat, so a papermill file is a small delta over the notebook's defaults. An unknown key, a
wrong type or a value out of range is an error naming it when the config is built; names that registries must
know (tasks, methods, attacks, stages) are checked by `xltlib.run.plan.plan` before anything loads. Relative
`data_files` paths in a parameter file are relative to that file's folder (`load_params_file`).
"""
from __future__ import annotations

import dataclasses
import datetime
import math
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError
from .yaml_numbers import load_yaml

SPLITS = ("train", "validation", "test")
DATA_FILE_SPLITS = SPLITS


POOLINGS = ("cls", "mean")  # what a sentence-level head reads (TrainArgs.classifier_pooling)


@dataclass(frozen=True)
class TrainArgs:
    """What the training loop needs; RunConfig adds what to train and evaluate."""

    learning_rate: float = 2e-5
    per_device_train_batch_size: int = 32
    per_device_eval_batch_size: int = 128
    gradient_accumulation_steps: int = 1
    num_train_epochs: float = 3.0
    max_seq_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    save_steps: int = 200  # checkpoint every N optimizer steps, so a killed run resumes
    evals_per_epoch: int = 1  # English-dev evaluations per epoch (model selection)
    pad_to_max_length: bool = False  # dynamic padding unless asked; fixed length only for comparison
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    mixed_precision: str = "auto"  # "auto" = bf16 on CUDA, none on CPU; or "no", "bf16", "fp16"
    # Which of several equally good English-dev checkpoints is kept: "earliest" (a strict improvement is needed),
    # or "latest" (a tie moves the choice on: with dev saturated, the most trained model, not the least).
    selection_ties: str = "earliest"
    # What a sentence-level head (pair classification, multiple choice) reads: the first token's last-layer state
    # ("cls", as BERT and XLM-R), or the mean over the real tokens ("mean"; BERT-like models with a pooler).
    classifier_pooling: str = "cls"
    # How batches reach the model (issue 16). The first three change speed only, never the batches or results
    # (tested equal), so they are not part of a run's key (`train_key`).
    pretokenize: bool = True  # tokenize the training set once, pad per batch (not where a method rewrites text)
    dataloader_num_workers: int = 0  # processes that pad batches beside the loop (0: the loop's own process)
    dataloader_pin_memory: bool = True  # page-locked host batches, so the copy to the GPU does not wait (CUDA)
    # Batches of similar lengths (transformers' LengthGroupedSampler: shuffled megabatches of 50 batches, each
    # sorted by length): less padding, other batches than the shuffled ones.
    group_by_length: bool = False
    optim: str = "adamw_torch"  # or "adamw_torch_fused": AdamW as one fused kernel per step (CUDA only)
    torch_compile: bool = False  # the model compiled by torch.compile (inductor; CUDA only)

    def __post_init__(self):
        hints = _hints(type(self))
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name), hints[f.name]))
        self._check()

    def _check(self) -> None:
        _check_train_values(self)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], source: str = "parameters"):
        """Build from a flat mapping (a YAML file, papermill parameters); unknown keys are errors."""
        allowed = {f.name for f in fields(cls)}
        unknown = [k for k in params if k not in allowed]
        if unknown:
            raise ConfigError(
                f"{source}: unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(allowed))}"
            )
        try:
            return cls(**params)
        except ConfigError as e:
            raise type(e)(f"{source}: {e}") from None

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """Pick this config's fields out of a notebook's globals (its parameters cell)."""
        names = {f.name for f in fields(cls)}
        return cls.from_params({k: v for k, v in namespace.items() if k in names}, "notebook parameters")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class RunConfig(TrainArgs):
    # What to run
    world: str = "embedded"  # "embedded" (the synthetic world, CPU) or "real" (hub data and models)
    world_preset: str = "default"  # embedded only: a preset of xltlib.world.presets
    # Embedded only: build the preset's world from another generator seed (None: the preset's own). The acceptance
    # checks are run over world seeds, so that a finding is a property of the generator, not of one random world.
    world_seed: int | None = None
    tasks: tuple[str, ...] = ("xnli", "pawsx")
    eval_langs: tuple[str, ...] | None = None  # None: every language of the task in this world
    model_name_or_path: str = "embedded"  # a registered model, a hub id, or a local directory
    methods: tuple[str, ...] = ("standard", "scratch")
    seeds: tuple[int, ...] = (1, 2, 3)
    generalized: bool = True  # also evaluate pair tasks with the two sentences in different languages
    # Test pairs per ordered language pair of the generalized setting (None: the whole test set as loaded). Its
    # cost grows with the square of the languages: 225 ordered pairs for XNLI's 15.
    max_generalized_samples: int | None = None
    retrieval_layer: int | None = None  # retrieval tasks: hidden layer mean-pooled (None: the one after the middle)
    method_options: dict = field(default_factory=dict)  # {method: {option: value}} over its defaults
    # A task's own options over its handler's defaults, wherever the task is trained (its own runs, or a stage of a
    # schedule), e.g. {image_text: {temperature: 0.05, learnable_temperature: false, matching: true}}. Each type's
    # handler says which it takes (`TaskHandler.options_type`), checked by the plan; keyed only when set.
    task_options: dict = field(default_factory=dict)  # {task: {option: value}}
    # Robustness evaluation after the ordinary one (xltlib.robust_eval): test-time attacks, e.g.
    # {pgd: {epsilon: 0.1}, synonym: {max_words: 2}}, and smoothed prediction, e.g. {gaussian: {sigma: 0.1}};
    # each adds metrics per test language. Their options are part of the run key.
    attacks: dict = field(default_factory=dict)  # {attack: {option: value}} over its defaults
    smoothing: dict = field(default_factory=dict)  # {smoothing: {option: value}} over its defaults
    max_robustness_samples: int | None = None  # test examples per language attacked / smoothed (None: all)
    # Per-task settings over the ones above, e.g. {xquad: {learning_rate: 3.0e-5, max_seq_length: 384}}: XTREME
    # tunes each task family separately (google-research/xtreme scripts/train_<task>.sh). Allowed fields:
    # TASK_OVERRIDE_FIELDS. A task's runs are keyed by the settings they use, so an override retrains only it.
    task_overrides: dict = field(default_factory=dict)  # {task: {field: value}}
    # Stages before a task's own training (xltlib.methods.recipes), e.g. XTREME-R's SIQA-then-COPA:
    # {xcopa: [{tasks: [siqa]}, {tasks: [xcopa], init: previous}]}. A list that does not end with the task itself
    # gets its stage appended (entering from the previous stage's encoder, with a fresh head).
    stages: dict = field(default_factory=dict)  # {task: [stage, ...]}
    # Data and outputs
    data_files: dict = field(default_factory=dict)  # {task: {split: {lang: path}}}, hub schema
    export_predictions: bool = True
    # Keep each fine-tuned run's selected model as a `from_pretrained` folder (safetensors, config, tokenizer) in
    # <run dir>/models/<task>-<method>-seed<N>/; off by default, since a model per run and seed adds up.
    save_model: bool = False
    # Experiment tracking through accelerate's trackers: "tensorboard" logs training loss and English-dev score
    # to <run dir>/tensorboard (needs the `tensorboard` package: pip install 'xlt-companion[tracking]').
    report_to: str = "none"
    output_dir: str | None = None

    def _check(self) -> None:
        _check_train_values(self)
        _check_run_values(self)

    def for_task(self, task: str) -> "RunConfig":
        """The settings `task`'s runs use: this config with `task_overrides[task]` applied (and no overrides
        left, so applying it twice changes nothing)."""
        overrides = self.task_overrides.get(task, {})
        return dataclasses.replace(self, task_overrides={}, **overrides) if self.task_overrides else self


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)




def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(name: str, value, hint):
    """Check `value` against the field's type; lists become tuples, ints widen to float."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0])
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"field {name!r} must be a list, got {value!r}")
        return tuple(_coerce(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"field {name!r} must be true or false, got {value!r}")
        return value
    if isinstance(value, (datetime.date, datetime.time)) and hint is not dict:
        # YAML reads an unquoted 2024-01-01 (or 12:30:00) as a date (a time): name it as written, not its repr.
        raise ConfigError(f"field {name!r} must be {_expected(hint)}, got {value.isoformat()}, which YAML reads as "
                          f"a {type(value).__name__}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"field {name!r} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"field {name!r} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            # YAML 1.1 reads the Norwegian code `no` as false: say so, since it is the usual cause.
            hint_msg = " (quote language codes in YAML: `no`, `on`, `yes` read as booleans)" if isinstance(value, bool) else ""
            raise ConfigError(f"field {name!r} must be a string, got {value!r}{hint_msg}")
        return value
    if hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"field {name!r} must be a mapping, got {value!r}")
        return value
    raise TypeError(f"no check for {name}: {_type_name(hint)}")


def _expected(hint) -> str:
    return {int: "an integer", float: "a number", str: "a string (quote it in YAML)", bool: "true or false"}.get(
        hint, _type_name(hint))


REPORT_TO = ("none", "tensorboard")


def _check_run_values(cfg: RunConfig) -> None:
    """Types and ranges only: names that a registry must know (tasks, methods, attacks, models, presets) are
    checked by `xltlib.run.plan.plan`, the layer that owns those registries, before any data or model loads."""
    if cfg.world_seed is not None and cfg.world_seed < 0:
        raise ConfigError(f"world_seed must be a non-negative integer or null, got {cfg.world_seed}")
    if cfg.world not in ("embedded", "real"):
        raise ConfigError(f"field 'world' must be 'embedded' or 'real', got {cfg.world!r}")
    if not cfg.tasks:
        raise ConfigError("field 'tasks' must name at least one task")
    if not cfg.methods:
        raise ConfigError("field 'methods' must name at least one method (e.g. [standard])")
    # data_files and task_overrides: their own checks below say what each entry must map.
    for name in ("method_options", "attacks", "smoothing"):
        for key, value in getattr(cfg, name).items():
            if not isinstance(value, dict) and not (value is None and name != "method_options"):
                raise ConfigError(f"{name}[{key!r}] must be a mapping, got {value!r}")
    for key, value in cfg.task_options.items():
        if not isinstance(value, dict):
            raise ConfigError(f"task_options.{key} must map option names to values ({{option: value}}), got {value!r}")
    for key, value in cfg.stages.items():
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"stages[{key!r}] must be a list of stages ({{tasks: [...], ...}}), got {value!r}")
    for name in ("max_robustness_samples", "max_generalized_samples"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ConfigError(f"field {name!r} must be at least 1 (or null: every test example), "
                              f"got {getattr(cfg, name)!r}")
    if not cfg.seeds:
        raise ConfigError("field 'seeds' must list at least one seed")
    for seed in cfg.seeds:
        if seed < 0:  # numpy's generators refuse negative seeds
            raise ConfigError(f"field 'seeds' must list non-negative integers, got {seed!r}")
    repeated = sorted({s for s in cfg.seeds if cfg.seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"field 'seeds' lists seed {repeated[0]!r} twice; each seed is one run")
    if cfg.eval_langs is not None and not cfg.eval_langs:
        raise ConfigError("field 'eval_langs' is empty; list at least one language code (or null: every language)")
    if cfg.retrieval_layer is not None and cfg.retrieval_layer < 0:
        raise ConfigError(f"field 'retrieval_layer' must be 0 (the embeddings) or more, got {cfg.retrieval_layer!r}")
    if cfg.report_to not in REPORT_TO:
        raise ConfigError(f"field 'report_to' must be one of {', '.join(REPORT_TO)}; got {cfg.report_to!r}")
    _check_data_files(cfg.data_files)
    _check_task_overrides(cfg)


def _check_train_values(cfg: TrainArgs) -> None:
    for name in ("learning_rate", "num_train_epochs"):
        value = getattr(cfg, name)
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"field {name!r} must be a positive number, got {value!r}")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size",
                 "gradient_accumulation_steps", "max_seq_length", "save_steps", "evals_per_epoch"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"field {name!r} must be at least 1, got {getattr(cfg, name)!r}")
    for name in ("weight_decay", "max_grad_norm"):  # max_grad_norm 0: no clipping
        value = getattr(cfg, name)
        if not (value >= 0 and math.isfinite(value)):
            raise ConfigError(f"field {name!r} must be 0 or a positive number, got {value!r}")
    for name in ("max_train_samples", "max_eval_samples"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ConfigError(f"field {name!r} must be at least 1 (or null: every example), got {getattr(cfg, name)!r}")
    if not 0 <= cfg.warmup_ratio < 1:
        raise ConfigError(f"field 'warmup_ratio' must be in [0, 1), got {cfg.warmup_ratio!r}")
    if cfg.selection_ties not in ("earliest", "latest"):
        raise ConfigError(f"field 'selection_ties' must be 'earliest' or 'latest', got {cfg.selection_ties!r}")
    if cfg.classifier_pooling not in POOLINGS:
        raise ConfigError(f"field 'classifier_pooling' must be one of {', '.join(map(repr, POOLINGS))}, "
                          f"got {cfg.classifier_pooling!r}")
    if cfg.dataloader_num_workers < 0:
        raise ConfigError(f"field 'dataloader_num_workers' must be 0 or more, got {cfg.dataloader_num_workers!r}")
    if cfg.optim not in OPTIMIZERS:
        raise ConfigError(f"field 'optim' must be one of {', '.join(OPTIMIZERS)}; got {cfg.optim!r}")
    if cfg.mixed_precision not in ("auto", "no", "bf16", "fp16"):
        raise ConfigError(
            f"field 'mixed_precision' must be one of auto, no, bf16, fp16; got {cfg.mixed_precision!r}"
        )


OPTIMIZERS = ("adamw_torch", "adamw_torch_fused")

TRAIN_FIELDS = tuple(f.name for f in fields(TrainArgs))
# Fields that change how fast a run trains, never what it learns: left out of its key, so a finished run is reused
# whatever workers or tokenization it is read back with.
THROUGHPUT_FIELDS = ("pretokenize", "dataloader_num_workers", "dataloader_pin_memory")
# Fields added after runs were stored, with their defaults: part of a run's key only when set otherwise, so the
# runs stored before them keep their keys.
KEYED_WHEN_SET = {"group_by_length": False, "optim": "adamw_torch", "torch_compile": False,
                  "classifier_pooling": "cls"}


def train_key(cfg: TrainArgs) -> dict:
    """The training fields that determine a run's result, for its key."""
    return {f: getattr(cfg, f) for f in TRAIN_FIELDS
            if f not in THROUGHPUT_FIELDS and not (f in KEYED_WHEN_SET and getattr(cfg, f) == KEYED_WHEN_SET[f])}
# A task's own attacks (or none: `attacks: {}`) let one run mix tasks an attack is and is not defined for.
# A task's own `eval_langs` lets a run evaluate a subset of languages on tasks whose languages differ (Tatoeba and
# BUCC have no English test set).
TASK_OVERRIDE_FIELDS = TRAIN_FIELDS + ("retrieval_layer", "attacks", "smoothing", "max_robustness_samples",
                                       "method_options", "eval_langs")


def check_field_names(what: str, mapping, allowed, kind: str = "training field") -> None:
    """`mapping` is a dict whose keys are all `allowed` field names (a stage's budget, a task's overrides), or a
    ConfigError naming `what` and the first unknown name, with the allowed ones."""
    if not isinstance(mapping, dict):
        raise ConfigError(f"{what} must map {kind} names to values, got {mapping!r}")
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise ConfigError(f"{what}: unknown {kind} {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


def _check_task_overrides(cfg: RunConfig) -> None:
    for task, overrides in cfg.task_overrides.items():
        check_field_names(f"task_overrides[{task!r}]", overrides, TASK_OVERRIDE_FIELDS, kind="field")
        try:
            cfg.for_task(task)  # the same type and value checks as the run's own fields
        except ConfigError as e:
            raise ConfigError(f"task_overrides[{task!r}]: {e}") from None


def _check_data_files(data_files: dict) -> None:
    for task, splits in data_files.items():
        if not isinstance(splits, dict):
            raise ConfigError(f"data_files[{task!r}] must map splits to {{lang: path}}, got {splits!r}")
        for split, by_lang in splits.items():
            if split not in DATA_FILE_SPLITS:
                raise ConfigError(
                    f"data_files[{task!r}]: unknown split {split!r}; allowed: {', '.join(DATA_FILE_SPLITS)}"
                )
            if not isinstance(by_lang, dict) or not all(isinstance(p, str) for p in by_lang.values()):
                raise ConfigError(
                    f"data_files[{task!r}][{split!r}] must map language codes to file paths, got {by_lang!r}"
                )


def resolve_data_files(data_files, base: Path):
    """`data_files` with each relative path made absolute against `base` (`~` expanded); absolute paths unchanged,
    and anything that is not a {task: {split: {lang: path}}} mapping left as it is for the config's own check."""
    if not isinstance(data_files, dict):
        return data_files

    def resolved(path):
        if not isinstance(path, str):
            return path
        path = Path(path).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())

    return {task: {split: {lang: resolved(p) for lang, p in by_lang.items()} if isinstance(by_lang, dict) else by_lang
                   for split, by_lang in splits.items()} if isinstance(splits, dict) else splits
            for task, splits in data_files.items()}


def load_params_file(path: str | Path) -> dict:
    """Read a papermill YAML parameter file; malformed YAML is an error naming the file and line.

    Relative paths in its `data_files` are resolved against the file's own folder (so a parameter file and the
    data beside it move together) and returned absolute; paths given elsewhere (`-p` on the command line, a
    notebook's own defaults) are not this function's: `xltlib.tasks.files.local_path` resolves those."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found")
    text = path.read_text(encoding="utf-8")
    try:
        params = load_yaml(text)  # `1e-5` is a float, as users mean
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}: malformed YAML at {where}: {problem}") from None
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter names to values, got {type(params).__name__}")
    for key in params:
        if not isinstance(key, str):
            raise ConfigError(f"{path}: parameter names must be strings, got {key!r}")
    if "data_files" in params:
        params["data_files"] = resolve_data_files(params["data_files"], path.resolve().parent)
    return params
