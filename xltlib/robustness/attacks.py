"""Test-time attacks on a fine-tuned model, as evaluation transforms every notebook can apply: PGD in the
input-embedding space (the threat `at` trains against; Madry et al., ICLR 2018), greedy synonym
substitution under a word budget (the threat RS-DA smooths against; Alzantot et al., EMNLP 2018), and
greedy code-switching of words into another language (Tan & Joty, NAACL 2021). Huang et al. (EMNLP 2021)
frame cross-lingual transfer as robustness to such perturbations.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import math
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.errors import ConfigError
from ..core.options import (OptionSpec, check_choice, check_number, resolve_named_options,
                            resolve_options)
from ..core.registry import Registry
from ..methods.balls import Ball, check_ball_options, pgd, token_scale
from ..methods.neighbors import load_muse_dictionary
from ..methods.spec import MethodContext
from ..methods.substitution import CASES, Substitutions, neighbor_table
from ..tasks.handlers.base import TaskData, forward_from_embeddings, plain_logits


class Attack(abc.ABC):
    """`run` returns the labels the model predicts under attack, one per example; an attack needs the
    gold label of each example (its `label` field). `clean_logits`, when given, are the model's logits on the
    unattacked examples (`plain_logits`), which every attack starts from: computed once for all of them."""

    name = ""

    @abc.abstractmethod
    def run(self, model, examples: list[dict], collate, batch_size: int, seed: int,
            clean_logits: torch.Tensor | None = None) -> np.ndarray:
        """Predicted labels under attack."""


def _gold(examples: list[dict]) -> np.ndarray:
    return np.array([e["label"] for e in examples], dtype=np.int64)


@contextlib.contextmanager
def frozen(model):
    """The model's parameters without gradients while the block runs (restored after): an attack's backward
    passes need the input's gradient only, and the forward pass then keeps less for them. The input's gradient
    is the same number either way."""
    wanted = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in wanted:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in wanted:
            p.requires_grad_(flag)


# ---------------------------------------------------------------------------------------------------
# pgd: the worst point of a ball around each token's embedding, found by robust.pgd (one implementation).

PGD_OPTIONS = {"epsilon": 0.1, "norm": "l2", "steps": 10, "step_size": None, "relative": True,
               "random_start": False}


class EmbeddingPGDAttack(Attack):
    """Maximises the gold label's cross-entropy; an example counts as broken if the prediction at any
    PGD iterate is wrong. Without a random start the first iterate is the clean input, so accuracy
    under attack is never above clean accuracy."""

    name = "pgd"

    def __init__(self, *, epsilon: float, norm: str, steps: int, step_size: float | None, relative: bool,
                 random_start: bool, embedding_norm: float):
        self.epsilon, self.norm, self.steps, self.relative = epsilon, norm, steps, relative
        self.step_size = 2.5 * epsilon / steps if step_size is None else step_size  # Madry et al.'s rule
        self.random_start, self.embedding_norm = random_start, embedding_norm

    def run(self, model, examples, collate, batch_size, seed, clean_logits=None):
        """An example's result is fixed once it is broken, so each forward pass runs on the examples still
        unbroken only (rows of the batch: the others' logits and gradients are not changed by leaving them out);
        without a random start the examples `clean_logits` gets wrong are broken before the first step."""
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        out = []
        for start in range(0, len(examples), batch_size):
            batch = {k: v.to(device) for k, v in collate(examples[start:start + batch_size]).items()}
            batch.pop("labels", None)
            gold = torch.as_tensor(_gold(examples[start:start + batch_size]), device=device)
            with torch.no_grad():
                embeds = model.get_input_embeddings()(batch["input_ids"])
            scale = token_scale(self.embedding_norm, embeds.shape[-1], self.norm, self.relative)
            broken = torch.zeros_like(gold, dtype=torch.bool)
            answer = gold.clone()

            def record(rows, logits):
                predicted = logits.argmax(-1)
                first = rows[predicted != gold[rows]]
                answer[first] = predicted[predicted != gold[rows]]
                broken[first] = True

            if clean_logits is not None and not self.random_start:  # the first iterate is the clean input
                record(torch.arange(len(gold), device=device),
                       clean_logits[start:start + batch_size].to(device))

            def forward_unbroken(inputs):
                rows = (~broken).nonzero().squeeze(1)
                rest = {k: v[rows] for k, v in batch.items() if k != "input_ids"}
                return rows, model(inputs_embeds=inputs[rows], **rest).logits

            def objective(inputs):
                if bool(broken.all()):
                    return inputs[:0].sum()  # nothing left to attack: a zero gradient, no forward pass
                rows, logits = forward_unbroken(inputs)
                record(rows, logits.detach())
                return torch.nn.functional.cross_entropy(logits, gold[rows], reduction="none")

            generator = torch.Generator(device=device).manual_seed(seed + start)
            with frozen(model):
                delta = pgd(objective, embeds, Ball(self.norm, self.epsilon * scale), steps=self.steps,
                            step_size=self.step_size * scale, generator=generator,
                            mask=batch.get("attention_mask"), random_start=self.random_start)
            if not bool(broken.all()):
                with torch.no_grad():
                    record(*forward_unbroken(embeds + delta))
            out.append(answer.cpu())
        model.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)

    def run_on_loss(self, model, batches, seed: int) -> list:
        """Task types without one label per example (tagging, span QA): PGD ascends the task's own loss (the
        model's, on the batch's labels: token tags, answer start and end) and the predictions at the last
        iterate are decoded. `batches` yields (batch with labels, decode(output) -> predictions)."""
        was_training = model.training
        model.eval()
        out = []
        for number, (batch, decode) in enumerate(batches):
            forward = forward_from_embeddings(model, batch)
            with torch.no_grad():
                embeds = model.get_input_embeddings()(batch["input_ids"])
            scale = token_scale(self.embedding_norm, embeds.shape[-1], self.norm, self.relative)
            generator = torch.Generator(device=embeds.device).manual_seed(seed + number)
            with frozen(model):
                delta = pgd(lambda inputs: forward(inputs).loss, embeds, Ball(self.norm, self.epsilon * scale),
                            steps=self.steps, step_size=self.step_size * scale, generator=generator,
                            mask=batch.get("attention_mask"), random_start=self.random_start)
            with torch.no_grad():
                out.append(decode(forward(embeds + delta)))
        model.train(was_training)
        return out


def make_pgd(context: MethodContext, lang: str, **options) -> EmbeddingPGDAttack:
    what = "attack 'pgd'"
    o = resolve_options(what, options, PGD_OPTIONS)
    check_ball_options(what, o)
    return EmbeddingPGDAttack(**o, embedding_norm=context.embedding_norm)


# ---------------------------------------------------------------------------------------------------
# Word-level attacks: greedy substitution under a word budget.


@dataclass(frozen=True)
class _Candidate:
    field: str
    position: int
    token: str


def _replace(example: dict, candidate: _Candidate) -> dict:
    words = example[candidate.field].split()
    words[candidate.position] = candidate.token
    return {**example, candidate.field: " ".join(words)}


def gold_probabilities(model, examples: list[dict], gold: np.ndarray, collate, batch_size: int,
                       logits: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probability of each example's gold label, predicted label) under the plain model, from its `logits` on
    `examples` when they are known already."""
    if not examples:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    if logits is None:
        logits = plain_logits(model, examples, collate, batch_size)
    p = logits.float().softmax(-1).numpy()
    return p[np.arange(len(p)), gold], p.argmax(-1)


