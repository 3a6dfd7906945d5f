"""The task registry: one entry per task, with its real sources, schema, metric and languages.

A spec says how to load the task (Hugging Face hub ids and configs, or local files in the same schema),
which head it needs (by task type, shared across languages so zero-shot evaluation reuses the head trained
on English by construction), its metric, its source (training) task, its English dev set and its evaluation
languages. The embedded world serves every task in the same schema under the same name.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .registry import Registry


class TaskType(str, Enum):
    PAIR_CLASSIFICATION = "pair_classification"
    TAGGING = "tagging"
    SPAN_QA = "span_qa"
    MULTIPLE_CHOICE = "multiple_choice"
    RETRIEVAL = "retrieval"


class TaskGroup(str, Enum):
    """XTREME's task groups; the XTREME-R score is the mean over groups."""

    CLASSIFICATION = "classification"
    STRUCTURED_PREDICTION = "structured_prediction"
    QA = "qa"
    RETRIEVAL = "retrieval"


@dataclass(frozen=True)
class HubSplit:
    """Where one split lives on the hub; `config` may contain `{lang}`."""

    path: str
    config: str
    split: str

    def config_for(self, lang: str) -> str:
        return self.config.format(lang=lang)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    type: TaskType
    group: TaskGroup
    metric: str
    langs: tuple[str, ...]  # real evaluation languages, English included (XTREME averages over all)
    train: HubSplit  # the source task, in English
    dev: HubSplit  # English dev: the only split used for model selection (zero-shot protocol)
    test: HubSplit
    text_fields: tuple[str, ...] = ()
    label_field: str = "label"
    labels: tuple[str, ...] = ()
    submission_name: str = ""  # folder name in the XTREME submission layout
    src_lang: str = "en"
    intermediate: HubSplit | None = None  # an English task trained on before `train` (STILTs), if any
    # Retrieval only: fine-tune a dual encoder on `train` (XTREME-R's LAReQA and Mewsli-X) rather than rank with
    # the pretrained encoder's embeddings (Tatoeba, BUCC).
    dual_encoder: bool = False

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def fine_tuned(self) -> bool:
        """Trained on `train` (selected on English dev) before its tests are scored."""
        return self.type is not TaskType.RETRIEVAL or self.dual_encoder

    @property
    def is_pair(self) -> bool:
        return self.type is TaskType.PAIR_CLASSIFICATION


TASKS: Registry[TaskSpec] = Registry("task")

XNLI_LANGS = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGS = ("de", "en", "es", "fr", "ja", "ko", "zh")

TASKS.register("xnli", TaskSpec(
    name="xnli",
    type=TaskType.PAIR_CLASSIFICATION,
    group=TaskGroup.CLASSIFICATION,
    metric="accuracy",
    langs=XNLI_LANGS,
    # XNLI's English training set is MultiNLI's; XTREME trains on it and selects on XNLI's English dev.
    train=HubSplit("facebook/xnli", "en", "train"),
    dev=HubSplit("facebook/xnli", "en", "validation"),
    test=HubSplit("facebook/xnli", "{lang}", "test"),
    text_fields=("premise", "hypothesis"),
    labels=("entailment", "neutral", "contradiction"),
    submission_name="xnli",
))

TASKS.register("pawsx", TaskSpec(
    name="pawsx",
    type=TaskType.PAIR_CLASSIFICATION,
    group=TaskGroup.CLASSIFICATION,
    metric="accuracy",
    langs=PAWSX_LANGS,
    train=HubSplit("google-research-datasets/paws-x", "en", "train"),
    dev=HubSplit("google-research-datasets/paws-x", "en", "validation"),
    test=HubSplit("google-research-datasets/paws-x", "{lang}", "test"),
    text_fields=("sentence1", "sentence2"),
    labels=("0", "1"),  # the hub's ClassLabel names: 1 = paraphrase
    submission_name="pawsx",
))

from . import tasks_xtreme  # noqa: E402,F401
