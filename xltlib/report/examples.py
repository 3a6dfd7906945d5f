"""Real examples for a reader, as small tables: what a task's rows look like, what a perturbation does to one.

Everything here only reads rows a notebook has already loaded (`xltlib.run.experiment.load_task_data` in the
notebook; this layer may not import `xltlib.run`) and returns a pandas DataFrame to display. Nothing here trains,
scores or writes, and every random draw comes from its own seeded `random.Random`, so showing an example never
changes a result.
"""
from __future__ import annotations

import functools
import random

import pandas as pd

from ..methods.substitution import RS_DA_OPTIONS, RandomSubstitution, Substitutions
from ..robustness.attacks import SYNONYM_OPTIONS, WordSubstitutionAttack
from ..tasks.catalogue import TASKS
from ..tasks.handlers import TaskData, handler_for
from ..tasks.spec import TaskSpec

# The task types `task_type_rows` can show a row of.
SHOWN_TYPES = ("pair_classification", "tagging", "span_qa", "multiple_choice", "sentence_retrieval",
               "dense_retrieval")


def label_name(spec: TaskSpec, label) -> str:
    """A class label as the task names it (`entailment`), or as given when the task has no names for it."""
    if isinstance(label, int) and 0 <= label < len(spec.labels):
        return spec.labels[label]
    return str(label)


def _text(value) -> str:
    """A text field as one string: a list of words (tagging) joined by spaces, of texts (choices) by ` | `."""
    if isinstance(value, str):
        return value
    items = [str(v) for v in value]
    return (" | " if any(len(v.split()) > 1 for v in items) else " ").join(items)


# -- notebook 01: one test pair in every language -------------------------------------------------------


def pair_across_languages(tests: dict[str, list[dict]], spec: TaskSpec, index: int = 0, langs=None) -> pd.DataFrame:
    """Row `index` of each language's test set, one row per language: the pair's text fields (premise and
    hypothesis) and its label. The embedded world's test sets (as XNLI's and PAWS-X's) are parallel, so this is
    one item in every language."""
    langs = [lang for lang in (langs or tests) if lang in tests and len(tests[lang]) > index]
    rows = []
    for lang in langs:
        row = tests[lang][index]
        rows.append({"lang": lang, **{name: _text(row[name]) for name in spec.text_fields},
                     "label": label_name(spec, row.get(spec.label_field))})
    return pd.DataFrame(rows, columns=["lang", *spec.text_fields, "label"]).set_index("lang")


# -- notebook 02: what RS-DA and the synonym attack do to an example -------------------------------------


def substitution_example(example: dict, spec: TaskSpec, synonyms: dict[str, list[str]], seed: int = 0,
                         rs_da_options: dict | None = None, attacks: dict | None = None) -> pd.DataFrame:
    """One example (a training row) beside one RS-DA copy of it, drawn as training draws them (each word a
    uniform pick from itself and its synonyms in `synonyms`, with a `random.Random(seed)` of its own), and, when
    the run's `attacks` include `synonym`, the words of each text field the greedy synonym attack may substitute,
    with their synonyms (it changes at most `max_words` of them, chosen by the model's loss). Of the options only
    `case` (RS-DA's and the attack's) and the attack's `max_words` are read. One row per text field."""
    handler = handler_for(spec)
    fields = tuple(handler.text_fields(spec))
    rs_da_case = (rs_da_options or {}).get("case", RS_DA_OPTIONS["case"])
    task_substitute = functools.partial(handler.substitute, spec) if handler.substitute is not None else None
    copy = RandomSubstitution(Substitutions(synonyms, rs_da_case), fields, task_substitute=task_substitute).substitute(
        example, random.Random(seed))
    rows = [{"field": name, "original": _text(example[name]), f"RS-DA copy (seed {seed})": _text(copy[name])}
            for name in fields]
    if "synonym" in (attacks or {}):
        options = {**SYNONYM_OPTIONS, **(attacks["synonym"] or {})}
        # The attack's own candidate list; it is defined on text fields that are strings (pair and choice tasks).
        strings = tuple(name for name in fields if isinstance(example[name], str))
        attack = WordSubstitutionAttack("synonym", Substitutions(synonyms, options["case"]), strings,
                                        max_words=options["max_words"], max_candidates=options["max_candidates"])
        swaps: dict[tuple[str, int], list[str]] = {}
        for candidate in attack.candidates(example):
            swaps.setdefault((candidate.field, candidate.position), []).append(candidate.token)
        column = f"synonym attack may substitute (at most {options['max_words']} per example)"
        for row, name in zip(rows, fields):
            words = _text(example[name]).split()
            found = [f"{words[position]} -> {' / '.join(tokens)}" for (field, position), tokens in swaps.items()
                     if field == name]
            row[column] = "; ".join(found) or ("nothing" if name in strings else "n/a")
    return pd.DataFrame(rows).set_index("field")


