"""Zero-shot experiments as code, one run path for every task type: plan -> stages -> English-dev selection ->
evaluation of every language -> the robustness evaluation -> predictions in the submission layout.

`run_experiment` loops over tasks x methods x seeds of a RunConfig; a schedule method (`seq:mnli`, `joint:mnli`,
`standard+fs16s3`: `xltlib.methods.schedules`) trains the stages its name says (`method_plan`), a few-shot stage on
its shot sets (`load_shot_data`). Each fine-tuning run is keyed by what
determines its result and kept in the run store (`xltlib.run.store`: `outputs/store/<key>/`, shared by every
notebook): a finished run is read back, a killed one resumes from its last checkpoint, so a notebook can be rerun,
or another notebook ask for the same run, at no cost. The plain warm-up of robust methods (`start_step`) is shared
through the store too (`warmup_prefixes`): trained once per (task, seed, training settings), by whichever of
`standard` and the robust methods comes first; so are a schedule's leading stages (`stage_prefixes`): `seq:mnli`'s
MNLI model is trained once for every target task, few-shot set and notebook whose schedule starts with it, and
`seq:mnli+fs16s3` starts from `seq:mnli`'s whole trained model. `store.json` in the run directory lists its hits
and misses. The embedded world, when a run uses it, is passed in (`xltlib.app.notebook.setup` builds it): this
layer sits below the world's generator. With `save_model`, each fine-tuned run's selected model is kept (in the store, linked
into `<run dir>/models/`); with `report_to`, training runs log to `<run dir>/tensorboard/`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd

from ..core.atomic import atomic_write_json
from ..core.config import RunConfig, train_key
from ..core.errors import ConfigError
from ..core.progress import ProgressLog
from ..core.quiet import quiet_libraries
from ..methods.recipes import Stage, schedule_record
from ..methods.schedules import ADAPTER_OPTION, MIX, schedule_stages
from ..methods.spec import METHODS, WARMUP_OPTION, MethodContext
from ..robustness.smoothing import evaluate_robustness
from ..tasks.catalogue import TASKS
from ..tasks.files import task_langs
from ..tasks.handlers import TaskData, handler_for, task_options_key
from ..tasks.models import InitFrom, load_model, load_tokenizer, resolve_model_path
from ..tasks.shots import draw_shots, read_zhao_shots
from .adapters import evaluate_by_group, modifier_context, stage_entry
from .adapters import restore as restore_modified
from .loop import WarmupPrefix, process_state, tracking
from .plan import TaskPlan, plan
from .stages import StageInputs, StagePrefix, run_schedule, selection, start_model
from .store import (STORE_VERSION, copy_predictions, finished_records, run_lock, save_finished_run, save_trained_run,
                    stage_dir, store_root, trained_record, warmup_dir)

COLUMNS = ["task", "lang", "method", "seed", "split", "metric", "value"]


def task_data_files(cfg: RunConfig, task: str, world) -> dict:
    """The world's files (if any), overridden split by split and language by language by the user's."""
    if world is not None and task not in world.generated_tasks and not cfg.data_files.get(task):
        raise ConfigError(f"task {task!r}: the embedded world does not generate it (it generates "
                          f"{', '.join(world.generated_tasks)}); give its files in data_files, or run it with "
                          f"world: real")
    files = {split: dict(by_lang) for split, by_lang in (world.data_files(task) if world else {}).items()}
    for split, by_lang in cfg.data_files.get(task, {}).items():
        files.setdefault(split, {}).update(by_lang)
    return files


def load_task_data(cfg: RunConfig, task: str, world=None, strict_langs: bool = False) -> TaskData:
    """A task's splits as its handler loads them: English train and dev, a test set per evaluation language.

    `cfg.eval_langs` languages the task does not have are skipped with a warning (one list serves every task of a
    run), or refused when `strict_langs` (the task was given its own list in `task_overrides`)."""
    files, handler = task_data_files(cfg, task, world), handler_for(TASKS[task])
    spec = handler.spec_for(TASKS[task], files)  # labels from the files, where the type takes them (CCGbank)
    langs = task_langs(spec, world.langs_for(task) if world else None, cfg.eval_langs, strict=strict_langs)
    return handler.load(cfg, spec, files, langs)


def load_stage_data(cfg: RunConfig, task: str, split: str, langs: tuple[str, ...], world=None,
                    with_dev: bool = False) -> TaskData:
    """A stage task's training rows: `split` in `langs` (default its source language), and its English dev when
    the stage selects on it."""
    handler, files = handler_for(TASKS[task]), task_data_files(cfg, task, world)
    spec = handler.spec_for(TASKS[task], files)
    rows = [row for lang in (langs or (spec.src_lang,))
            for row in handler.load_split(spec, split, lang, files, cfg.max_train_samples)]
    data = TaskData(spec, train=rows)
    if with_dev:
        data.dev = handler.load_split(spec, "validation", spec.src_lang, files, cfg.max_eval_samples)
    return data


def check_own_dev(cfg: RunConfig, task: str, method: str, world) -> None:
    """A stage selected on its own task's English dev needs that dev: refused, saying how, when the embedded world's
    run names no such file (a task the world does not generate, given by its training files alone)."""
    path = task_data_files(cfg, task, world).get("validation", {}).get(TASKS[task].src_lang) if world else None
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"method {method!r}: the {task} stage selects its checkpoint on {task}'s English dev "
                          f"(intermediate_select_on: own), and {task} has no validation file ({path}); give it by "
                          f"data_files: {{{task}: {{validation: {{en: <path>}}}}}}, or set intermediate_select_on: "
                          "last in method_options")


def load_shot_data(cfg: RunConfig, stage: Stage, data: TaskData, world=None, method: str = "") -> TaskData:
    """A few-shot stage's rows: its shot set in each of its languages (`xltlib.tasks.shots`), drawn from the target
    language's `stage.split` (the whole split, as loaded) or read from Zhao et al.'s layout, never one of the rows
    the run evaluates (`data.tests`)."""
    spec, handler = data.spec, handler_for(data.spec)
    files = task_data_files(cfg, spec.name, world)
    k, shot_set, root = stage.shots["k"], stage.shots["shot_set"], stage.shots["from"]
    if not stage.langs:
        raise ConfigError(f"a few-shot stage of {spec.name!r} names the target languages its shots are in "
                          f"(langs: [<lang>, ...])")
    rows = []
    for lang in stage.langs:
        held_out = data.tests.get(lang, [])
        if root is not None:
            rows += read_zhao_shots(spec, root, k, lang, shot_set, held_out)
            continue
        pool = handler.load_split(spec, stage.split, lang, files, None)
        rows += draw_shots(spec, lang, pool, k, shot_set, held_out,
                           where=f"method {method!r}: shot set {shot_set} of {spec.name} {lang} ({stage.split})")
    return TaskData(spec, train=rows)


def method_plan(task_plan: TaskPlan, method: str, world=None) -> TaskPlan:
    """The plan of `method`'s runs of the task: the task's own, or, for a schedule method (`seq:mnli`, ...;
    `xltlib.methods.schedules`), the same with the stages its name says, each checked before any data loads."""
    schedule = METHODS[method].schedule
    if schedule is None:
        return task_plan
    cfg, task = task_plan.cfg, task_plan.spec.name
    if task in cfg.stages:
        raise ConfigError(f"method {method!r} says task {task!r}'s schedule, and so does stages[{task!r}]; give the "
                          f"schedule one way (remove stages[{task!r}] or use method 'standard')")
    if not task_plan.handler.fine_tuned:
        raise ConfigError(f"method {method!r} trains stages, and task {task!r} ({task_plan.handler.name}) is not "
                          "fine-tuned: it is evaluated on the pretrained encoder (retrieval on an intermediate "
                          "model is not built)")
    mix = ()
    if schedule.langs == (MIX,):  # the languages every intermediate task has training data in: its source one (the
        # hub's or the world's) and those of its translate-train files
        langs = [set(task_data_files(cfg, t, world).get("train", {})) | {TASKS[t].src_lang}
                 for t in schedule.intermediate_tasks() if t != task]
        common = set.intersection(*langs) if langs else set()
        mix = tuple(sorted(common, key=lambda code: (code != task_plan.spec.src_lang, code)))
    shot_langs = ()
    if schedule.k is not None:
        spec = task_plan.spec
        evaluated = task_langs(spec, world.langs_for(task) if world else None, cfg.eval_langs,
                               strict="eval_langs" in cfg.task_overrides.get(task, {}))
        shot_langs = tuple(lang for lang in evaluated if lang != spec.src_lang)
    stages = schedule_stages(schedule, task, task_plan.method_options[method], mix_langs=mix, shot_langs=shot_langs)
    # Each stage task the world generates or has its files given: refused here, before any world is built, if not.
    for name in dict.fromkeys(t for stage in stages for t in stage.tasks if t != task):
        try:
            task_data_files(cfg, name, world)
        except ConfigError as e:
            raise ConfigError(f"method {method!r}: {e}") from None
    return dataclasses.replace(task_plan, stages=stages)


def plan_methods(plans: dict[str, TaskPlan], methods, world=None) -> dict[tuple[str, str], TaskPlan]:
    """{(task, method): `method_plan`} for every task of `plans` (`xltlib.run.plan.plan`) and method: each schedule
    method's stages built and checked. `world` is read for its languages and file names only, so a world that is not
    built yet (`xltlib.world.build.World` at its cache folder) checks the same (`xltlib.app.runner.check_run_config`,
    before a kernel starts)."""
    return {(task, method): method_plan(task_plan, method, world) for task, task_plan in plans.items()
            for method in methods}


def method_context(model, spec, world) -> MethodContext:
    handler = handler_for(spec)
    weights = model.get_input_embeddings().weight.detach()
    substitute = functools.partial(handler.substitute, spec) if handler.substitute is not None else None
    return MethodContext(text_fields=handler.text_fields(spec), embedding_norm=float(weights.norm(dim=-1).mean()),
                         world=world, src_lang=spec.src_lang, substitute=substitute)


TRAINING_SPLITS = ("train", "validation")  # the data a training reads (English dev selects the checkpoint)


def training_key(cfg: RunConfig, task_plan: TaskPlan, method: str, seed: int, model_path: str, world) -> str:
    """What determines one fine-tuning run's trained model, hashed: its training fields, task, method and resolved
    options, seed, model, world, training data and stages, and the options of the tasks it trains where
    `task_options` sets them otherwise than their defaults. Not how it is evaluated, nor the run's other tasks,
    methods or seeds, nor where it writes: adding a seed, a language or an attack reuses the trained models."""
    return _hash({**_training_blob(cfg, task_plan, seed, model_path, world), "method": method,
                  "method_options": task_plan.method_options[method]})


def _training_blob(cfg: RunConfig, task_plan: TaskPlan, seed: int, model_path: str, world) -> dict:
    """What `training_key` hashes but the method and its options."""
    task = task_plan.spec.name
    files = cfg.data_files.get(task) or {}
    blob = {"store_version": STORE_VERSION, "train": train_key(cfg), "task": task,
            "seed": seed, "model": model_path, "world": world.directory.name if world else None,
            "data_files": {split: files[split] for split in TRAINING_SPLITS if split in files} or None}
    schedule = schedule_record(task_plan.stages)
    if schedule is not None:
        blob["stages"] = schedule
        blob["stage_data"] = {t: cfg.data_files.get(t) for s in task_plan.stages for t in s.tasks if t != task}
        if any(stage.shots for stage in task_plan.stages):  # the shots leave out the rows the run evaluates
            blob["held_out"] = files.get("test")
    options = task_options_key(cfg.task_options, {task, *(t for s in task_plan.stages for t in s.tasks)})
    if options:  # keyed only when set: the runs stored before task_options keep their keys
        blob["task_options"] = options
    return blob


def shares_warmup(task_plan: TaskPlan, method: str) -> bool:
    """Whether `method`'s plain steps may be shared: they are then the same computation for every such method of
    the same init (the loop runs the plain hooks before `start_step`, reseeds dropout and noise per micro-batch
    and reshuffles per epoch from the seed alone; dev is scored without the method; building a method's hooks
    touches neither the model nor a random state the loop reads; a per-batch tokenization (RS-DA) gives the
    tensors the pre-tokenized set does). Measured bit for bit for `at`, `free_at`, `rs_rp` and `rs_da` against
    `standard` on the tiny world (tests/test_warmup_prefix.py) and the default one (benchmarks/README.md). Not a
    method that sees other rows (`view`: a control), nor a recipe with stages (its steps follow from the earlier
    stages), nor a parameter-efficient method (`modifier`: it trains other parameters from the first step)."""
    return (task_plan.handler.fine_tuned and METHODS[method].view is None and METHODS[method].modifier is None
            and schedule_record(task_plan.stages) is None)


def plain_steps(task_plan: TaskPlan, method: str) -> float:
    """How many optimizer steps `method` trains plainly: its `start_step`, or all of them (no training hooks)."""
    return task_plan.method_options[method][WARMUP_OPTION] if METHODS[method].perturbs_training else math.inf


def warmup_prefixes(store: Path, task_plan: TaskPlan, method: str, seed: int, model_path: str, world,
                    methods) -> tuple[WarmupPrefix, ...]:
    """The shared warm-ups `method`'s run starts from or saves: one per `start_step` S of the sharing robust
    methods among `methods` (of its init) that its own plain steps cover, so `standard` saves the warm-up its
    robust siblings start from, and any of them the one the others do. Keyed by what determines the state after S
    plain steps: the training key without the method and its options, the init, S, and the number of processes
    (each saves its own random state)."""
    if not shares_warmup(task_plan, method):
        return ()
    init = METHODS[method].init
    steps = {task_plan.method_options[m][WARMUP_OPTION] for m in methods
             if METHODS[m].perturbs_training and METHODS[m].init is init and shares_warmup(task_plan, m)}
    blob = {**_training_blob(task_plan.cfg, task_plan, seed, model_path, world), "init": init.value,
            "processes": process_state().num_processes}
    return tuple(WarmupPrefix(step, warmup_dir(store, f"{task_plan.spec.name}-seed{seed}-step{step}-"
                                                      f"{_hash({**blob, 'warmup_step': step})}"))
                 for step in sorted(steps) if 0 < step <= plain_steps(task_plan, method))


def shares_stages(task_plan: TaskPlan, method: str) -> bool:
    """Whether `method`'s schedule may share its leading stages with other runs: a schedule of several stages, on one
    process (each process would save its own share), trained plainly (a method with training hooks perturbs
    every stage that `perturb` leaves on) and on the rows as loaded (not a control's `view`)."""
    return (task_plan.handler.fine_tuned and schedule_record(task_plan.stages) is not None
            and len(task_plan.stages) > 1 and METHODS[method].view is None
            and not METHODS[method].perturbs_training and process_state().num_processes == 1)


def stage_prefixes(store: Path, task_plan: TaskPlan, method: str, seed: int, model_path: str,
                   world) -> tuple[StagePrefix, ...]:
    """The shared stages `method`'s schedule starts from or saves: the model after its first K stages, for every K
    up to the whole schedule (so `X+fs16` starts from X's trained model), but a last few-shot stage (no schedule
    extends it). Keyed by what alone determines those K stages: their records (tasks, split, languages, budget,
    init, sampler, selection, shots), the run's training fields, seed, model, world, the method's init and
    model modifier (`modifier_key`), and the stage tasks' data files and options (`task_options`, when set); not the
    method's name, nor the target task,
    unless a stage trains the target or selects its checkpoint on the target's English dev (`selection`: a stage
    of the target's type left at `select_on: target`): then the target and its training files are in the key, and
    the stage is shared only by runs of that target. Schedule methods select an intermediate stage on its own task's
    dev (`intermediate_select_on`), so `seq:mnli`'s MNLI model is the same for XNLI and PAWS-X."""
    if not shares_stages(task_plan, method):
        return ()
    cfg, target, stages = task_plan.cfg, task_plan.spec, task_plan.stages
    files = cfg.data_files.get(target.name) or {}
    base = {"store_version": STORE_VERSION, "train": train_key(cfg), "seed": seed, "model": model_path,
            "world": world.directory.name if world else None, "init": METHODS[method].init.value,
            "modifier": modifier_key(task_plan, method)}
    last = len(stages) - 1 if stages[-1].shots else len(stages)
    prefixes = []
    for length in range(1, last + 1):
        leading = stages[:length]
        tasks = sorted({t for stage in leading for t in stage.tasks})
        blob = {**base, "stages": [stage.record() for stage in leading],
                "stage_data": {t: cfg.data_files.get(t) for t in tasks if t != target.name}}
        if base["modifier"] and any(stage.init is InitFrom.PREVIOUS_ENCODER for stage in leading):
            blob["intermediate_adapter"] = task_plan.method_options[method].get(ADAPTER_OPTION)
        if target.name in tasks or any(selection(stage, target) == "target" for stage in leading):
            blob["target"] = target.name
            blob["target_data"] = {split: files[split] for split in TRAINING_SPLITS if split in files} or None
        if any(stage.shots for stage in leading):  # the shots leave out the rows the run evaluates
            blob["held_out"] = files.get("test")
        options = task_options_key(cfg.task_options, tasks)
        if options:  # as in `_training_blob`: only when set
            blob["task_options"] = options
        name = f"{'+'.join(leading[-1].tasks)}-seed{seed}-stages{length}-{_hash(blob)}"
        prefixes.append(StagePrefix(length, stage_dir(store, name)))
    return tuple(prefixes)


def modifier_key(task_plan: TaskPlan, method: str) -> dict | None:
    """What a parameter-efficient method changes in the model, for a shared stage's key: its modifier and resolved
    options; None for full fine-tuning."""
    modifier = METHODS[method].modifier
    if modifier is None:
        return None
    return {"modifier": type(modifier).__name__, "options": modifier.key_options(task_plan.method_options[method])}


def run_key(cfg: RunConfig, task_plan: TaskPlan, method: str, seed: int, model_path: str, world) -> str:
    """What determines one run's records, hashed: its training (`training_key`), the test data, the evaluation
    languages and settings and the robustness suite."""
    task = task_plan.spec.name
    blob = {"training": training_key(cfg, task_plan, method, seed, model_path, world),
            "data_files": cfg.data_files.get(task), "eval_langs": cfg.eval_langs, "generalized": cfg.generalized}
    if cfg.generalized and cfg.max_generalized_samples is not None:
        blob["max_generalized_samples"] = cfg.max_generalized_samples
    if cfg.retrieval_layer is not None:
        blob["retrieval_layer"] = cfg.retrieval_layer
    if task_plan.attacks or task_plan.smoothing:
        blob["robustness"] = {"attacks": task_plan.attacks, "smoothing": task_plan.smoothing,
                              "max_samples": cfg.max_robustness_samples}
    return _hash(blob)


def _hash(blob: dict) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:10]


