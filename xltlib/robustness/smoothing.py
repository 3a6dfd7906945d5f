"""Robustness evaluation of a fine-tuned model, after its ordinary evaluation: the run's test-time attacks
(xltlib.attacks) and smoothed prediction, a majority vote over perturbed copies of each input: Gaussian
noise on the input embeddings, with the average certified L2 radius (Cohen, Rosenfeld & Kolter, ICML 2019),
or synonym substitution (Huang et al., EMNLP 2021: RS-DA's smoothed classifier). Long-format records.
"""
from __future__ import annotations

import dataclasses
import math
import random
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..core.errors import ConfigError
from ..core.options import OptionSpec, check_bool, check_choice, check_number, resolve_named_options
from ..core.registry import Registry
from ..methods.balls import token_scale
from ..methods.noise import make_rs_rp, vote_logits
from ..methods.spec import MethodContext
from ..methods.substitution import CASES, RandomSubstitution, Substitutions
from ..tasks.handlers.base import eval_batches, forward_from_embeddings
from ..tasks.handlers.pair import predict_labels
from .attacks import _check_file_option, evaluate_attacks, synonym_table


def smoothed_predict_labels(model, examples: list[dict], collate, batch_size: int,
                            substitution: RandomSubstitution, n_samples: int | None = None,
                            seed: int = 0) -> np.ndarray:
    """RS-DA's smoothed classifier: the majority label over `n_samples` (default: the method's
    `smooth_n_samples`) substituted copies of every example; a tie goes to the lowest label index."""
    n = substitution.smooth_n_samples if n_samples is None else n_samples
    check_number("smoothed_predict_labels", "n_samples", n, low=1, integer=True)
    votes = np.zeros((len(examples), model.config.num_labels), dtype=np.int64)
    for draw in range(n):
        rng = random.Random(f"smooth|{seed}|{draw}")
        labels = predict_labels(model, [substitution.substitute(e, rng) for e in examples], collate, batch_size,
                                seed=seed)
        votes[np.arange(len(examples)), labels] += 1
    return votes.argmax(1)  # numpy's argmax also returns the first maximum




# Certified L2 radius of a Gaussian-smoothed classifier (Cohen, Rosenfeld & Kolter, ICML 2019).


def certified_radius(p_a_lower: float, sigma: float) -> float:
    """sigma * Phi^-1(p_A lower bound); 0 when the bound is <= 0.5 (the smoothed classifier abstains).
    `sigma` is the absolute per-coordinate noise (RandomNoise.absolute_sigma)."""
    from scipy.stats import norm

    if not 0.0 <= p_a_lower <= 1.0:
        raise ValueError(f"p_a_lower must be a probability in [0, 1], got {p_a_lower!r}")
    if sigma < 0:
        raise ConfigError(f"sigma must be >= 0, got {sigma!r}")
    return float(sigma * norm.ppf(p_a_lower)) if p_a_lower > 0.5 else 0.0


def p_a_lower_bound(n_a: int, n: int, alpha: float = 0.001) -> float:
    """One-sided (1 - alpha) Clopper-Pearson lower bound on p_A from `n_a` votes for the top label out of
    `n` noisy samples. Cohen et al. draw these samples apart from the ones that chose the top label."""
    from scipy.stats import beta

    if not (0 <= n_a <= n and n >= 1):
        raise ValueError(f"need 0 <= n_a <= n and n >= 1, got n_a={n_a!r}, n={n!r}")
    return 0.0 if n_a == 0 else float(beta.ppf(alpha, n_a, n - n_a + 1))


def certify(n_a: int, n: int, sigma: float, alpha: float = 0.001) -> tuple[float, bool]:
    """(certified L2 radius, abstained): Cohen et al.'s CERTIFY once the top label's count is known."""
    p = p_a_lower_bound(n_a, n, alpha)
    return (0.0, True) if p <= 0.5 else (certified_radius(p, sigma), False)


