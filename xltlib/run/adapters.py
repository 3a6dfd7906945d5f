"""Parameter-efficient methods in a run: a method's model modifier (`xltlib.methods.adapters`) applied to the
loaded model, re-applied to a kept model before its weights load back, and the evaluation run language group by
language group (MAD-X swaps the language adapter per test language). Language adapters are trained here with MLM,
through the one training loop, on a language's text (the embedded world's pretraining corpus, or a plain-text file
per language: `madx`'s `lang_corpus`), once per (model, language, settings, text), and kept in the run store as
`lang-adapter-<lang>-<key>/` (the adapter alone, safetensors + config, and `train.json`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Callable

from ..core.atomic import atomic_write_json
from ..core.config import TrainArgs
from ..core.errors import ConfigError, DataError
from ..methods.adapters import (LANGUAGE_ADAPTER_OPTIONS, ModifierContext, add_adapter, language_adapter_config,
                                save_adapter, train_only)
from ..methods.adapters.modifiers import adapter_names
from ..methods.schedules import ADAPTER_OPTION
from ..tasks.models import InitFrom, load_model
from .loop import process_state, train
from .stages import start_model
from .store import run_lock

LANGUAGE_ADAPTER_VERSION = 1
HOW_TO_TRAIN = ("train it first: embedded world, xltlib.app.language_adapters.train_language_adapters(cfg, world, "
                "run_dir) (its pretraining corpus); real path, name a plain-text file for it in "
                "method_options: {madx: {lang_corpus: {<lang>: path/to/text.txt}}}")


def corpus_id(lang: str, options: dict, world) -> dict | None:
    """What identifies a language's training text: its `lang_corpus` file (path, size, modification time), the
    embedded world's corpus, or None when there is none."""
    path = options["lang_corpus"].get(lang)
    if path is not None:
        if not Path(path).is_file():
            raise DataError(f"method_options.madx.lang_corpus[{lang!r}]: no such file {path}")
        stat = Path(path).stat()
        return {"file": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if world is not None and lang in world.langs:
        return {"world": world.directory.name}
    return None


def language_adapter_dir(store: Path, model_path: str, lang: str, options: dict, corpus: dict) -> Path:
    blob = {"version": LANGUAGE_ADAPTER_VERSION, "model": model_path, "lang": lang, "corpus": corpus,
            "settings": {k: options[k] for k in LANGUAGE_ADAPTER_OPTIONS}}
    key = hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:10]
    return Path(store) / f"lang-adapter-{lang}-{key}"


def read_texts(path: str | Path) -> list[str]:
    """A plain-text file's non-empty lines (a sentence or a paragraph each, as Wikipedia dumps are split)."""
    texts = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise DataError(f"language corpus {path}: no text (expected one sentence or paragraph a line)")
    return texts


def train_language_adapter(directory: Path, model_path: str, tokenizer, texts: list[str], options: dict) -> Path:
    """An MLM-trained language adapter (MAD-X: the encoder and its MLM head frozen, the adapter and its invertible
    embedding adapter trained) in `directory`, unless one is there already."""
    import torch
    from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling

    with run_lock(directory):
        if (directory / "train.json").is_file():
            return directory
        torch.manual_seed(options["lang_seed"])
        model = AutoModelForMaskedLM.from_pretrained(model_path)
        add_adapter(model, "lang", language_adapter_config(options), seed=options["lang_seed"])
        train_only(model, adapter_names(model, "lang"))
        masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")

        def collate(rows):
            enc = tokenizer([r["text"] for r in rows], padding="longest", truncation=True,
                            max_length=options["lang_max_length"], return_tensors="pt")
            enc["input_ids"], enc["labels"] = masker.torch_mask_tokens(enc["input_ids"])
            return dict(enc)

        args = TrainArgs(learning_rate=options["lang_learning_rate"], warmup_ratio=0.06, weight_decay=0.0,
                         per_device_train_batch_size=options["lang_batch_size"], save_steps=10**9)
        result = train(model, [{"text": t} for t in texts], collate, args, seed=options["lang_seed"],
                       max_steps=options["lang_steps"], desc=f"language adapter {directory.name}")
        save_adapter(model, "lang", directory / "adapter")
        atomic_write_json(directory / "train.json", {"global_step": result.global_step, "history": result.history,
                                                     "texts": len(texts)})
    return directory


