"""The XTREME (Hu et al., ICML 2020) and XTREME-R (Ruder et al., EMNLP 2021) tasks beyond XNLI and PAWS-X,
registered into `xltlib.tasks.TASKS`, and the two benchmarks' task lists, languages and groups, listed once.

Language lists and groups are those of google-research/xtreme's official scorer (`evaluate.py`,
TASK2LANGS / GROUP2TASK for each `--xtreme_version`); hub ids and configs are the `google/xtreme` dataset's
where it has the task. XTREME-R's LAReQA is scored on XQuAD-R's 11 languages (the official scorer lists
none) and sits in the retrieval group, as in the XTREME-R paper.
"""
from __future__ import annotations

from dataclasses import dataclass

from .languages import LANGUAGES
from .tasks import PAWSX_LANGS, TASKS, XNLI_LANGS, HubSplit, TaskGroup, TaskSpec, TaskType

# Importing the metrics registers them, so every metric a task names below is in METRICS.
from . import metrics_xtreme  # noqa: F401,E402  (after .tasks: tasks imports this module at its end)

XTREME_HUB = "google/xtreme"
NO_HUB = HubSplit("", "", "")  # no hub copy (or no such split, e.g. no training): local files only


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


# -- languages (official scorer lists, sorted) -------------------------------------------------------

_PANX_XTREME = ("af", "ar", "bg", "bn", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu",
                "id", "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru", "sw", "ta",
                "te", "th", "tl", "tr", "ur", "vi", "yo", "zh")
_UDPOS_XTREME = ("af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
                 "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo",
                 "zh")
_TATOEBA_XTREME = ("af", "ar", "bg", "bn", "de", "el", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu",
                   "id", "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "nl", "pt", "ru", "sw", "ta", "te",
                   "th", "tl", "tr", "ur", "vi", "zh")
_XQUAD_XTREME = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")

PANX_LANGS = tuple(sorted(_PANX_XTREME + ("az", "gu", "lt", "pa", "pl", "qu", "ro", "uk")))
UDPOS_LANGS = tuple(sorted(_UDPOS_XTREME + ("lt", "pl", "ro", "uk", "wo")))
TATOEBA_LANGS = tuple(sorted(_TATOEBA_XTREME + ("az", "lt", "pl", "ro", "uk")))
XQUAD_LANGS = tuple(sorted(_XQUAD_XTREME + ("ro",)))
MLQA_LANGS = ("ar", "de", "en", "es", "hi", "vi", "zh")
TYDIQA_LANGS = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")
BUCC_LANGS = ("de", "fr", "ru", "zh")  # each paired with English
XCOPA_LANGS = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")  # English COPA is training data
MEWSLIX_LANGS = ("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")
LAREQA_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")

# Tatoeba's hub configs use the ISO 639-3 codes of the LASER test sets.
TATOEBA_CODES = {
    "af": "afr", "ar": "ara", "az": "aze", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa",
    "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun",
    "id": "ind", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "lt": "lit",
    "ml": "mal", "mr": "mar", "nl": "nld", "pl": "pol", "pt": "por", "ro": "ron", "ru": "rus", "sw": "swh",
    "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl", "tr": "tur", "uk": "ukr", "ur": "urd", "vi": "vie",
    "zh": "cmn",
}
TYDIQA_NAMES = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
                "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}

UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
             "PUNCT", "SCONJ", "SYM", "VERB", "X")  # the hub's ClassLabel order
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # the hub's ClassLabel order

# -- the benchmarks: task -> languages, group -> tasks ------------------------------------------------