def _gold(examples: list[dict]) -> np.ndarray:
    return np.array([e["label"] for e in examples], dtype=np.int64)


# ---------------------------------------------------------------------------------------------------
# gaussian: noise on the input embeddings, as RS-RP trains with.

GAUSSIAN_OPTIONS = {"sigma": 0.1, "relative": True, "n_samples": 10, "certify_n_samples": 0, "alpha": 0.001}


def _check_gaussian(what: str, o: dict) -> None:
    check_number(what, "sigma", o["sigma"])
    check_bool(what, "relative", o["relative"])
    check_number(what, "n_samples", o["n_samples"], low=1, integer=True)
    check_number(what, "certify_n_samples", o["certify_n_samples"], low=0, integer=True)
    check_number(what, "alpha", o["alpha"], low=1e-12, high=0.5)


@torch.no_grad()
def noise_votes(model, examples: list[dict], collate, batch_size: int, noise, n_samples: int,
                seed: int) -> np.ndarray:
    """[examples, labels] vote counts over `n_samples` draws of `noise` (a RandomNoise) per example."""
    embeddings = model.get_input_embeddings()
    out = []
    for start, batch in eval_batches(model, examples, collate, batch_size):
        forward, embeds = forward_from_embeddings(model, batch), embeddings(batch["input_ids"])
        mask = batch.get("attention_mask")
        generator = torch.Generator(device=embeds.device).manual_seed(seed * 1_000_003 + start)
        out.append(vote_logits(lambda: forward(embeds + noise.draw(embeds, generator, mask)).logits,
                               n_samples).long().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.num_labels), dtype=np.int64)


def smooth_gaussian(model, examples, collate, batch_size, context: MethodContext, lang: str, o: dict,
                    seed: int) -> dict[str, float]:
    """Accuracy of the smoothed classifier; with `certify_n_samples`, also Cohen et al.'s CERTIFY: the
    label chosen from `n_samples` draws, its probability bounded from `certify_n_samples` fresh draws, and
    the average certified radius (0 where the classifier abstains or is wrong; Zhai et al. 2020's ACR), in
    units of the mean token-embedding norm when `relative` (absolute otherwise). The radius bounds the L2
    norm of the perturbation of the whole input, all tokens together."""
    noise = make_rs_rp(context, noise="gaussian", sigma=o["sigma"], relative=o["relative"])
    gold = _gold(examples)
    votes = noise_votes(model, examples, collate, batch_size, noise, o["n_samples"], seed)
    chosen = votes.argmax(1)  # numpy's argmax returns the first maximum: ties go to the lowest label
    out = {"accuracy_smoothed_gaussian": float(np.mean(chosen == gold))}
    n = o["certify_n_samples"]
    if n:
        hidden = model.get_input_embeddings().weight.shape[-1]
        sigma = noise.absolute_sigma(hidden)
        unit = token_scale(context.embedding_norm, hidden, "l2", o["relative"])
        # Fresh draws for the estimate: Cohen et al. keep selection and estimation apart.
        counts = noise_votes(model, examples, collate, batch_size, noise, n, seed + 7919)
        radii = [certify(int(counts[i, c]), n, sigma, o["alpha"])[0] / unit if c == g else 0.0
                 for i, (c, g) in enumerate(zip(chosen, gold))]
        out["average_certified_radius_gaussian"] = float(np.mean(radii))
    return out


# ---------------------------------------------------------------------------------------------------
# synonym: RS-DA's smoothed classifier, with the synonyms of each test language.

SYNONYM_SMOOTHING_OPTIONS = {"n_samples": 10, "neighbors": None, "neighbors_sha256": None, "case": "lower-only"}


def _check_synonym(what: str, o: dict) -> None:
    check_number(what, "n_samples", o["n_samples"], low=1, integer=True)
    check_choice(what, "case", o["case"], CASES)
    _check_file_option(what, "neighbors", o["neighbors"])


