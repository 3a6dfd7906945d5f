"""The language registry: every language code used anywhere, listed once.

Real languages are the 50 of XTREME-R (a superset of XTREME's 40). The embedded world's languages are
registered by `xltlib.world.grammar`, each with its rung on the ladder of distance from English.
"""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    world: str = "real"  # "real" or "embedded"
    rung: int | None = None  # embedded only: distance from English on the ladder (0 = English)
    description: str = ""


LANGUAGES: Registry[Language] = Registry("language")

_REAL = {
    "af": "Afrikaans", "ar": "Arabic", "az": "Azerbaijani", "bg": "Bulgarian", "bn": "Bengali",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi",
    "ht": "Haitian Creole", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "jv": "Javanese", "ka": "Georgian", "kk": "Kazakh", "ko": "Korean", "lt": "Lithuanian",
    "ml": "Malayalam", "mr": "Marathi", "ms": "Malay", "my": "Burmese", "nl": "Dutch", "pa": "Punjabi",
    "pl": "Polish", "pt": "Portuguese", "qu": "Quechua", "ro": "Romanian", "ru": "Russian",
    "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "wo": "Wolof", "yo": "Yoruba", "zh": "Chinese",
}
for _code, _name in _REAL.items():
    LANGUAGES.register(_code, Language(_code, _name, "real", rung=0 if _code == "en" else None))


def check_languages(codes, allowed, what: str) -> tuple[str, ...]:
    """Return `codes` as a tuple, or raise naming the first code not in `allowed`."""
    from .errors import UnknownNameError

    codes = tuple(codes)
    for code in codes:
        if code not in allowed:
            raise UnknownNameError(
                f"unknown language {code!r} in {what}; allowed: {', '.join(allowed)}"
            )
    return codes