BENCHMARKS = {
    "xtreme": {
        "tasks": {
            "xnli": XNLI_LANGS, "pawsx": PAWSX_LANGS, "udpos": _UDPOS_XTREME, "panx": _PANX_XTREME,
            "xquad": _XQUAD_XTREME, "mlqa": MLQA_LANGS, "tydiqa": TYDIQA_LANGS, "bucc2018": BUCC_LANGS,
            "tatoeba": _TATOEBA_XTREME,
        },
        "groups": {
            TaskGroup.CLASSIFICATION: ("pawsx", "xnli"),
            TaskGroup.STRUCTURED_PREDICTION: ("udpos", "panx"),
            TaskGroup.QA: ("xquad", "mlqa", "tydiqa"),
            TaskGroup.RETRIEVAL: ("bucc2018", "tatoeba"),
        },
    },
    "xtreme-r": {
        "tasks": {
            "xnli": XNLI_LANGS, "xcopa": XCOPA_LANGS, "udpos": UDPOS_LANGS, "panx": PANX_LANGS,
            "xquad": XQUAD_LANGS, "mlqa": MLQA_LANGS, "tydiqa": TYDIQA_LANGS, "tatoeba": TATOEBA_LANGS,
            "mewslix": MEWSLIX_LANGS, "lareqa": LAREQA_LANGS,
        },
        "groups": {
            TaskGroup.CLASSIFICATION: ("xnli", "xcopa"),
            TaskGroup.STRUCTURED_PREDICTION: ("udpos", "panx"),
            TaskGroup.QA: ("xquad", "mlqa", "tydiqa"),
            TaskGroup.RETRIEVAL: ("tatoeba", "mewslix", "lareqa"),
        },
    },
}


def benchmark_langs(task: str) -> tuple[str, ...]:
    """Every language `task` is scored on in either benchmark (XTREME-R's list extends XTREME's)."""
    langs = [code for bench in BENCHMARKS.values() for code in bench["tasks"].get(task, ())]
    return tuple(sorted(set(langs)))


# -- the registry entries ----------------------------------------------------------------------------

_SQUAD_TRAIN = HubSplit(XTREME_HUB, "SQuAD", "train")
_SQUAD_DEV = HubSplit(XTREME_HUB, "SQuAD", "validation")
_QA_FIELDS = dict(text_fields=("question", "context"), label_field="answers")

TASKS.register("udpos", TaskSpec(
    name="udpos",
    type=TaskType.TAGGING,
    group=TaskGroup.STRUCTURED_PREDICTION,
    metric="seqeval",  # XTREME scores POS with seqeval's chunk F1 over the tags, as it does NER
    langs=UDPOS_LANGS,
    train=HubSplit(XTREME_HUB, "udpos.English", "train"),
    dev=HubSplit(XTREME_HUB, "udpos.English", "validation"),
    test=XtremeHubSplit(XTREME_HUB, "udpos.{name}", "test",
                        names=tuple((code, LANGUAGES[code].name) for code in UDPOS_LANGS)),
    text_fields=("tokens",),
    label_field="pos_tags",
    labels=UPOS_TAGS,
    submission_name="udpos",
))

TASKS.register("panx", TaskSpec(
    name="panx",
    type=TaskType.TAGGING,
    group=TaskGroup.STRUCTURED_PREDICTION,
    metric="seqeval",
    langs=PANX_LANGS,
    train=HubSplit(XTREME_HUB, "PAN-X.en", "train"),
    dev=HubSplit(XTREME_HUB, "PAN-X.en", "validation"),
    test=HubSplit(XTREME_HUB, "PAN-X.{lang}", "test"),
    text_fields=("tokens",),
    label_field="ner_tags",
    labels=PANX_TAGS,
    submission_name="panx",
))

TASKS.register("xquad", TaskSpec(
    name="xquad",
    type=TaskType.SPAN_QA,
    group=TaskGroup.QA,
    metric="squad",
    langs=XQUAD_LANGS,
    train=_SQUAD_TRAIN,
    dev=_SQUAD_DEV,
    test=HubSplit(XTREME_HUB, "XQuAD.{lang}", "validation"),  # XQuAD's only split is its test set
    **_QA_FIELDS,
    submission_name="xquad",
))

TASKS.register("mlqa", TaskSpec(
    name="mlqa",
    type=TaskType.SPAN_QA,
    group=TaskGroup.QA,
    metric="mlqa",  # MLQA's own script: per-language articles, Chinese split into characters
    langs=MLQA_LANGS,
    train=_SQUAD_TRAIN,
    dev=_SQUAD_DEV,
    test=HubSplit(XTREME_HUB, "MLQA.{lang}.{lang}", "test"),  # question and context in the same language
    **_QA_FIELDS,
    submission_name="mlqa",
))