# -- notebook 03: one row of each task type ---------------------------------------------------------------


def one_task_per_type(tasks) -> list[str]:
    """The first task of each type `task_type_rows` shows, in the order of `tasks`."""
    chosen: dict[str, str] = {}
    for task in tasks:
        kind = TASKS[task].type
        if kind in SHOWN_TYPES:
            chosen.setdefault(kind, task)
    return list(chosen.values())


def _row_of(data: TaskData, lang: str | None, need=None) -> tuple[str, dict] | None:
    """(language, the first test row of `lang`, else of the first test language, for which `need(row)`)."""
    order = ([lang] if lang in data.tests else []) + [code for code in data.tests if code != lang]
    for code in order:
        for row in data.tests[code]:
            if need is None or need(row):
                return code, row
    return None


def _candidate_text(row: dict, data: TaskData, candidate_id: str) -> str:
    texts = dict(zip(row.get("candidate_ids") or (), row.get("candidates") or ()))
    return texts.get(candidate_id) or data.extra.get("candidates", {}).get(candidate_id, candidate_id)


def describe_row(data: TaskData, lang: str | None = "en") -> dict | None:
    """One test row of a task, compactly: {task, type, lang, input (what the model reads), gold (what it must
    output)}; in `lang` if the task is tested there, else in its first test language. None for a type not in
    `SHOWN_TYPES` or a task with no test rows."""
    spec = data.spec
    need = (lambda row: row.get("target_sentence")) if spec.type == "sentence_retrieval" else None
    found = _row_of(data, lang, need)
    if found is None or spec.type not in SHOWN_TYPES:
        return None
    code, row = found
    if spec.type == "pair_classification":
        text = " | ".join(f"{name}: {_text(row[name])}" for name in spec.text_fields)
        gold = label_name(spec, row[spec.label_field])
    elif spec.type == "tagging":
        text = " ".join(row["tokens"])
        gold = " ".join(f"{word}/{label_name(spec, tag)}" for word, tag in zip(row["tokens"], row["tags"]))
    elif spec.type == "span_qa":
        text = f"question: {row['question']} | context: {row['context']}"
        gold = " / ".join(dict.fromkeys(row["answers"]["text"]))
    elif spec.type == "multiple_choice":
        kind = f" (the {row['question']}?)" if row.get("question") else ""
        text = f"premise: {row['premise']}{kind} | " + " | ".join(
            f"{label_name(spec, k)}: {choice}" for k, choice in enumerate(row["choices"]))
        gold = f"{label_name(spec, row['label'])}: {row['choices'][row['label']]}"
    elif spec.type == "sentence_retrieval":
        text = f"{code}: {row['source_sentence']}"
        gold = f"{spec.src_lang}: {row['target_sentence']} (its translation, among every {spec.src_lang} sentence)"
    else:  # dense_retrieval
        text = f"query: {row['query']}"
        gold = " / ".join(_candidate_text(row, data, r) for r in row["relevant"]) + " (ranked among every candidate)"
    return {"task": spec.name, "type": spec.type, "lang": code, "input": text, "gold": gold}


def task_type_rows(data_by_task: dict[str, TaskData], lang: str | None = "en") -> pd.DataFrame:
    """One test row per task given (`one_task_per_type` picks one task of each type), one table row each."""
    rows = [row for data in data_by_task.values() if (row := describe_row(data, lang)) is not None]
    return pd.DataFrame(rows, columns=["task", "type", "lang", "input", "gold"]).set_index("task")
