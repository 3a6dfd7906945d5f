"""The XTREME (Hu et al., ICML 2020) and XTREME-R (Ruder et al., EMNLP 2021) benchmarks, listed once: each task's
languages and each benchmark's task groups, as google-research/xtreme's official scorer (`evaluate.py`,
TASK2LANGS / GROUP2TASK for each `--xtreme_version`) lists them. XTREME-R's LAReQA is scored on XQuAD-R's 11
languages (the official scorer lists none) and sits in the retrieval group, as in the XTREME-R paper.
"""
from __future__ import annotations

from .spec import TaskGroup

XNLI_LANGS = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGS = ("de", "en", "es", "fr", "ja", "ko", "zh")

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