_TYDI = dict(names=tuple(TYDIQA_NAMES.items()), id_prefix="{name}-")
TASKS.register("tydiqa", TaskSpec(
    name="tydiqa",
    type=TaskType.SPAN_QA,
    group=TaskGroup.QA,
    metric="squad",
    langs=TYDIQA_LANGS,
    # TyDiQA-GoldP mixes languages in one config; XTREME trains on the English part of its train set and
    # tests on each language's part of its dev set.
    train=XtremeHubSplit(XTREME_HUB, "tydiqa", "train", **_TYDI),
    dev=XtremeHubSplit(XTREME_HUB, "tydiqa", "validation", **_TYDI),
    test=XtremeHubSplit(XTREME_HUB, "tydiqa", "validation", **_TYDI),
    **_QA_FIELDS,
    submission_name="tydiqa",
))

TASKS.register("xcopa", TaskSpec(
    name="xcopa",
    type=TaskType.MULTIPLE_CHOICE,
    group=TaskGroup.CLASSIFICATION,
    metric="accuracy",
    langs=XCOPA_LANGS,
    # XTREME-R trains on SIQA first, then on English COPA (third_party/run_xcopa.py), selecting on COPA dev.
    intermediate=HubSplit("allenai/social_i_qa", "default", "train"),
    train=HubSplit("aps/super_glue", "copa", "train"),
    dev=HubSplit("aps/super_glue", "copa", "validation"),
    test=HubSplit("cambridgeltl/xcopa", "{lang}", "test"),
    text_fields=("premise", "choices"),  # as loaded; `question` only names the relation (cause/effect)
    labels=("choice1", "choice2"),
    submission_name="xcopa",
))

TASKS.register("tatoeba", TaskSpec(
    name="tatoeba",
    type=TaskType.RETRIEVAL,
    group=TaskGroup.RETRIEVAL,
    metric="accuracy",  # the share of sentences whose nearest English neighbour is their translation
    langs=TATOEBA_LANGS,
    train=NO_HUB,  # no fine-tuning: sentence embeddings from the pretrained encoder
    dev=NO_HUB,
    test=XtremeHubSplit(XTREME_HUB, "tatoeba.{name}", "validation", names=tuple(TATOEBA_CODES.items())),
    text_fields=("source_sentence", "target_sentence"),
    submission_name="tatoeba",
))

TASKS.register("bucc2018", TaskSpec(
    name="bucc2018",
    type=TaskType.RETRIEVAL,
    group=TaskGroup.RETRIEVAL,
    metric="bucc_f1",
    langs=BUCC_LANGS,
    train=NO_HUB,  # no fine-tuning; the similarity threshold is chosen on the dev split's gold pairs
    dev=HubSplit(XTREME_HUB, "bucc18.{lang}", "validation"),
    test=HubSplit(XTREME_HUB, "bucc18.{lang}", "test"),
    text_fields=("source_sentence", "target_sentence"),
    submission_name="bucc2018",
))

TASKS.register("lareqa", TaskSpec(
    name="lareqa",
    type=TaskType.RETRIEVAL,
    group=TaskGroup.RETRIEVAL,
    metric="map_at_20",
    langs=LAREQA_LANGS,
    # XTREME-R fine-tunes a dual encoder on English SQuAD v1.1 (question, answer sentence) pairs. The hub copy of
    # XQuAD-R drops the release's sentence breaks; they are then inferred (xltlib.data_xtreme).
    train=_SQUAD_TRAIN,
    dev=_SQUAD_DEV,
    test=HubSplit("google-research-datasets/xquad_r", "{lang}", "validation"),
    **_QA_FIELDS,
    submission_name="lareqa",
    dual_encoder=True,
))

TASKS.register("mewslix", TaskSpec(
    name="mewslix",
    type=TaskType.RETRIEVAL,
    group=TaskGroup.RETRIEVAL,
    metric="map_at_20",
    langs=MEWSLIX_LANGS,
    # Mewsli-X is released by google-research (dense_representations_for_entity_retrieval/mel/mewsli_x),
    # not on the hub: English Wikipedia mention-entity pairs to fine-tune, WikiNews mentions to test.
    train=NO_HUB,
    dev=NO_HUB,
    test=NO_HUB,
    text_fields=("mention", "entity"),
    submission_name="mewslix",
    dual_encoder=True,
))