@dataclass
class _Greedy:
    """One example under attack: its current text, gold probability and the positions already used."""

    index: int
    current: dict
    prob: float
    candidates: list[_Candidate]
    used: set = field(default_factory=set)


class WordSubstitutionAttack(Attack):
    """Greedy search (Alzantot et al. 2018 without the genetic part): at each of at most `max_words`
    steps, try every remaining candidate substitution of one word (at most `max_candidates` per step, from
    a seeded shuffle of all candidates, so the set is fixed for a given seed) and keep the one that most
    lowers the gold label's probability; stop when the prediction flips or nothing lowers it. Only
    examples the model gets right are attacked; a word position is changed at most once."""

    def __init__(self, name: str, substitutions: Substitutions, text_fields: tuple[str, ...], *,
                 max_words: int, max_candidates: int):
        self.name, self.substitutions, self.text_fields = name, substitutions, text_fields
        self.max_words, self.max_candidates = max_words, max_candidates

    def candidates(self, example: dict) -> list[_Candidate]:
        return [_Candidate(name, i, alternative)
                for name in self.text_fields
                for i, token in enumerate(example[name].split())
                for alternative in self.substitutions.alternatives(token)]

    def attack_examples(self, model, examples: list[dict], collate, batch_size: int, seed: int,
                        clean_logits: torch.Tensor | None = None) -> tuple[list[dict], np.ndarray]:
        """(the examples after the attack, the labels predicted on them)."""
        was_training = model.training
        model.eval()
        gold = _gold(examples)
        probs, predicted = gold_probabilities(model, examples, gold, collate, batch_size, clean_logits)
        adversarial, predicted = list(examples), predicted.copy()
        active = []
        for i, example in enumerate(examples):
            if predicted[i] != gold[i]:
                continue  # already wrong: nothing to attack
            candidates = self.candidates(example)
            random.Random(f"{self.name}|{seed}|{i}").shuffle(candidates)
            active.append(_Greedy(i, example, float(probs[i]), candidates))
        for _ in range(self.max_words):
            tries = []
            for state in active:
                options = [c for c in state.candidates if (c.field, c.position) not in state.used]
                tries += [(state, c) for c in options[:self.max_candidates]]
            if not tries:
                break
            variants = [_replace(state.current, c) for state, c in tries]
            p, labels = gold_probabilities(model, variants, np.array([gold[s.index] for s, _ in tries]),
                                           collate, batch_size)
            best: dict[int, int] = {}
            for j, (state, _) in enumerate(tries):
                if p[j] < state.prob and (state.index not in best or p[j] < p[best[state.index]]):
                    best[state.index] = j
            still_active = []
            for state in active:
                j = best.get(state.index)
                if j is None:
                    continue  # no substitution lowers the gold probability: stop
                candidate = tries[j][1]
                state.current, state.prob = variants[j], float(p[j])
                state.used.add((candidate.field, candidate.position))
                adversarial[state.index], predicted[state.index] = state.current, labels[j]
                if labels[j] == gold[state.index]:
                    still_active.append(state)
            active = still_active
        model.train(was_training)
        return adversarial, predicted

    def run(self, model, examples, collate, batch_size, seed, clean_logits=None):
        return self.attack_examples(model, examples, collate, batch_size, seed, clean_logits)[1]


