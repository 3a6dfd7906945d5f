"""Zero-shot experiments as code: fine-tune on English, select on English dev, evaluate every language.

`run_experiment` loops over tasks x methods x seeds of a RunConfig. Each fine-tuning run is keyed by
everything that determines its result and cached under `<run dir>/work/<key>/`: a finished run is read
back, a killed one resumes from its last checkpoint, so a notebook can be rerun at no cost.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .attacks import resolve_attacks
from .config import RunConfig, TrainArgs
from .data import load_split, task_langs
from .evaluate import evaluate_task, export_predictions, predict_labels
from .features import make_collate
from .methods import METHODS, MethodContext
from .metrics import METRICS
from .models import load_model, load_tokenizer, resolve_model_path
from .quiet import quiet_libraries
from .robust_eval import evaluate_robustness, resolve_smoothing
from .results import save_finished_run
from .task_types import load_xtreme_data, run_xtreme_task, write_gold
from .tasks import TASKS, TaskSpec
from .train import train


@dataclass
class TaskData:
    spec: TaskSpec
    train: list[dict]
    dev: list[dict]
    tests: dict[str, list[dict]]


def load_world(cfg: RunConfig):
    """The embedded world (built on first use), or None on the real path."""
    if cfg.world != "embedded":
        return None
    from .world.build import get_world

    return get_world(cfg.world_preset)


def task_data_files(cfg: RunConfig, task: str, world) -> dict:
    """The world's files (if any), overridden split by split and language by language by the user's."""
    files = {split: dict(by_lang) for split, by_lang in (world.data_files(task) if world else {}).items()}
    for split, by_lang in cfg.data_files.get(task, {}).items():
        files.setdefault(split, {}).update(by_lang)
    return files


def load_task_data(cfg: RunConfig, task: str, world=None) -> TaskData:
    spec = TASKS[task]
    files = task_data_files(cfg, task, world)
    langs = task_langs(spec, world.langs_for(task) if world else None, cfg.eval_langs)
    if not spec.is_pair:  # the other task types load their own splits (xltlib.task_types)
        return load_xtreme_data(cfg, spec, files, langs)
    return TaskData(
        spec,
        load_split(spec, "train", spec.src_lang, files, cfg.max_train_samples).to_list(),
        load_split(spec, "validation", spec.src_lang, files, cfg.max_eval_samples).to_list(),
        {lang: load_split(spec, "test", lang, files, cfg.max_eval_samples).to_list() for lang in langs},
    )


def method_options(cfg: RunConfig, method: str) -> dict:
    return {**METHODS[method].options, **cfg.method_options.get(method, {})}


def method_context(model, spec: TaskSpec, world) -> MethodContext:
    weights = model.get_input_embeddings().weight.detach()
    return MethodContext(text_fields=spec.text_fields, embedding_norm=float(weights.norm(dim=-1).mean()),
                         world=world, src_lang=spec.src_lang)


def run_key(cfg: RunConfig, task: str, method: str, seed: int, model_path: str, world) -> str:
    """Everything that determines one fine-tuning run's result, hashed."""
    blob = {"train": TrainArgs.to_dict(cfg), "task": task, "method": method, "seed": seed,
            "model": model_path, "world": world.directory.name if world else None,
            "data_files": cfg.data_files.get(task), "eval_langs": cfg.eval_langs,
            "generalized": cfg.generalized, "method_options": method_options(cfg, method)}
    if cfg.generalized and cfg.max_generalized_samples is not None:  # only when set, as below
        blob["max_generalized_samples"] = cfg.max_generalized_samples
    if cfg.retrieval_layer is not None:  # only when set, as below: it decides retrieval scores
        blob["retrieval_layer"] = cfg.retrieval_layer
    if cfg.attacks or cfg.smoothing:  # only when set, so the keys of runs without them stay as they were
        blob["robustness"] = {"attacks": resolve_attacks(cfg.attacks), "smoothing": resolve_smoothing(cfg.smoothing),
                              "max_samples": cfg.max_robustness_samples}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:10]


