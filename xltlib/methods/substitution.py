"""Randomized smoothing with data augmentation (`rs_da`, Huang et al., EMNLP 2021): synonym substitution on the
fly, and the word-substitution tables it and the word-level attacks share."""
from __future__ import annotations

import random
import re
from pathlib import Path

from ..core.errors import ConfigError
from ..core.options import check_bool, check_choice, check_number, resolve_options
from .neighbors import load_neighbors
from .spec import MethodContext, Perturbation

CASES = ("lower-only", "preserve")

# rs_da: randomized smoothing with data augmentation: synonym substitution, on the fly.

# No `smooth_predictions` here: the loop's prediction hook sees embeddings, not words, so RS-DA's smoothed
# classifier is the function `smoothed_predict_labels`, called on examples, with `smooth_n_samples` draws.
RS_DA_OPTIONS = {"neighbors": None, "neighbors_sha256": None, "copies": 1, "keep_original": False,
                 "case": "lower-only", "smooth_n_samples": 10}

# Punctuation glued to a word ("sofa.", "(film") stays where it is; the word inside is substituted.
_AFFIXES = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


class Substitutions:
    """Word -> alternatives from a table (synonym sets, neighbours, a dictionary), with a deliberate
    case policy. Tables are lowercase (the counter-fitted neighbours are):
    "lower-only" substitutes only all-lowercase words (Huang et al.'s behaviour); "preserve" looks up
    the lowercased word and gives the pick the word's capitalisation ("Film", "FILM"); a word of mixed
    case ("iPhone") is left alone, since its pattern cannot be put on another word."""

    def __init__(self, table: dict[str, list[str]], case: str = "lower-only"):
        check_choice("substitutions", "case", case, CASES)
        self.table, self.case = table, case
        self._cache: dict[str, tuple[str, list[str], str]] = {}

    @staticmethod
    def _recase(word: str, like: str) -> str | None:
        if like == like.lower():
            return word
        if like == like.upper():
            return word.upper()
        if like[0].isupper() and like[1:] == like[1:].lower():
            return word[:1].upper() + word[1:]
        return None

    def parts(self, token: str) -> tuple[str, list[str], str]:
        """(prefix, alternatives of the word inside, suffix); the alternatives exclude the word itself
        and repeats, so a word with k alternatives is kept with probability 1 / (k + 1)."""
        if token not in self._cache:
            prefix, core, suffix = _AFFIXES.match(token).groups()
            alternatives: list[str] = []
            if core and (self.case == "preserve" or core == core.lower()):
                key = core.lower() if self.case == "preserve" else core
                for word in self.table.get(key, ()):
                    recased = self._recase(word, core)
                    if recased is None:
                        break
                    if recased != core and recased not in alternatives:
                        alternatives.append(recased)
            self._cache[token] = (prefix, alternatives, suffix)
        return self._cache[token]

    def alternatives(self, token: str) -> list[str]:
        prefix, alternatives, suffix = self.parts(token)
        return [prefix + a + suffix for a in alternatives]

    def pick(self, token: str, rng: random.Random) -> str:
        """A uniform pick from {token} and its alternatives."""
        prefix, alternatives, suffix = self.parts(token)
        i = rng.randrange(len(alternatives) + 1)
        return token if i == 0 else prefix + alternatives[i - 1] + suffix

    def substitute_text(self, text: str, rng: random.Random) -> str:
        return " ".join(self.pick(token, rng) for token in text.split())


class RandomSubstitution(Perturbation):
    """Each whitespace token of each text field becomes a uniform pick from itself and its neighbours,
    both sentences independently, fresh at every step (Huang et al. wrote 10 augmented copies of PAWS-X
    and 3 of XNLI to disk, originals dropped; here `copies` augmented copies of each example are made in
    the batch, `keep_original` adds the original). Labels and other fields are kept."""

    def __init__(self, substitutions: Substitutions, text_fields: tuple[str, ...], *, copies: int = 1,
                 keep_original: bool = False, smooth_n_samples: int = 10, task_substitute=None):
        self.substitutions, self.text_fields, self.task_substitute = substitutions, text_fields, task_substitute
        self.copies, self.keep_original, self.smooth_n_samples = copies, keep_original, smooth_n_samples

    def substitute(self, example: dict, rng: random.Random) -> dict:
        if self.task_substitute is not None:  # the task type moves its labels with the words (span QA)
            return self.task_substitute(example, self.substitutions, rng)
        out = dict(example)
        for name in self.text_fields:
            value = example[name]
            if isinstance(value, str):
                out[name] = self.substitutions.substitute_text(value, rng)
            else:  # a list of words (tagging: one tag each, so labels stay aligned) or of texts (choices)
                out[name] = [self.substitutions.substitute_text(v, rng) for v in value]
        return out

    def perturb_examples(self, examples: list[dict], rng: random.Random) -> list[dict]:
        out = []
        for example in examples:
            if self.keep_original:
                out.append(example)
            out.extend(self.substitute(example, rng) for _ in range(self.copies))
        return out

    # predict_logits stays plain: it sees embeddings, not words (see RS_DA_OPTIONS).


def neighbor_table(context: MethodContext, neighbors, sha256: str | None, what: str) -> dict[str, list[str]]:
    """Synonym sets: the file `neighbors` (a path or URL) when given, else the embedded world's."""
    if neighbors is not None:
        if not isinstance(neighbors, (str, Path)):
            raise ConfigError(f"{what}: option 'neighbors' must be a path or URL, got {neighbors!r}")

        return load_neighbors(neighbors, sha256)
    if context.world is not None:
        return context.world.synonyms(context.src_lang)
    raise ConfigError(f"{what} needs synonym sets: on the real path set its option 'neighbors' to the "
                      "counter-fitted neighbours file (a path or URL; see xltlib.neighbors.COUNTERFITTED_URL)")


def make_rs_da(context: MethodContext, **options) -> RandomSubstitution:
    what = "method 'rs_da'"
    o = resolve_options(what, options, RS_DA_OPTIONS)
    check_rs_da(what, o)
    if not context.text_fields:
        raise ConfigError(f"{what} needs the task's text fields to substitute in; the method context has none")
    table = neighbor_table(context, o["neighbors"], o["neighbors_sha256"], what)
    return RandomSubstitution(Substitutions(table, o["case"]), tuple(context.text_fields), copies=o["copies"],
                              keep_original=o["keep_original"], smooth_n_samples=o["smooth_n_samples"],
                              task_substitute=context.substitute)


def check_rs_da(what: str, o: dict) -> None:
    check_number(what, "copies", o["copies"], low=1, integer=True)
    check_bool(what, "keep_original", o["keep_original"])
    check_choice(what, "case", o["case"], CASES)
    check_number(what, "smooth_n_samples", o["smooth_n_samples"], low=1, integer=True)
    if o["neighbors"] is not None and not isinstance(o["neighbors"], (str, Path)):
        raise ConfigError(f"{what}: option 'neighbors' must be a path or URL, got {o['neighbors']!r}")
    if o["neighbors_sha256"] is not None and not isinstance(o["neighbors_sha256"], str):
        raise ConfigError(f"{what}: option 'neighbors_sha256' must be a hex string, got {o['neighbors_sha256']!r}")