WORD_OPTIONS = {"max_words": 2, "max_candidates": 32, "case": "lower-only"}
SYNONYM_OPTIONS = {**WORD_OPTIONS, "neighbors": None, "neighbors_sha256": None}
CODESWITCH_OPTIONS = {**WORD_OPTIONS, "target_lang": None, "dictionary": None}


def _check_word_options(what: str, o: dict) -> None:
    check_number(what, "max_words", o["max_words"], low=0, integer=True)
    check_number(what, "max_candidates", o["max_candidates"], low=1, integer=True)
    check_choice(what, "case", o["case"], CASES)


def _check_file_option(what: str, name: str, value) -> None:
    if value is not None and not isinstance(value, (str, Path, dict)):
        raise ConfigError(f"{what}: option {name!r} must be a path or a mapping of language codes to paths, "
                          f"got {value!r}")


def _check_synonym_options(what: str, o: dict) -> None:
    _check_word_options(what, o)
    _check_file_option(what, "neighbors", o["neighbors"])


def _check_codeswitch_options(what: str, o: dict) -> None:
    _check_word_options(what, o)
    _check_file_option(what, "dictionary", o["dictionary"])
    if o["dictionary"] is None and not isinstance(o["target_lang"], str):
        raise ConfigError(f"{what}: option 'target_lang' must name the language to switch words into, "
                          f"got {o['target_lang']!r}")