def fine_tune_and_evaluate(cfg: RunConfig, data: TaskData, method: str, seed: int, model_path: str,
                           tokenizer, work_dir: Path, predictions_dir: Path | None, world=None) -> list[dict]:
    """One run: fine-tune with `method` and `seed`, select on English dev, evaluate all languages."""
    done = work_dir / "records.json"
    if done.is_file():
        return json.loads(done.read_text())
    spec, method_spec = data.spec, METHODS[method]
    model = load_model(model_path, spec, method_spec.init, seed)
    context = method_context(model, spec, world)  # before fine-tuning: the same relative budgets for every method
    perturbation = method_spec.make_perturbation(context, **method_options(cfg, method))
    if not spec.is_pair:  # tagging, span QA, multiple choice, retrieval: xltlib.task_types
        return run_xtreme_task(cfg, data, model, tokenizer, perturbation, method, seed, work_dir,
                               predictions_dir / method / f"seed{seed}" if predictions_dir else None)
    collate = make_collate(tokenizer, spec, cfg)
    metric = METRICS[spec.metric]
    dev_labels = [e["label"] for e in data.dev]

    def dev_score(m) -> float:  # English dev only: the zero-shot protocol
        return metric(predict_labels(m, data.dev, collate, cfg.per_device_eval_batch_size), dev_labels)

    result = train(model, data.train, collate, cfg, seed=seed, perturbation=perturbation, dev_score=dev_score,
                   checkpoint_dir=work_dir / "checkpoint", desc=f"{spec.name} {method} seed {seed}")
    records, predictions = evaluate_task(model, spec, data.tests, collate, cfg.per_device_eval_batch_size,
                                         generalized=cfg.generalized, perturbation=perturbation, seed=seed,
                                         max_generalized=cfg.max_generalized_samples)
    records += evaluate_robustness(model, spec, data.tests, collate, cfg.per_device_eval_batch_size,
                                   attacks=cfg.attacks, smoothing=cfg.smoothing, context=context, seed=seed,
                                   max_samples=cfg.max_robustness_samples)
    records.append({"lang": spec.src_lang, "split": "validation", "metric": spec.metric,
                    "value": result.best_dev_score})
    records = [{"task": spec.name, "method": method, "seed": seed, **r} for r in records]
    if predictions_dir is not None:
        export_predictions(spec, predictions, predictions_dir / method / f"seed{seed}")
    save_finished_run(work_dir, records, result)
    return records


def run_experiment(cfg: RunConfig, run_dir: str | Path) -> pd.DataFrame:
    """Every task x method x seed of `cfg`; long-format records (task, lang, method, seed, split,
    metric, value)."""
    quiet_libraries()
    run_dir = Path(run_dir)
    world = load_world(cfg)
    model_path = resolve_model_path(cfg.model_name_or_path, world)
    tokenizer = load_tokenizer(model_path)
    records = []
    for task in cfg.tasks:
        task_cfg = cfg.for_task(task)  # the run's settings with this task's overrides
        data = load_task_data(task_cfg, task, world)
        if cfg.export_predictions:  # gold in the same layout, so `xlt score` can score the predictions
            write_gold(data.spec, data.tests, run_dir / "labels")
        for method in cfg.methods:
            for seed in cfg.seeds:
                key = run_key(task_cfg, task, method, seed, model_path, world)
                records += fine_tune_and_evaluate(
                    task_cfg, data, method, seed, model_path, tokenizer,
                    run_dir / "work" / f"{task}-{method}-seed{seed}-{key}",
                    run_dir / "predictions" if cfg.export_predictions else None, world)
    columns = ["task", "lang", "method", "seed", "split", "metric", "value"]
    return pd.DataFrame(records)[columns]