@dataclasses.dataclass(frozen=True)
class StoredRun:
    """Where one run lives in the store: its training folder and, inside it, its evaluation folder."""

    train_dir: Path
    eval_dir: Path
    keep_model: bool  # the trained model is kept, so another evaluation of the same training only evaluates

    @classmethod
    def at(cls, store: Path, name: str, cfg: RunConfig, task_plan: TaskPlan, method: str, seed: int,
           model_path: str, world) -> "StoredRun":
        train_dir = store / f"{name}-{training_key(cfg, task_plan, method, seed, model_path, world)}"
        eval_dir = train_dir / f"eval-{run_key(cfg, task_plan, method, seed, model_path, world)}"
        # The embedded world's models are a megabyte or two: keep every one. A real model (GBs) only when asked.
        return cls(train_dir, eval_dir, keep_model=world is not None or cfg.save_model)

    def has_trained_model(self) -> bool:
        return trained_record(self.train_dir) is not None and saved_model_dir(self.train_dir).is_dir()


def saved_model_dir(work_dir: Path) -> Path:
    """Where a stored run keeps its selected model when `save_model` asked for it."""
    return Path(work_dir) / "model"


def is_finished(stored: StoredRun, task_plan: TaskPlan) -> bool:
    """Whether the stored run can be read back instead of run: evaluated, and holding its model if this run
    keeps models (a run stored without one is trained again, to the same records: the run is seeded)."""
    wants_model = task_plan.cfg.save_model and task_plan.handler.fine_tuned
    return finished_records(stored.eval_dir) is not None and (not wants_model or stored.has_trained_model())