def smooth_synonym(model, examples, collate, batch_size, context: MethodContext, lang: str, o: dict,
                   seed: int) -> dict[str, float] | None:
    table = synonym_table(context, lang, o["neighbors"], o["neighbors_sha256"], "smoothing 'synonym'")
    if table is None:
        return None
    substitution = RandomSubstitution(Substitutions(table, o["case"]), tuple(context.text_fields))
    predicted = smoothed_predict_labels(model, examples, collate, batch_size, substitution, o["n_samples"], seed)
    return {"accuracy_smoothed_synonym": float(np.mean(predicted == _gold(examples)))}


# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SmoothingSpec(OptionSpec):
    """`evaluate(model, examples, collate, batch_size, context, lang, options, seed)` -> {metric: value}, or
    None when it does not apply to `lang` (no synonym table for it). Smoothing is a vote over one label per
    example: it needs the task type's `vote` capability."""

    evaluate: Callable[..., dict[str, float] | None]
    needs: str = "vote"
    kind: str = "smoothing"


SMOOTHINGS: Registry[SmoothingSpec] = Registry("smoothing")
SMOOTHINGS.register("gaussian", SmoothingSpec(
    name="gaussian", evaluate=smooth_gaussian, options=GAUSSIAN_OPTIONS, check=_check_gaussian,
    description="majority vote over Gaussian noise on the input embeddings; certified radius with "
                "certify_n_samples"))
SMOOTHINGS.register("synonym", SmoothingSpec(
    name="synonym", evaluate=smooth_synonym, options=SYNONYM_SMOOTHING_OPTIONS, check=_check_synonym,
    description="majority vote over synonym-substituted copies (RS-DA's smoothed classifier)"))


def resolve_smoothing(smoothing: dict) -> dict[str, dict]:
    """`{smoothing: {option: value}}` with defaults filled in and checked (errors name what is wrong)."""
    return resolve_named_options("smoothing", "smoothing", smoothing, SMOOTHINGS)


def evaluate_smoothing(model, spec, tests_by_lang: dict[str, list[dict]], collate, batch_size: int,
                       smoothing: dict, context: MethodContext, seed: int = 0) -> list[dict]:
    """Smoothed accuracy (and certified radius) per test language and smoothing, as long-format records."""
    if not context.text_fields:
        context = dataclasses.replace(context, text_fields=tuple(spec.text_fields))
    smoothing = resolve_smoothing(smoothing)
    records = []
    for lang, examples in tests_by_lang.items():
        for name, options in smoothing.items():
            values = SMOOTHINGS[name].evaluate(model, examples, collate, batch_size, context, lang, options, seed)
            if values is None:
                warnings.warn(f"smoothing {name!r} has no synonym table for language {lang!r}: skipped",
                              stacklevel=2)
                continue
            records += [{"lang": lang, "split": "test", "metric": metric, "value": value if len(examples) else math.nan}
                        for metric, value in values.items()]
    return records


def evaluate_robustness(model, spec, handler, tests_by_lang: dict[str, list[dict]], tokenizer, cfg, max_length: int,
                        *, context: MethodContext, seed: int = 0) -> list[dict]:
    """The run's attacks and smoothed predictions (`cfg.attacks`, `cfg.smoothing`) on the first
    `cfg.max_robustness_samples` test examples of each language (the same rows in every language: test sets are
    parallel). `context` should be the one the method was built with, from the encoder before fine-tuning, so
    relative budgets are the same for every method."""
    if not cfg.attacks and not cfg.smoothing:
        return []
    tests = {lang: examples[:cfg.max_robustness_samples] for lang, examples in tests_by_lang.items()}
    records = []
    if cfg.attacks:
        records += evaluate_attacks(model, spec, handler, tests, tokenizer, cfg, max_length, cfg.attacks, context,
                                    seed)
    if cfg.smoothing:
        collate = handler.collate(spec, tokenizer, cfg, max_length)
        records += evaluate_smoothing(model, spec, tests, collate, cfg.per_device_eval_batch_size, cfg.smoothing,
                                      context, seed)
    return records
