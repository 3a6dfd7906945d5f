"""Robust training for zero-shot cross-lingual transfer (Huang, Ahmad, Peng & Chang, EMNLP 2021) as hooks of
the one training loop: adversarial training in the input-embedding space (`at`: PGD, Madry et al. 2018;
`free_at`: "free" adversarial training at about the cost of a clean step, Shafahi et al. 2019, or with
several passes its FreeLB form, Zhu et al. 2020), randomized smoothing with random perturbations
(`rs_rp`) or with synonym substitution done on the fly (`rs_da`), and the certified L2 radius of a
Gaussian-smoothed classifier (Cohen, Rosenfeld & Kolter, ICML 2019).
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import ConfigError
from .methods import METHODS, Forward, InitFrom, MethodContext, MethodSpec, Perturbation

NORMS = ("l2", "linf")
NOISES = ("gaussian", "uniform")
CASES = ("lower-only", "preserve")

# ---------------------------------------------------------------------------------------------------
# Options: every method's options are listed once, with their defaults; anything else is an error.


def resolve_options(what: str, options: dict, defaults: dict) -> dict:
    """`options` over `defaults`; `what` names the method or attack in the error, e.g. "method 'at'"."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none (it takes no options)"
        raise ConfigError(f"{what}: unknown option {unknown[0]!r}; allowed options: {allowed}")
    return {**defaults, **options}


def resolve_named_options(field: str, kind: str, requested, registry) -> dict[str, dict]:
    """`{name: {option: value}}` (a run's `attacks` or `smoothing` field) with each entry's defaults filled in
    and checked against `registry` (entries with `options` and `check`): an unknown name or option, or a bad
    value, is an error naming it. `name:` with nothing after it in YAML means the defaults."""
    if not isinstance(requested, dict):
        raise ConfigError(f"{field} must map {kind} names to {{option: value}}, got {requested!r}")
    resolved = {}
    for name, options in requested.items():
        spec = registry[name]
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise ConfigError(f"{field}[{name!r}] must map option names to values, got {options!r}")
        what = f"{kind} {name!r}"
        resolved[name] = resolve_options(what, options, spec.options)
        spec.check(what, resolved[name])
    return resolved