def save_model(model, tokenizer, directory: Path) -> None:
    """`model` (the selected one) and `tokenizer` as a folder that `AutoModelFor<head>.from_pretrained` loads:
    safetensors weights, config.json (with the task's label names) and the tokenizer files; written beside and
    renamed, so the folder is whole or absent."""
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)


def _link_or_copy(source: str, destination: str) -> None:
    """A hard link (a stored model's files are never rewritten in place), or a copy across file systems."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def fine_tune_and_evaluate(task_plan: TaskPlan, data: TaskData, stage_data: dict, method: str, seed: int,
                           model_path: str, tokenizer, stored: StoredRun, world=None,
                           prefixes: tuple[WarmupPrefix, ...] = (),
                           shared_stages: tuple[StagePrefix, ...] = ()) -> list[dict]:
    """One run: train the schedule with `method` and `seed` (selected on English dev), or load its kept model if
    another evaluation trained it already; evaluate every language, then the robustness suite, and write
    predictions. Records are saved in the evaluation folder and returned; the trained model (`saved_model_dir`;
    tasks that are not fine-tuned have none) in the training folder when the run keeps models. Under several
    processes all of them train; the main process alone evaluates and writes, and returns the records (the others
    return None). `prefixes`: the shared warm-ups its training starts from or saves (`warmup_prefixes`);
    `shared_stages`: the shared leading stages of its schedule (`stage_prefixes`)."""
    if is_finished(stored, task_plan):
        return finished_records(stored.eval_dir)
    cfg, spec, handler = task_plan.cfg, data.spec, task_plan.handler
    method_spec = METHODS[method]
    if method_spec.view is not None:  # a control that sees other rows (e.g. sentence 2 alone), every split alike
        view = functools.partial(method_spec.view, spec)
        data = dataclasses.replace(data, train=view(data.train), dev=view(data.dev),
                                   tests={lang: view(rows) for lang, rows in data.tests.items()})
    inputs = StageInputs(data, stage_data, model_path, method_spec.init, None, seed, tokenizer, method,
                         cfg.classifier_pooling, prefixes)
    first_stage = task_plan.stages[0] if task_plan.stages else None
    model = start_model(first_stage, 0, None, inputs) if first_stage else load_model(
        model_path, spec, method_spec.init, seed, cfg.classifier_pooling)
    first_spec = TASKS[first_stage.tasks[0]] if first_stage else spec
    first_head = model.heads[first_spec.name] if first_stage and first_stage.multi_task else model
    # Before training: the same relative budgets for every method (and for a kept model's evaluation).
    context = method_context(first_head, spec, world)
    options = task_plan.method_options[method]
    inputs.perturbation = method_spec.build(context, options)
    modified = None  # a parameter-efficient method's model modifier (adapters, LoRA): its context
    if method_spec.modifier is not None:
        modified = modifier_context(task_plan, method, data, seed, stored.train_dir.parent, model_path, tokenizer,
                                    world)
        model = method_spec.modifier.apply(model, options, modified)
        inputs.enter_stage = stage_entry(method_spec, options, modified, inputs)
    trained = None
    if handler.fine_tuned:
        if stored.keep_model and stored.has_trained_model():
            model = load_model(str(saved_model_dir(stored.train_dir)), spec, InitFrom.PRETRAINED_ENCODER, seed)
            if modified is not None:
                model = restore_modified(method_spec, model, options, modified, saved_model_dir(stored.train_dir),
                                         task_plan.stages)
            trained = trained_record(stored.train_dir)
        else:
            model, result = run_schedule(task_plan.stages, inputs, cfg, stored.train_dir, first_model=model,
                                         prefixes=shared_stages)
            if process_state().is_main_process:
                if stored.keep_model:
                    save_model(model, tokenizer, saved_model_dir(stored.train_dir))
                save_trained_run(stored.train_dir, result)
                trained = trained_record(stored.train_dir)
    if not process_state().is_main_process:
        return None
    max_length = handler.max_length(model, cfg)
    smoothing = inputs.perturbation if inputs.perturbation.smooths_predictions else None
    records, predictions = evaluate_by_group(
        method_spec, model, options, modified, data,
        lambda part: handler.evaluate(spec, model, tokenizer, part, cfg, max_length, smoothing, seed))
    records += evaluate_by_group(
        method_spec, model, options, modified, data,
        lambda part: (evaluate_robustness(model, spec, handler, part.tests, tokenizer, cfg, max_length,
                                          context=context, seed=seed), {}))[0]
    if trained is not None:
        records.append({"lang": spec.src_lang, "split": "validation", "metric": spec.metric,
                        "value": trained["best_dev_score"]})
    records = [{"task": spec.name, "method": method, "seed": seed, **r} for r in records]
    handler.write_predictions(spec, predictions, stored.eval_dir / "predictions")
    save_finished_run(stored.eval_dir, records)
    return records


def run_experiment(cfg: RunConfig, run_dir: str | Path, world=None) -> pd.DataFrame | None:
    """Every task x method x seed of `cfg`; long-format records (task, lang, method, seed, split, metric,
    value). `world` is the embedded world when `cfg.world` is "embedded" (`xltlib.app.notebook.setup`). Started
    in several processes (`xltlib.app.distributed`), every process trains and the main one evaluates, writes and
    returns the records; the others return None."""
    plans = plan(cfg)  # every name and option checked before anything loads
    method_plans = plan_methods(plans, cfg.methods, world)
    if cfg.world == "embedded" and world is None:
        raise ConfigError("world 'embedded' needs the built world: pass world=xltlib.app.notebook.load_world(cfg)")
    quiet_libraries()
    run_dir = Path(run_dir)
    model_path = resolve_model_path(cfg.model_name_or_path, world)
    tokenizer = load_tokenizer(model_path)
    store, hits, misses, trained_hits, warmup_hits, stage_hits = store_root(run_dir), [], [], [], [], []
    processes = process_state()  # one, or the processes of `torchrun` / `accelerate launch`; the main one writes
    main = processes.is_main_process
    progress = ProgressLog(run_dir, total=len(plans) * len(cfg.methods) * len(cfg.seeds))
    records = []
    for task, task_plan in plans.items():
        task_cfg = task_plan.cfg
        data = load_task_data(task_cfg, task, world,
                              strict_langs="eval_langs" in cfg.task_overrides.get(task, {}))
        if cfg.export_predictions and main:  # gold in the same layout, so `xlt score` can score the predictions
            task_plan.handler.write_gold(data.spec, data, run_dir / "labels")
        loaded = {}  # stage data by what determines it, shared by the methods that train the same stage
        for method in cfg.methods:
            task_plan = method_plans[task, method]
            stage_data = {}
            for stage in task_plan.stages:
                stage_cfg = task_cfg.replace(**stage.budget) if stage.budget else task_cfg
                own_dev = selection(stage, data.spec) == "own"
                for name in stage.tasks:
                    if name != task or stage.split != "train" or stage.langs:
                        with_dev = own_dev and name == stage.tasks[0]
                        key = (name, stage.split, stage.langs, stage_cfg.max_train_samples,
                               stage_cfg.max_eval_samples, with_dev, json.dumps(stage.shots, sort_keys=True))
                        if with_dev:
                            check_own_dev(task_cfg, name, method, world)
                        if key not in loaded:
                            loaded[key] = (load_shot_data(stage_cfg, stage, data, world, method) if stage.shots else
                                           load_stage_data(stage_cfg, name, stage.split, stage.langs, world,
                                                           with_dev=with_dev))
                        stage_data[name] = loaded[key]
            for seed in cfg.seeds:
                name = f"{task}-{method}-seed{seed}"
                stored = StoredRun.at(store, name, task_cfg, task_plan, method, seed, model_path, world)
                # a notebook beside this one may be training the same run (the main process holds the lock for all)
                with run_lock(stored.train_dir) if main else contextlib.nullcontext(), \
                        tracking(cfg.report_to, run_dir / "tensorboard", name):
                    processes.wait_for_everyone()
                    finished = is_finished(stored, task_plan)
                    trained = (not finished and task_plan.handler.fine_tuned and stored.keep_model
                               and stored.has_trained_model())
                    label = f"{stored.train_dir.name}/{stored.eval_dir.name}"
                    (hits if finished else misses).append(label)
                    if trained:
                        trained_hits.append(label)
                    prefixes = warmup_prefixes(store, task_plan, method, seed, model_path, world, cfg.methods)
                    shared_stages = stage_prefixes(store, task_plan, method, seed, model_path, world)
                    if main:
                        fresh = not (finished or trained)
                        warmup = max((p.step for p in prefixes if p.exists()), default=0) if fresh else 0
                        ready = max((p.stages for p in shared_stages if p.exists()), default=0) if fresh else 0
                        progress.run_started(task, method, seed, finished, trained, warmup,
                                             stages=['+'.join(s.tasks) for s in task_plan.stages[:ready]])
                    run_records = fine_tune_and_evaluate(task_plan, data, stage_data, method, seed, model_path,
                                                         tokenizer, stored, world, prefixes, shared_stages)
                    processes.wait_for_everyone()  # the main process has written the run
                    if not main:
                        continue
                    progress.run_finished(task, method, seed, run_records, finished)
                    records += run_records
                    record = trained_record(stored.train_dir) or {}
                    if not (finished or trained) and record.get("warmup_from_step", 0):
                        warmup_hits.append({"run": label, "steps": record["warmup_from_step"]})
                    if not (finished or trained) and record.get("stages_from_store", 0):
                        stage_hits.append({"run": label, "stages": record["stages_from_store"]})
                if cfg.export_predictions:
                    copy_predictions(stored.eval_dir, run_dir / "predictions" / method / f"seed{seed}")
                if task_cfg.save_model and saved_model_dir(stored.train_dir).is_dir():
                    shutil.rmtree(run_dir / "models" / name, ignore_errors=True)
                    shutil.copytree(saved_model_dir(stored.train_dir), run_dir / "models" / name,
                                    copy_function=_link_or_copy)
    if not main:
        return None
    # hits: read back whole; trained_hits: of the misses, those that reused a kept model and only evaluated;
    # warmup_hits: of the misses, those trained from a shared warm-up, and its steps; stage_hits: of the misses,
    # those whose leading stages were read from the store, and how many
    atomic_write_json(run_dir / "store.json", {"store": str(store), "hits": hits, "misses": misses,
                                               "trained_hits": trained_hits, "warmup_hits": warmup_hits,
                                               "stage_hits": stage_hits})
    return pd.DataFrame(records)[COLUMNS]
