"""Running a schedule of stages (`xltlib.methods.recipes`): each stage's model starts as its `init` says, trains
in the one training loop on its task(s), and is selected on the English dev its `select_on` names; the last stage's
model is the one evaluated. The model after a schedule's leading stages is kept in the run store (`StagePrefix`), so a
later run whose schedule starts with the same stages starts after them. A multi-task stage trains one head per task
on a shared encoder, its batches' tasks drawn by its sampler. A config describes a run as one process trains it;
under several processes (`torchrun`, `accelerate launch`) each trains its share of every batch
(`per_process_config`), so the run, and its key in the run store, are the same.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import ConfigError
from ..methods.recipes import Stage
from ..methods.samplers import probabilities
from ..tasks.catalogue import TASKS
from ..tasks.handlers import TaskData, handler_for
from ..tasks.models import InitFrom, fresh_head_model, load_model
from ..core.atomic import atomic_write_json
from .loop import TrainResult, WarmupPrefix, process_state, train
from .multitask import MultiTaskModel, TaskBatchSampler, multitask_collate, tagged
from .store import run_lock

STAGE_WEIGHTS, STAGE_RECORD = "model.pt", "stage.json"


@dataclass
class StageInputs:
    """What a schedule needs besides its stages: the target task's data, each stage task's training data (by
    task), and how the run starts (model path, the method's init, perturbation, seed, tokenizer)."""

    target: TaskData
    stage_data: dict[str, TaskData]
    model_path: str
    first_init: InitFrom
    perturbation: object
    seed: int
    tokenizer: object
    method: str
    pooling: str = "cls"  # what sentence-level heads read (TrainArgs.classifier_pooling)
    # the shared plain warm-ups the first stage starts from or saves (`xltlib.run.experiment.warmup_prefixes`)
    warmup_prefixes: tuple[WarmupPrefix, ...] = ()
    # (stage, index, previous model) -> the model a later stage trains, for a modified method (adapters continued or
    # stacked, `xltlib.run.adapters.stage_entry`); None: `start_model`'s
    enter_stage: Callable | None = None

    def spec_of(self, task: str):
        """`task`'s spec as its data were loaded (a task whose labels come from its files, CCGbank's supertags, has
        them there: `TaskHandler.spec_for`), else the catalogue's."""
        if task == self.target.spec.name:
            return self.target.spec
        data = self.stage_data.get(task)
        return data.spec if data is not None else TASKS[task]


@dataclass(frozen=True)
class StagePrefix:
    """The model after a schedule's first `stages` stages (every weight: a fresh head for the next stage reads its
    encoder, a few-shot stage the whole model) and the last of those stages' TrainResult, in `directory` (a folder
    of the run store, present only when whole). Runs whose schedules start with the same stages, trained on the same
    data and selected on the same dev, share it (`xltlib.run.experiment.stage_prefixes` says which): the first one
    saves it, the others load it instead of training those stages."""

    stages: int
    directory: Path

    def exists(self) -> bool:
        return (self.directory / STAGE_RECORD).is_file()

    def load(self, model) -> TrainResult:
        import torch

        model.load_state_dict(torch.load(self.directory / STAGE_WEIGHTS, map_location="cpu"), strict=True)
        return TrainResult(**json.loads((self.directory / STAGE_RECORD).read_text()))

    def save(self, model, result: TrainResult) -> None:
        """Written beside and renamed (the caller holds the prefix's lock): whole or absent."""
        import shutil

        import torch

        tmp = self.directory.with_name(self.directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp / STAGE_WEIGHTS)
        atomic_write_json(tmp / STAGE_RECORD, dataclasses.asdict(dataclasses.replace(result, stages_from_store=0)))
        shutil.rmtree(self.directory, ignore_errors=True)
        tmp.rename(self.directory)


def stage_config(cfg, stage: Stage):
    return dataclasses.replace(cfg, **stage.budget) if stage.budget else cfg


def per_process_config(cfg, stage: Stage, processes: int):
    """`stage`'s training config for one of `processes` processes training it together: the run's batch
    (per_device_train_batch_size x gradient_accumulation_steps, as one process trains it) split over them, the
    accumulation steps first (each device keeps the micro-batch the run was sized for), then the per-device batch.
    accelerate gives process k batches k, k + n, ..., so every optimizer step sees the same examples as on one
    process. A stage whose batches cannot be split so is an error: a multi-task stage (each batch is one task's) and
    a loss over the whole batch (in-batch negatives)."""
    cfg = stage_config(cfg, stage)
    if processes == 1:
        return cfg
    where = f"stage {'+'.join(stage.tasks)} on {processes} processes"
    if stage.multi_task:
        raise ConfigError(f"{where}: a multi-task stage draws one task per batch, which several processes cannot "
                          f"share; train it on one process (xlt run)")
    coupled = [t for t in stage.tasks if handler_for(TASKS[t]).in_batch_loss]
    if coupled:
        raise ConfigError(f"{where}: {coupled[0]}'s loss uses the whole batch (in-batch negatives), which several "
                          f"processes would each see only a share of; train it on one process (xlt run)")
    accumulation, batch = cfg.gradient_accumulation_steps, cfg.per_device_train_batch_size
    shared = math.gcd(accumulation, processes)
    if batch % (processes // shared):
        raise ConfigError(
            f"{where}: the training batch (per_device_train_batch_size {batch} x gradient_accumulation_steps "
            f"{accumulation}) does not split over {processes} processes; make the product a multiple of {processes}")
    return dataclasses.replace(cfg, gradient_accumulation_steps=accumulation // shared,
                               per_device_train_batch_size=batch // (processes // shared))


def start_model(stage: Stage, index: int, previous, inputs: StageInputs):
    """The model a stage starts from: loaded (the first stage, or `pretrained_encoder`), the previous stage's
    whole model (`previous`), or its encoder under fresh heads (`previous_encoder`)."""
    specs = [inputs.spec_of(t) for t in stage.tasks]
    if index == 0 or stage.init is InitFrom.PRETRAINED_ENCODER:
        init = inputs.first_init if index == 0 else InitFrom.PRETRAINED_ENCODER
        models = {s.name: load_model(inputs.model_path, s, init, inputs.seed, inputs.pooling) for s in specs}
    elif stage.init is InitFrom.PREVIOUS:
        if isinstance(previous, MultiTaskModel):
            missing = [s.name for s in specs if s.name not in previous.heads]
            if missing:
                raise ValueError(f"stage {index}: init 'previous' needs a head for {missing[0]!r}, which the "
                                 f"previous stage did not train (it trained {', '.join(previous.heads)})")
            models = {s.name: previous.heads[s.name] for s in specs}
        else:
            models = {s.name: previous for s in specs}
    else:
        source = next(iter(previous.heads.values())) if isinstance(previous, MultiTaskModel) else previous
        models = {s.name: fresh_head_model(source, s, inputs.seed) for s in specs}
    return MultiTaskModel(models) if stage.multi_task else models[specs[0].name]


def selection(stage: Stage, target) -> str:
    """Whose English dev selects the stage's checkpoint. `target`: the target task's, when the stage trains the
    target or tasks of its type (XTREME-R selects SIQA-then-COPA on COPA's dev); otherwise the stage's own task's
    (`own`; a multi-task stage without the target keeps its last weights, `last`)."""
    same_type = all(TASKS[t].type == target.type for t in stage.tasks)
    if stage.select_on == "target" and not (target.name in stage.tasks or same_type):
        return "own" if not stage.multi_task else "last"
    return stage.select_on


def dev_scorer(stage: Stage, model, inputs: StageInputs, cfg):
    """The English dev score that selects the stage's checkpoint (None: keep the last weights); see `selection`."""
    target = inputs.target.spec
    choice = selection(stage, target)
    if choice == "last":
        return None
    if choice == "target":
        spec, data = target, inputs.target
    else:
        spec = inputs.spec_of(stage.tasks[0])
        data = inputs.stage_data[spec.name]
    handler = handler_for(spec, cfg.task_options)
    score = handler.dev_scorer(spec, data, inputs.tokenizer, cfg, handler.max_length(_head(model, spec.name), cfg))
    return lambda m: score(_head(m, spec.name))


def _head(model, task: str):
    return model.heads[task] if isinstance(model, MultiTaskModel) and task in model.heads else model


def train_stage(stage: Stage, index: int, model, inputs: StageInputs, cfg, work_dir: Path) -> TrainResult:
    cfg = per_process_config(cfg, stage, process_state().num_processes)
    specs = [inputs.spec_of(t) for t in stage.tasks]
    data = {s.name: inputs.target if s.name == inputs.target.spec.name and stage.split == "train" and not stage.langs
            else inputs.stage_data[s.name] for s in specs}
    checkpoint_dir = work_dir / f"checkpoint-{index}-{'+'.join(stage.tasks)}"
    desc = f"{'+'.join(stage.tasks)} {inputs.method} seed {inputs.seed}"
    if not stage.multi_task:
        spec = specs[0]
        handler = handler_for(spec, cfg.task_options)  # the task's own options, as a stage of any schedule
        trainable = handler.trainable(model)
        collate = handler.collate(spec, inputs.tokenizer, cfg, handler.max_length(model, cfg))
        return train(trainable, handler.training_examples(data[spec.name]), collate, cfg, seed=inputs.seed,
                     perturbation=inputs.perturbation if stage.perturb else None, dev_score=dev_scorer(stage, model, inputs, cfg),
                     checkpoint_dir=checkpoint_dir, desc=desc,
                     prefixes=inputs.warmup_prefixes if index == 0 else ())
    examples, collates, sizes = [], {}, {}
    for spec in specs:
        handler = handler_for(spec, cfg.task_options)
        rows = handler.training_examples(data[spec.name])
        examples += tagged(spec.name, rows)
        sizes[spec.name] = len(rows)
        collates[spec.name] = handler.collate(spec, inputs.tokenizer, cfg, handler.max_length(model.heads[spec.name],
                                                                                              cfg))
    probs = probabilities(stage.sampler, sizes)
    return train(model, examples, multitask_collate(collates), cfg, seed=inputs.seed,
                 perturbation=inputs.perturbation if stage.perturb else None, dev_score=dev_scorer(stage, model, inputs, cfg),
                 checkpoint_dir=checkpoint_dir, desc=desc,
                 batch_sampler=lambda g: TaskBatchSampler(sizes, probs, cfg.per_device_train_batch_size, g))


def enter(stages: tuple[Stage, ...], index: int, previous, inputs: StageInputs, first_model=None):
    """The model stage `index` trains: `first_model` (already loaded), or `enter_stage`'s or `start_model`'s."""
    if index == 0 and first_model is not None:
        return first_model
    if index > 0 and inputs.enter_stage is not None:
        return inputs.enter_stage(stages[index], index, previous)
    return start_model(stages[index], index, previous, inputs)


def run_schedule(stages: tuple[Stage, ...], inputs: StageInputs, cfg, work_dir: Path, first_model=None,
                 prefixes: tuple[StagePrefix, ...] = ()):
    """Train every stage in order; returns (the target task's model after the last stage, the last stage's
    TrainResult, its `stages_from_store` the leading stages loaded from `prefixes`). `first_model`, if given, is the
    first stage's model, already loaded. `prefixes`: the shared stages this schedule starts from or saves; the
    furthest stored one is loaded, and each later one is trained under its lock (a run beside this one that trains
    it meanwhile is waited for, then loaded) and saved."""
    by_length = {p.stages: p for p in prefixes}
    stored = max((p for p in prefixes if p.exists()), key=lambda p: p.stages, default=None)
    model, result, start, from_store = None, None, 0, 0
    if stored is not None:  # rebuild the model's shape up to the stored stages (no training), then load them
        for index in range(stored.stages):
            model = enter(stages, index, model, inputs, first_model)
        result, start, from_store = stored.load(model), stored.stages, stored.stages
    for index in range(start, len(stages)):
        model = enter(stages, index, model, inputs, first_model)
        prefix = by_length.get(index + 1)
        with run_lock(prefix.directory) if prefix is not None else contextlib.nullcontext():
            if prefix is not None and prefix.exists():
                result, from_store = prefix.load(model), index + 1
                continue
            result = train_stage(stages[index], index, model, inputs, cfg, work_dir)
            if prefix is not None and process_state().is_main_process:
                prefix.save(model, result)
    return _head(model, inputs.target.spec.name), dataclasses.replace(result, stages_from_store=from_store)
