"""Task types as handlers, one module each: pair classification, tagging, span QA, multiple choice, sentence
retrieval (and BUCC's bitext mining), dense retrieval, image-text alignment. Importing this package registers them
in `HANDLERS`; `handler_for(spec)` is the one way to reach a task's behaviour. A new type is one module here plus its test.
May import `xltlib.core` and the modules of `xltlib.tasks` beside it.
"""
from __future__ import annotations

from ..spec import TaskSpec
from . import dense_retrieval, image_text, multiple_choice, pair, retrieval, span_qa, tagging  # noqa: F401  (register)
from .base import HANDLERS, ScoredHandler, TaskData, TaskHandler


def handler_for(spec: TaskSpec) -> TaskHandler:
    return HANDLERS[spec.type]


__all__ = ["HANDLERS", "ScoredHandler", "TaskData", "TaskHandler", "handler_for"]