def language_adapter_lookup(store: Path, model_path: str, tokenizer, options: dict, world) -> Callable[[str], Path]:
    """lang -> the folder of its language adapter: from the store, trained now from its `lang_corpus` file if it
    has one and none is stored, else an error naming the language and how to train it."""
    def lookup(lang: str) -> Path:
        corpus = corpus_id(lang, options, world)
        directory = language_adapter_dir(store, model_path, lang, options, corpus) if corpus else None
        if directory is not None and (directory / "train.json").is_file():
            return directory / "adapter"
        if corpus and "file" in corpus:
            if process_state().num_processes > 1:  # only the main process may train it, and the loop syncs all
                raise ConfigError(f"method 'madx': the language adapter for {lang!r} is not trained yet; train it "
                                  "in one process first (xltlib.app.language_adapters.train_language_adapters), "
                                  "then start the run on several")
            return train_language_adapter(directory, model_path, tokenizer, read_texts(corpus["file"]),
                                          options) / "adapter"
        where = f" in the run store {store}" if corpus else ""
        raise ConfigError(f"method 'madx': no language adapter for evaluation language {lang!r}{where} "
                          f"(these settings, this model); {HOW_TO_TRAIN.replace('<lang>', lang)}")
    return lookup


def train_language_adapters(store: Path, model_path: str, tokenizer, options: dict, texts_by_lang: dict,
                            world=None) -> dict[str, Path]:
    """Language adapters for every language of `texts_by_lang` ({lang: [text]}), trained where the store has
    none; {lang: its adapter folder}."""
    out = {}
    for lang, texts in texts_by_lang.items():
        corpus = corpus_id(lang, options, world)
        if corpus is None:
            raise ConfigError(f"language {lang!r}: its text is neither the world's corpus nor a lang_corpus file")
        directory = language_adapter_dir(store, model_path, lang, options, corpus)
        out[lang] = train_language_adapter(directory, model_path, tokenizer, texts, options) / "adapter"
    return out


def modifier_context(task_plan, method: str, data, seed: int, store: Path, model_path: str, tokenizer,
                     world) -> ModifierContext:
    cfg, stages = task_plan.cfg, task_plan.stages
    return ModifierContext(
        seed=seed, src_lang=data.spec.src_lang, eval_langs=tuple(data.tests),
        language_adapter=language_adapter_lookup(store, model_path, tokenizer, task_plan.method_options[method],
                                                 world),
        mixes_languages=cfg.generalized and "sentence_pairs" in task_plan.handler.supports,
        stages=len(stages), multi_task=any(stage.multi_task for stage in stages))


def stacks(options: dict) -> bool:
    """Whether a modified schedule stacks a new adapter at each stage entered with a fresh head."""
    return options.get(ADAPTER_OPTION) == "stack"


def stage_entry(method_spec, options: dict, context: ModifierContext, inputs) -> Callable:
    """(stage, index, previous model) -> the model a later stage of a modified method trains
    (`xltlib.run.stages.StageInputs.enter_stage`): a stage entered with a fresh head gets the pretrained encoder
    under the modifier, the previous stage's adapter continued or a new one stacked over it (`intermediate_adapter`,
    `ModelModifier.enter_stage`); a stage that starts from the previous whole model (a few-shot stage) keeps it as
    it is; one that starts from the pretrained encoder gets the modifier afresh."""
    def enter(stage, index: int, previous):
        if stage.init is not InitFrom.PREVIOUS_ENCODER:
            model = start_model(stage, index, previous, inputs)
            return model if stage.init is InitFrom.PREVIOUS else method_spec.modifier.apply(model, options, context)
        fresh = load_model(inputs.model_path, inputs.spec_of(stage.tasks[0]), InitFrom.PRETRAINED_ENCODER, inputs.seed,
                           inputs.pooling)
        return method_spec.modifier.enter_stage(previous, fresh, options, context, stack=stacks(options))
    return enter


def restore(method_spec, model, options: dict, context: ModifierContext, model_dir: Path, stages=()):
    """A kept model of a modified method: the modifier re-applied to the loaded model (whose adapter weights
    from_pretrained could not place), with the task adapters its `stages` stacked, then every saved weight loaded
    back."""
    from safetensors.torch import load_file

    if stacks(options):
        stacked = sum(stage.init is InitFrom.PREVIOUS_ENCODER for stage in stages)
        context = dataclasses.replace(context, stacked=stacked)
    model = method_spec.modifier.apply(model, options, context)
    model.load_state_dict(load_file(str(Path(model_dir) / "model.safetensors")), strict=True)
    return model


def evaluate_by_group(method_spec, model, options: dict, context: ModifierContext | None, data, evaluate):
    """`evaluate(data)` -> (records, predictions), once, or once per group of test languages with what the
    modifier switches for that group (a language adapter) in place; records and predictions joined."""
    if method_spec.modifier is None:
        return evaluate(data)
    records, predictions = [], {}
    for langs, switched in method_spec.modifier.evaluation_groups(model, tuple(data.tests), options, context):
        with switched:
            part_records, part_predictions = evaluate(dataclasses.replace(
                data, tests={lang: data.tests[lang] for lang in langs}))
        records += part_records
        predictions.update(part_predictions)
    return records, predictions
