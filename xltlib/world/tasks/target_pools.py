"""Target-language files for the world's target tasks: validation in every language for the XNLI-, PAWS-X-, UD-POS-,
PAN-X-, XQuAD- and XCOPA-like tasks (few-shot stages draw their shots there by default: Lauscher et al. 2020; Zhao et
al. 2021), and train too for XNLI- and PAWS-X-like (translate-train, or shots drawn from train). Each is the English
split's items (the same draws) rendered in the language, as XNLI's and PAWS-X's target-language dev sets translate
the English ones; an item whose rendering repeats a test row in any language is left out in every language, so the
pools stay parallel and never hold an evaluation row. The English files themselves are written where they always
were (`build.write_task_files`, `xtreme.write_xtreme_task_files`) and are not rewritten here.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from ..grammar import LADDER_BY_CODE, FrameSampler, build_semantics, render, translation_table
from .pairs import PAIR_DESIGNS
from .qa import question_table
from .xtreme import task_rows

PAIR_POOL_TASKS = ("xnli", "pawsx")
XTREME_POOL_TASKS = ("udpos", "panx", "xquad", "xcopa")
POOL_TASKS = PAIR_POOL_TASKS + XTREME_POOL_TASKS
# Splits written per language: XNLI- and PAWS-X-like get train (translate-train) and validation (few-shot pools);
# the XTREME-like tasks validation only, which is where shots are drawn from by default, to keep the build short.
POOL_SPLITS = {"xnli": ("train", "validation"), "pawsx": ("train", "validation"), "udpos": ("validation",),
               "panx": ("validation",), "xquad": ("validation",), "xcopa": ("validation",)}
_NOT_TEXT = {"id", "idx", "label", "pos_tags", "ner_tags", "answers"}  # what a row's text is told apart by


def pool_files(task: str, directory: Path, langs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """`{split: {lang: path}}` of the target-language pools (English not among them: its files are the task's)."""
    root = Path(directory) / "tasks" / task
    return {split: {code: str(root / f"{split}-{code}.jsonl") for code in langs if code != "en"}
            for split in POOL_SPLITS[task]}


def _pair_rows(task: str, split: str, preset, sampler, tables, langs) -> dict[str, list[dict]]:
    """The rows `build.write_task_files` draws for `task`'s `split` (same seed string, same draws), in `langs`."""
    make_pair = PAIR_DESIGNS[preset.pair_design][task]
    n = {"train": preset.n_train, "validation": preset.n_dev, "test": preset.n_test}[split]
    rng = random.Random(f"{task}|{split}|{preset.seed}")
    pairs = [make_pair(rng, sampler) for _ in range(n)]
    out = {}
    for code in langs:
        lang, table = LADDER_BY_CODE[code], tables[code]
        out[code] = [{"premise": render(a, lang, table), "hypothesis": render(b, lang, table), "label": label}
                     if task == "xnli" else
                     {"id": i, "sentence1": render(a, lang, table), "sentence2": render(b, lang, table), "label": label}
                     for i, (a, b, label) in enumerate(pairs)]
    return out


def text_key(row: dict) -> str:
    return json.dumps({k: v for k, v in row.items() if k not in _NOT_TEXT}, sort_keys=True, ensure_ascii=False)


def write_target_pools(preset, directory: Path) -> None:
    sampler = FrameSampler(build_semantics(preset.seed))
    tables = {c: translation_table(LADDER_BY_CODE[c], preset.seed) for c in preset.langs}
    questions = {c: question_table(LADDER_BY_CODE[c], preset.seed) for c in preset.langs}
    langs = tuple(c for c in preset.langs if c != "en")

    def rows_of(task, split):
        if task in PAIR_POOL_TASKS:
            return _pair_rows(task, split, preset, sampler, tables, langs)
        return task_rows(task, split, preset, sampler, tables, questions, langs)

    for task in POOL_TASKS:
        tests = {code: {text_key(r) for r in rows} for code, rows in rows_of(task, "test").items()}
        for split, paths in pool_files(task, directory, preset.langs).items():
            rows = rows_of(task, split)
            repeats = {i for code in langs for i, r in enumerate(rows[code]) if text_key(r) in tests[code]}
            for code, path in paths.items():
                kept = [r for i, r in enumerate(rows[code]) if i not in repeats]
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept),
                                      encoding="utf-8")


def missing_target_pools(directory: Path, listed: dict) -> str | None:
    """What a cached world built before the target-language pools lacks, or None."""
    return None if any(name.startswith("tasks/xnli/validation-") and not name.endswith("-en.jsonl")
                       for name in listed) else "tasks/xnli has no target-language pools (built before they were added)"
