"""Task types as handlers, one module each: pair classification, tagging, span QA, multiple choice, sentence
retrieval (and BUCC's bitext mining), dense retrieval, image-text alignment. Importing this package registers them
in `HANDLERS`; `handler_for(spec)` is the one way to reach a task's behaviour. A new type is one module here plus its test.
May import `xltlib.core` and the modules of `xltlib.tasks` beside it.
"""
from __future__ import annotations

from typing import Mapping

from ..catalogue import TASKS
from ..spec import TaskSpec
from . import dense_retrieval, image_text, multiple_choice, pair, retrieval, span_qa, tagging  # noqa: F401  (register)
from .base import HANDLERS, ScoredHandler, TaskData, TaskHandler, changed_options, resolve_task_options


def handler_for(spec: TaskSpec, task_options: Mapping | None = None) -> TaskHandler:
    """`spec`'s handler; given a run's `task_options`, the handler with the task's entry over its type's defaults
    (checked: `resolve_task_options`)."""
    handler = HANDLERS[spec.type]
    requested = (task_options or {}).get(spec.name)
    return handler.with_options(resolve_task_options(handler, spec.name, requested)) if requested else handler


def task_options_key(task_options: Mapping, tasks) -> dict:
    """{task: its options that differ from its type's defaults} for those of `tasks` that `task_options` sets (a
    training key's entry; {} when none is set)."""
    key = {}
    for task in sorted(set(tasks)):
        requested = task_options.get(task)
        if requested:
            handler = HANDLERS[TASKS[task].type]
            changed = changed_options(resolve_task_options(handler, task, requested))
            if changed:
                key[task] = changed
    return key


__all__ = ["HANDLERS", "ScoredHandler", "TaskData", "TaskHandler", "handler_for", "task_options_key"]