def check_number(what: str, name: str, value, *, low: float = 0.0, high: float = math.inf,
                 integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not (low <= value <= high) or not math.isfinite(value):
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ConfigError(f"{what}: option {name!r} must be {kind} {bounds}, got {value!r}")


def check_choice(what: str, name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{what}: option {name!r} must be one of {', '.join(allowed)}; got {value!r}")


def check_bool(what: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{what}: option {name!r} must be true or false, got {value!r}")


# ---------------------------------------------------------------------------------------------------
# Balls around each token's embedding, and projected gradient ascent inside them.


@dataclass(frozen=True)
class Ball:
    """Every real token's embedding may move by at most `radius`: in L2 norm over its coordinates
    ("l2"), or in each coordinate ("linf"). A ball per token, not per sentence, so long and short
    sentences get the same budget per word."""

    norm: str
    radius: float

    def project(self, delta: torch.Tensor) -> torch.Tensor:
        if self.norm == "linf":
            return delta.clamp(-self.radius, self.radius)
        lengths = delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return delta * (self.radius / lengths).clamp(max=1.0)

    def ascent(self, grad: torch.Tensor) -> torch.Tensor:
        """The steepest-ascent direction of unit size in this norm, per token."""
        if self.norm == "linf":
            return grad.sign()
        return grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def sample(self, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A point drawn uniformly from the ball, independently per token."""
        kw = dict(generator=generator, device=like.device, dtype=like.dtype)
        if self.norm == "linf":
            return (torch.rand(like.shape, **kw) * 2 - 1) * self.radius
        direction = torch.randn(like.shape, **kw)
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        # Uniform in volume: the radius of a uniform point in a d-ball is R * U^(1/d).
        scale = torch.rand(like.shape[:-1] + (1,), **kw) ** (1.0 / like.shape[-1])
        return direction * scale * self.radius


def token_scale(embedding_norm: float, hidden: int, norm: str, relative: bool) -> float:
    """The unit of a relative radius: the mean L2 norm of a token embedding for "l2", and that norm
    divided by sqrt(hidden) (a typical coordinate) for "linf" and per-coordinate noise. So a relative
    linf ball lies inside the relative l2 ball of the same epsilon."""
    if not relative:
        return 1.0
    return embedding_norm if norm == "l2" else embedding_norm / math.sqrt(hidden)


def real_tokens(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """The attention mask as a [batch, seq, 1] multiplier (1 on real tokens, 0 on padding)."""
    return None if mask is None else mask.unsqueeze(-1).to(like.dtype)


def _masked(delta: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    return delta if keep is None else delta * keep


def pgd(objective: Callable[[torch.Tensor], torch.Tensor], embeds: torch.Tensor, ball: Ball, *, steps: int,
        step_size: float, generator: torch.Generator, mask: torch.Tensor | None = None,
        random_start: bool = True) -> torch.Tensor:
    """Projected gradient ascent of `objective(embeds + delta)` (a scalar, or one value per example,
    summed) over `delta` in `ball`; returns `delta`, detached and zero on padding.

    Gradients are taken with torch.autograd.grad with respect to `delta` only, so the model's parameter
    gradients are left untouched; it works under torch.no_grad() too (evaluation-time attacks)."""
    base = embeds.detach()
    keep = real_tokens(mask, base)
    delta = _masked(ball.sample(base, generator) if random_start else torch.zeros_like(base), keep)
    with torch.enable_grad():
        for _ in range(steps):
            delta.requires_grad_(True)
            value = objective(base + delta)
            (grad,) = torch.autograd.grad(value.sum(), delta)
            delta = _masked(ball.project(delta.detach() + step_size * ball.ascent(grad)), keep)
    return delta.detach()


# ---------------------------------------------------------------------------------------------------
# at: PGD adversarial training (Madry et al., ICLR 2018) in the input-embedding space.

AT_OPTIONS = {"epsilon": 0.1, "norm": "l2", "steps": 3, "step_size": None, "relative": True,
              "random_start": True, "adv_weight": 0.5}


def check_ball_options(what: str, o: dict) -> None:
    check_number(what, "epsilon", o["epsilon"])
    check_choice(what, "norm", o["norm"], NORMS)
    check_number(what, "steps", o["steps"], low=1, integer=True)
    if o["step_size"] is not None:
        check_number(what, "step_size", o["step_size"])
    check_bool(what, "relative", o["relative"])
    check_bool(what, "random_start", o["random_start"])


class EmbeddingAdversary(Perturbation):
    """Loss = (1 - adv_weight) * clean + adv_weight * loss at the worst point PGD finds in the ball.

    A step costs one clean pass, `steps` ascent passes (forward + backward to the input only) and one
    adversarial pass: about (steps + 2) clean steps minus the parameter gradients of the ascent."""

    def __init__(self, *, epsilon: float, norm: str, steps: int, step_size: float | None, relative: bool,
                 random_start: bool, adv_weight: float, embedding_norm: float):
        self.epsilon, self.norm, self.steps, self.relative = epsilon, norm, steps, relative
        # Enough to cross the ball from a random start: 1.5 radii spread over the ascent steps.
        self.step_size = 1.5 * epsilon / steps if step_size is None else step_size
        self.random_start, self.adv_weight, self.embedding_norm = random_start, adv_weight, embedding_norm

    def scale(self, hidden: int) -> float:
        return token_scale(self.embedding_norm, hidden, self.norm, self.relative)

    def ball(self, embeds: torch.Tensor) -> Ball:
        return Ball(self.norm, self.epsilon * self.scale(embeds.shape[-1]))

    def perturbation(self, objective, embeds, generator, mask=None) -> torch.Tensor:
        return pgd(objective, embeds, self.ball(embeds), steps=self.steps,
                   step_size=self.step_size * self.scale(embeds.shape[-1]), generator=generator, mask=mask,
                   random_start=self.random_start)

    def training_loss(self, forward: Forward, embeds, backward, generator, mask=None):
        if self.adv_weight == 0:
            return forward(embeds).loss
        delta = self.perturbation(lambda e: forward(e).loss, embeds, generator, mask)
        adversarial = forward(embeds + delta).loss  # through `embeds`: the embedding matrix learns too
        if self.adv_weight == 1:
            return adversarial
        return (1 - self.adv_weight) * forward(embeds).loss + self.adv_weight * adversarial


def make_at(context: MethodContext, **options) -> EmbeddingAdversary:
    what = "method 'at'"
    o = resolve_options(what, options, AT_OPTIONS)
    check_ball_options(what, o)
    check_number(what, "adv_weight", o["adv_weight"], high=1.0)
    return EmbeddingAdversary(**o, embedding_norm=context.embedding_norm)


# ---------------------------------------------------------------------------------------------------
# free_at: "free" adversarial training (Shafahi et al., NeurIPS 2019) and, with more passes, FreeLB (Zhu et
# al., ICLR 2020): the passes that find the perturbation also train the parameters.

FREE_AT_OPTIONS = {"epsilon": 0.1, "norm": "l2", "steps": 1, "step_size": None, "relative": True,
                   "random_start": True}


class FreeAdversary(EmbeddingAdversary):
    """K = `steps` forward-backward passes per batch, each back-propagating loss_k / K into the parameters
    and giving the input gradient for the next ascent step; the perturbation delta is carried over from one
    batch to the next, so the ascent continues across batches instead of restarting.

    K = 1 (the default) is free adversarial training (Shafahi et al. 2019) with one replay: a step is one
    forward and one backward pass, about the cost of a clean step. The batch trains at delta_t; the same
    backward's gradient with respect to delta_t gives delta_{t+1} = project(delta_t + step * ascent) for the
    next batch. Since that batch holds other sentences, the carried delta is a per-position perturbation
    that keeps ascending the loss over the data (a universal-perturbation flavour), plus its random start.
    K >= 2 is FreeLB: K points delta_0..delta_{K-1} on the same batch, parameter gradient the mean over
    them, about K clean steps; PGD-K adversarial training (`at`) costs about K + 2.

    The carried delta is shaped like the batch [batch, sequence, hidden]. Batches differ in size and padded
    length (dynamic padding), so the overlapping block is kept and new positions get a fresh random start
    (zero without `random_start`); padding positions are zero. It is not part of a checkpoint: a resumed
    run restarts it from a random start."""

    def __init__(self, **options):
        super().__init__(**options, adv_weight=1.0)
        if options["step_size"] is None:  # about 1.5 radii spread over the ascent steps (at least one)
            self.step_size = 1.5 * self.epsilon / max(1, self.steps - 1)
        self._carried: torch.Tensor | None = None  # the last pass's delta, with .grad after the loop's backward

    def _start(self, embeds: torch.Tensor, ball: Ball, step: float, generator: torch.Generator) -> torch.Tensor:
        """The carried delta, advanced by one ascent step along its last gradient and fitted to this batch."""
        base = embeds.detach()
        fresh = ball.sample(base, generator) if self.random_start else torch.zeros_like(base)
        previous = self._carried
        if previous is None or previous.shape[-1] != base.shape[-1]:
            return fresh
        moved = previous.detach()
        if previous.grad is not None:
            moved = ball.project(moved + step * ball.ascent(previous.grad))
        b, s = min(moved.shape[0], base.shape[0]), min(moved.shape[1], base.shape[1])
        fresh[:b, :s] = moved[:b, :s].to(fresh.dtype)
        return fresh

    def training_loss(self, forward: Forward, embeds, backward, generator, mask=None):
        k = self.steps
        ball, step = self.ball(embeds), self.step_size * self.scale(embeds.shape[-1])
        keep = real_tokens(mask, embeds)
        delta = _masked(self._start(embeds, ball, step, generator), keep)
        earlier = torch.zeros((), device=embeds.device)
        for _ in range(k - 1):
            delta.requires_grad_(True)
            loss = forward(embeds + delta).loss
            # retain_graph: the K passes share the embedding lookup, which a plain backward would free.
            backward(loss / k, retain_graph=True)
            earlier = earlier + loss.detach()
            delta = _masked(ball.project(delta.detach() + step * ball.ascent(delta.grad)), keep)
        # The last point is a leaf that requires grad: the loop's own backward fills its .grad, which the
        # next batch's first ascent step uses. Parameter gradients are not affected by it.
        self._carried = delta.detach().requires_grad_(True)
        last = forward(embeds + self._carried).loss
        # The loop back-propagates last / K (its gradient); the value reported is the mean of all K losses.
        return last / k + (earlier / k).detach()


def make_free_at(context: MethodContext, **options) -> FreeAdversary:
    what = "method 'free_at'"
    o = resolve_options(what, options, FREE_AT_OPTIONS)
    check_ball_options(what, o)
    return FreeAdversary(**o, embedding_norm=context.embedding_norm)


# ---------------------------------------------------------------------------------------------------
# rs_rp: randomized smoothing with random perturbations of the input embeddings.

RS_RP_OPTIONS = {"noise": "gaussian", "sigma": 0.1, "epsilon": 0.1, "relative": True, "n_samples": 1,
                 "smooth_predictions": False, "smooth_n_samples": 10}


def vote_logits(predict_once: Callable[[], torch.Tensor], n_samples: int) -> torch.Tensor:
    """Vote counts over `n_samples` draws of `predict_once()` (logits), as float logits: argmax gives
    the majority label, a tie going to the lowest label index (torch.argmax returns the first maximum)."""
    votes = None
    for _ in range(n_samples):
        logits = predict_once()
        one_hot = torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1])
        votes = one_hot if votes is None else votes + one_hot
    return votes.float()


class RandomNoise(Perturbation):
    """Training on noisy copies of the input embeddings (the loss averaged over `n_samples` draws):
    "gaussian" adds N(0, sigma_abs^2) to every coordinate of every real token, "uniform" moves each real
    token to a uniform point of an L2 ball of radius epsilon. Relative sizes are in units of the mean
    token norm: sigma_abs = sigma * norm / sqrt(hidden), so a token's noise has L2 norm about
    sigma * norm. With `smooth_predictions`, prediction is a majority vote over `smooth_n_samples` draws."""

    def __init__(self, *, noise: str, sigma: float, epsilon: float, relative: bool, n_samples: int,
                 smooth_predictions: bool, smooth_n_samples: int, embedding_norm: float):
        self.noise, self.sigma, self.epsilon, self.relative = noise, sigma, epsilon, relative
        self.n_samples, self.smooth_predictions, self.smooth_n_samples = n_samples, smooth_predictions, smooth_n_samples
        self.embedding_norm = embedding_norm

    def absolute_sigma(self, hidden: int) -> float:
        """The per-coordinate standard deviation: the sigma of Cohen et al.'s certified radius (which holds
        for noise="gaussian" only)."""
        return self.sigma * token_scale(self.embedding_norm, hidden, "linf", self.relative)

    def draw(self, embeds: torch.Tensor, generator: torch.Generator, mask=None) -> torch.Tensor:
        base = embeds.detach()
        if self.noise == "gaussian":
            noise = torch.randn(base.shape, generator=generator, device=base.device, dtype=base.dtype)
            noise = noise * self.absolute_sigma(base.shape[-1])
        else:
            radius = self.epsilon * token_scale(self.embedding_norm, base.shape[-1], "l2", self.relative)
            noise = Ball("l2", radius).sample(base, generator)
        return _masked(noise, real_tokens(mask, base))

    def training_loss(self, forward: Forward, embeds, backward, generator, mask=None):
        losses = [forward(embeds + self.draw(embeds, generator, mask)).loss for _ in range(self.n_samples)]
        return torch.stack(losses).mean()

    def predict_logits(self, forward: Forward, embeds, generator, mask=None):
        if not self.smooth_predictions:
            return forward(embeds).logits
        return vote_logits(lambda: forward(embeds + self.draw(embeds, generator, mask)).logits,
                           self.smooth_n_samples)


def make_rs_rp(context: MethodContext, **options) -> RandomNoise:
    what = "method 'rs_rp'"
    o = resolve_options(what, options, RS_RP_OPTIONS)
    check_choice(what, "noise", o["noise"], NOISES)
    check_number(what, "sigma", o["sigma"])
    check_number(what, "epsilon", o["epsilon"])
    check_bool(what, "relative", o["relative"])
    check_number(what, "n_samples", o["n_samples"], low=1, integer=True)
    check_bool(what, "smooth_predictions", o["smooth_predictions"])
    check_number(what, "smooth_n_samples", o["smooth_n_samples"], low=1, integer=True)
    return RandomNoise(**o, embedding_norm=context.embedding_norm)


# ---------------------------------------------------------------------------------------------------
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
                 keep_original: bool = False, smooth_n_samples: int = 10):
        self.substitutions, self.text_fields = substitutions, text_fields
        self.copies, self.keep_original, self.smooth_n_samples = copies, keep_original, smooth_n_samples

    def substitute(self, example: dict, rng: random.Random) -> dict:
        out = dict(example)
        for name in self.text_fields:
            out[name] = self.substitutions.substitute_text(example[name], rng)
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
        from .neighbors import load_neighbors

        return load_neighbors(neighbors, sha256)
    if context.world is not None:
        return context.world.synonyms(context.src_lang)
    raise ConfigError(f"{what} needs synonym sets: on the real path set its option 'neighbors' to the "
                      "counter-fitted neighbours file (a path or URL; see xltlib.neighbors.COUNTERFITTED_URL)")


def make_rs_da(context: MethodContext, **options) -> RandomSubstitution:
    what = "method 'rs_da'"
    o = resolve_options(what, options, RS_DA_OPTIONS)
    check_number(what, "copies", o["copies"], low=1, integer=True)
    check_bool(what, "keep_original", o["keep_original"])
    check_choice(what, "case", o["case"], CASES)
    check_number(what, "smooth_n_samples", o["smooth_n_samples"], low=1, integer=True)
    if o["neighbors_sha256"] is not None and not isinstance(o["neighbors_sha256"], str):
        raise ConfigError(f"{what}: option 'neighbors_sha256' must be a hex string, got {o['neighbors_sha256']!r}")
    if not context.text_fields:
        raise ConfigError(f"{what} needs the task's text fields to substitute in; the method context has none")
    table = neighbor_table(context, o["neighbors"], o["neighbors_sha256"], what)
    return RandomSubstitution(Substitutions(table, o["case"]), tuple(context.text_fields), copies=o["copies"],
                              keep_original=o["keep_original"], smooth_n_samples=o["smooth_n_samples"])


def smoothed_predict_labels(model, examples: list[dict], collate, batch_size: int,
                            substitution: RandomSubstitution, n_samples: int | None = None,
                            seed: int = 0) -> np.ndarray:
    """RS-DA's smoothed classifier: the majority label over `n_samples` (default: the method's
    `smooth_n_samples`) substituted copies of every example; a tie goes to the lowest label index."""
    from .evaluate import predict_labels  # evaluate imports methods, which imports this module

    n = substitution.smooth_n_samples if n_samples is None else n_samples
    check_number("smoothed_predict_labels", "n_samples", n, low=1, integer=True)
    votes = np.zeros((len(examples), model.config.num_labels), dtype=np.int64)
    for draw in range(n):
        rng = random.Random(f"smooth|{seed}|{draw}")
        labels = predict_labels(model, [substitution.substitute(e, rng) for e in examples], collate, batch_size,
                                seed=seed)
        votes[np.arange(len(examples)), labels] += 1
    return votes.argmax(1)  # numpy's argmax also returns the first maximum


# ---------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------

METHODS.register("at", MethodSpec(
    "at", InitFrom.PRETRAINED_ENCODER, make_at, options=AT_OPTIONS,
    description="adversarial training: PGD in the input-embedding space (Huang et al. 2021 AT)"))
METHODS.register("free_at", MethodSpec(
    "free_at", InitFrom.PRETRAINED_ENCODER, make_free_at, options=FREE_AT_OPTIONS,
    description="free adversarial training: one pass per batch, the perturbation carried across batches "
                "(steps >= 2: FreeLB)"))
METHODS.register("rs_rp", MethodSpec(
    "rs_rp", InitFrom.PRETRAINED_ENCODER, make_rs_rp, options=RS_RP_OPTIONS,
    description="randomized smoothing with random perturbations of the input embeddings (RS-RP)"))
METHODS.register("rs_da", MethodSpec(
    "rs_da", InitFrom.PRETRAINED_ENCODER, make_rs_da, options=RS_DA_OPTIONS,
    description="randomized smoothing with synonym substitution on the fly (RS-DA)"))
