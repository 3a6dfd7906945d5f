"""Shot sets for few-shot target-language stages (Lauscher et al., EMNLP 2020; Zhao et al., ACL 2021): k examples
per class (k examples where a task has no classes) of a target language, drawn from its train or validation pool,
never one of the evaluation rows, or read from Zhao et al.'s published buckets
(`<root>/<task>/<K>-shots/<lang>/<i>-th/sampled.json`, a JSON list of examples in the task's schema).

A drawn shot set is a function of (task, lang, k, shot set) alone, not of the model seed: Zhao et al. show that the
choice of shots moves accuracy by more than 10 points, so the shot set is varied on its own. Within a shot set, a
larger k extends a smaller one (the first k of one seeded order per class), so a curve over k changes one thing.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import datasets

from ..core.errors import DataError
from .handlers import handler_for
from .spec import TaskSpec


def row_key(spec: TaskSpec, row: dict) -> str:
    """What makes two rows the same example: their text fields."""
    return json.dumps([row.get(name) for name in spec.text_fields], sort_keys=True, ensure_ascii=False)


def class_of(spec: TaskSpec, row: dict):
    """The row's class when the task has one label per example (pair classification, multiple choice), else None
    (tags, answer spans: shots are counted in examples)."""
    label = row.get(spec.label_field)
    return label if isinstance(label, int) and not isinstance(label, bool) else None


def class_name(spec: TaskSpec, label) -> str:
    return spec.labels[label] if spec.labels and 0 <= label < len(spec.labels) else str(label)


def draw_shots(spec: TaskSpec, lang: str, pool: list[dict], k: int, shot_set: int, exclude: list[dict] = (),
               where: str = "") -> list[dict]:
    """k rows per class of `pool` (k rows where rows have no class), none of them one of `exclude` (the evaluation
    rows), chosen by a generator seeded with (task, lang, shot set): the same shots every time, other shots for
    another shot set. A class (or a pool) with fewer than k rows left is a DataError naming k, the class and the
    pool's size. Rows come back grouped by class, in the seeded order."""
    held_out = {row_key(spec, row) for row in exclude}
    usable = [row for row in pool if row_key(spec, row) not in held_out]
    removed = len(pool) - len(usable)
    by_class: dict = {}
    for row in usable:
        by_class.setdefault(class_of(spec, row), []).append(row)
    if None in by_class and len(by_class) > 1:
        raise DataError(f"{where}: some rows have a class label and some do not; expected one label per row in "
                        f"{spec.label_field!r} for every row, or for none")
    note = f" (after removing {removed} that are also evaluation rows)" if removed else ""
    if not usable:
        raise DataError(f"{where}: k = {k}, but the {spec.name} {lang} pool has 0 rows{note}")
    if None in by_class:
        classes = [None]
    else:  # every class of the task, so one the pool lacks entirely is named with its 0 rows
        classes = list(range(len(spec.labels))) if spec.labels else sorted(by_class)
    shots = []
    for label in classes:
        rows = by_class.get(label, [])
        if len(rows) < k:
            what = f"class {class_name(spec, label)!r} has" if label is not None else "the pool has"
            per = " per class" if label is not None else ""
            raise DataError(f"{where}: k = {k}{per}, but {what} {len(rows)} rows in the {spec.name} {lang} pool of "
                            f"{len(pool)}{note}; lower k or give a larger pool")
        order = list(range(len(rows)))
        random.Random(f"shots|{spec.name}|{lang}|{shot_set}|{label}").shuffle(order)
        shots += [rows[i] for i in order[:k]]
    return shots


def zhao_path(root: str | Path, task: str, k: int, lang: str, shot_set: int) -> Path:
    """Where Zhao et al.'s layout keeps shot set `shot_set` of k per class for (task, lang)."""
    return Path(root).expanduser() / task / f"{k}-shots" / lang / f"{shot_set}-th" / "sampled.json"


def read_zhao_shots(spec: TaskSpec, root: str | Path, k: int, lang: str, shot_set: int,
                    exclude: list[dict] = ()) -> list[dict]:
    """Shot set `shot_set` of k per class for `spec` in `lang` from a folder in Zhao et al.'s layout, checked by the
    task's handler as any data file is, and refused if a row is one of `exclude` (the evaluation rows)."""
    path = zhao_path(root, spec.name, k, lang, shot_set)
    if not path.is_file():
        sets = sorted(p.name for p in path.parent.parent.glob("*-th")) if path.parent.parent.is_dir() else []
        raise DataError(f"{path}: shot set not found (Zhao et al.'s layout <root>/<task>/<K>-shots/<lang>/<i>-th/"
                        f"sampled.json); {f'this folder has {len(sets)}: ' + ', '.join(sets[:5]) if sets else 'no such folder'}")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not JSON: {e}") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{path}: expected a non-empty JSON list of {spec.name} examples (objects), got "
                        f"{type(rows).__name__}")
    checked = handler_for(spec).validate(spec, datasets.Dataset.from_list(rows), str(path), lang).to_list()
    held_out = {row_key(spec, row) for row in exclude}
    for number, row in enumerate(checked, 1):
        if row_key(spec, row) in held_out:
            raise DataError(f"{path}: row {number} is also an evaluation row of {spec.name} {lang}; shots must be "
                            "disjoint from what they are scored on")
    return checked