def _for_lang(what: str, name: str, value, lang: str, src_lang: str):
    """A file option is one path (for the source language) or a mapping {lang: path}."""
    if isinstance(value, dict):
        return value.get(lang)
    if isinstance(value, (str, Path)):
        return value if lang == src_lang else None
    raise ConfigError(f"{what}: option {name!r} must be a path or a mapping of language codes to paths, "
                      f"got {value!r}")


def synonym_table(context: MethodContext, lang: str, neighbors, sha256: str | None,
                  what: str) -> dict[str, list[str]] | None:
    """Synonyms of `lang`: the embedded world's synonym sets, or the `neighbors` file (one path: the
    source language, e.g. the English counter-fitted neighbours; or {lang: path}). None when there are no
    synonym sets for `lang`."""
    if neighbors is not None:
        path = _for_lang(what, "neighbors", neighbors, lang, context.src_lang)
        return None if path is None else neighbor_table(context, path, sha256, what)
    if context.world is not None:
        return context.world.synonyms(lang)
    return neighbor_table(context, None, None, what)  # raises: says which option to set


def make_synonym(context: MethodContext, lang: str, **options) -> WordSubstitutionAttack | None:
    """Greedy synonym substitution with the synonyms of `lang` (see `synonym_table`); None when there are
    none for `lang`."""
    what = "attack 'synonym'"
    o = resolve_options(what, options, SYNONYM_OPTIONS)
    _check_synonym_options(what, o)
    table = synonym_table(context, lang, o["neighbors"], o["neighbors_sha256"], what)
    if table is None:
        return None
    return WordSubstitutionAttack("synonym", Substitutions(table, o["case"]), tuple(context.text_fields),
                                  max_words=o["max_words"], max_candidates=o["max_candidates"])


def world_dictionary(world, lang: str, target_lang: str) -> dict[str, list[str]]:
    """Word of `lang` -> its translation into `target_lang`, through the world's English lexicon."""
    to_english = {word: english for english, word in world.translation(lang).items()}
    into_target = world.translation(target_lang)
    return {word: [into_target[english]] for word, english in to_english.items()
            if english in into_target and into_target[english] != word}


def make_codeswitch(context: MethodContext, lang: str, **options) -> WordSubstitutionAttack | None:
    """Words of `lang` replaced by their translation into `target_lang`: the embedded world's
    dictionaries, or MUSE files in `dictionary` (one path: from the source language; or {lang: path}).
    None when there is no dictionary for `lang`."""
    what = "attack 'codeswitch'"
    o = resolve_options(what, options, CODESWITCH_OPTIONS)
    _check_codeswitch_options(what, o)
    target = o["target_lang"]
    if o["dictionary"] is not None:
        path = _for_lang(what, "dictionary", o["dictionary"], lang, context.src_lang)
        if path is None:
            return None
        table = load_muse_dictionary(path)
    elif context.world is not None:
        if target not in context.world.langs:
            raise ConfigError(f"{what}: option 'target_lang' must be one of the world's languages "
                              f"{', '.join(context.world.langs)}; got {target!r}")
        table = world_dictionary(context.world, lang, target)
    else:
        raise ConfigError(f"{what} needs a bilingual dictionary: on the real path set its option 'dictionary' "
                          "to a MUSE file (`src tgt` per line)")
    return WordSubstitutionAttack("codeswitch", Substitutions(table, o["case"]), tuple(context.text_fields),
                                  max_words=o["max_words"], max_candidates=o["max_candidates"])


# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AttackSpec(OptionSpec):
    """`make(context, lang, **options)` builds the attack for test language `lang` (None: it does not
    apply to that language); `options` are its defaults; `check(what, resolved_options)` validates them
    without a model, so a run's config is checked before any training. `needs` is the task-type capability
    it uses (`xltlib.tasks.handlers.base.CAPABILITIES`)."""

    make: Callable[..., Attack | None]
    needs: str
    kind: str = "attack"


ATTACKS: Registry[AttackSpec] = Registry("attack")
ATTACKS.register("pgd", AttackSpec(
    name="pgd", make=make_pgd, options=PGD_OPTIONS, check=check_ball_options, needs="pgd",
    description="PGD on the gold label's loss (or the task's own loss) in the input-embedding space"))
ATTACKS.register("synonym", AttackSpec(
    name="synonym", make=make_synonym, options=SYNONYM_OPTIONS, check=_check_synonym_options, needs="label_attack",
    description="greedy synonym substitution, at most max_words words"))
ATTACKS.register("codeswitch", AttackSpec(
    name="codeswitch", make=make_codeswitch, options=CODESWITCH_OPTIONS, check=_check_codeswitch_options,
    needs="label_attack", description="greedy translation of words into target_lang, at most max_words"))


def resolve_attacks(attacks: dict) -> dict[str, dict]:
    """`{attack: {option: value}}` with every attack's defaults filled in and checked: an unknown attack
    or option, or a bad value, is an error naming it. The resolved options are what a run key hashes."""
    return resolve_named_options("attacks", "attack", attacks, ATTACKS)


def make_attack(name: str, context: MethodContext, lang: str, options: dict | None = None) -> Attack | None:
    spec = ATTACKS[name]
    return spec.make(context, lang, **{**spec.options, **(options or {})})


def evaluate_attacks(model, spec, handler, tests_by_lang: dict[str, list[dict]], tokenizer, cfg, max_length: int,
                     attacks: dict[str, dict], context: MethodContext, seed: int = 0) -> list[dict]:
    """The task's metric under each attack per test language, as long-format records (`<metric>_under_<attack>`).
    On types with one gold label per example (pair classification, multiple choice) also the attack's success
    rate: the share of the examples the model gets right that the attack makes it get wrong. An attack with no
    word table for a language (e.g. English neighbours, a German test set) is skipped with a warning."""
    if not context.text_fields:
        context = dataclasses.replace(context, text_fields=tuple(handler.text_fields(spec)))
    attacks = resolve_attacks(attacks)  # fail on a bad name or option before any work
    batch_size = cfg.per_device_eval_batch_size
    records = []
    for lang, examples in tests_by_lang.items():
        data = TaskData(spec, tests={lang: examples})
        if "label_attack" in handler.supports:
            collate = handler.collate(spec, tokenizer, cfg, max_length)
            gold = _gold(examples)
            clean_logits = plain_logits(model, examples, collate, batch_size)  # every attack starts from them
            correct = clean_logits.argmax(-1).numpy() == gold
        for name, options in attacks.items():
            attack = make_attack(name, context, lang, options)
            if attack is None:
                warnings.warn(f"attack {name!r} has no word table for language {lang!r}: skipped", stacklevel=2)
                continue
            metric = f"{spec.metric}_under_{name}"
            if "label_attack" not in handler.supports:
                device = next(model.parameters()).device
                found = attack.run_on_loss(model, handler.batches(spec, tokenizer, examples, cfg, max_length, device),
                                           seed)
                value = handler.scores(spec, handler.join_predictions(found), examples, lang, data)[spec.metric]
                records.append({"lang": lang, "split": "test", "metric": metric, "value": float(value)})
                continue
            predicted = attack.run(model, examples, collate, batch_size, seed, clean_logits)
            flipped = predicted[correct] != gold[correct]
            records += [
                {"lang": lang, "split": "test", "metric": metric,
                 "value": float(np.mean(predicted == gold)) if len(gold) else math.nan},
                {"lang": lang, "split": "test", "metric": f"attack_success_rate_{name}",
                 "value": float(flipped.mean()) if len(flipped) else math.nan},
            ]
    return records
