"""What a task is, as data: its type (the handler that runs it), group, metric, languages, hub splits, fields,
labels and submission layout. No behaviour lives here; `xltlib.tasks.handlers` owns it by type.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


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
    """One task: data. Its `type` names the handler (`xltlib.tasks.handlers`) that validates its rows, builds its
    batches and head, predicts, scores and writes its submission files; `submission_format` names the file
    layout (`xltlib.tasks.submission`); `group` is its XTREME task group (None: not a benchmark task, e.g. an
    intermediate task)."""

    name: str
    type: str
    group: TaskGroup | None
    metric: str
    langs: tuple[str, ...]  # real evaluation languages, English included (XTREME averages over all)
    train: "HubSplit | HubUnion"  # the source task, in English
    dev: "HubSplit | HubUnion"  # English dev: the only split used for model selection (zero-shot protocol)
    test: HubSplit
    text_fields: tuple[str, ...] = ()
    label_field: str = "label"
    labels: tuple[str, ...] = ()
    submission_name: str = ""  # folder name in the XTREME submission layout
    submission_format: str = ""  # file layout of its predictions (xltlib.tasks.submission.FORMATS)
    src_lang: str = "en"
    description: str = ""
    # A tag outside `labels` becomes this label instead of an error (CCGbank's rare supertags, when the inventory is
    # built from the training files: `xltlib.tasks.ccgbank`); empty: refused by name.
    unknown_label: str = ""
    # Catalogue tasks whose training data this task's holds (ANLI+ holds MNLI's): `multi:all` leaves this one out
    # rather than train that data twice (`xltlib.methods.schedules.intermediate_tasks`).
    includes: tuple[str, ...] = ()

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def folder(self) -> str:
        return self.submission_name or self.name


@dataclass(frozen=True)
class XtremeHubSplit(HubSplit):
    """A hub split whose config (or row filter) names a language otherwise than by its code.

    `config` and `id_prefix` may contain `{lang}` (the code) and `{name}` (from `names`, else the code):
    udpos configs use English language names (`udpos.German`), Tatoeba ISO 639-3 codes (`tatoeba.deu`), and
    TyDiQA-GoldP keeps every language in one config whose ids start with the language's name."""

    names: tuple[tuple[str, str], ...] = ()
    id_prefix: str = ""  # keep only rows whose `id` starts with this

    def name_for(self, lang: str) -> str:
        return dict(self.names).get(lang, lang)

    def config_for(self, lang: str) -> str:
        return self.config.format(lang=lang, name=self.name_for(lang))

    def id_prefix_for(self, lang: str) -> str:
        return self.id_prefix.format(lang=lang, name=self.name_for(lang))


@dataclass(frozen=True)
class HubSource:
    """One hub split that is a part of a task's split, with the names of its label ids in order (from its data set
    card), so that its ids are mapped onto the task's labels by name."""

    path: str
    config: str
    split: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class HubUnion:
    """A split that is several hub splits, concatenated in order (ANLI+: ANLI's three rounds, MNLI, SNLI), each
    source's labels mapped onto the task's by name. Rows whose label is -1 (datasets' "no label", SNLI's pairs
    without a gold label) are dropped; `xltlib.tasks.files` reads it. English only, as every source here is."""

    sources: tuple[HubSource, ...]

    @property
    def path(self) -> str:  # what "has a hub copy" checks read; the sources' ids, each once
        return " + ".join(dict.fromkeys(s.path for s in self.sources))

    @property
    def config(self) -> str:
        return ""

    def config_for(self, lang: str) -> str:
        return ""
