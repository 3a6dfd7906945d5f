"""Randomized smoothing with random perturbations (`rs_rp`, Huang et al., EMNLP 2021): training on noisy copies of
the input embeddings, and optionally predicting by a majority vote over noisy copies."""
from __future__ import annotations

from typing import Callable

import torch

from ..core.options import check_bool, check_choice, check_number, resolve_options
from .balls import Ball, _masked, real_tokens, token_scale
from .spec import Forward, MethodContext, Perturbation

NOISES = ("gaussian", "uniform")

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
        self.smooths_predictions = smooth_predictions

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
    o = resolve_options("method 'rs_rp'", options, RS_RP_OPTIONS)
    check_rs_rp("method 'rs_rp'", o)
    return RandomNoise(**o, embedding_norm=context.embedding_norm)


def check_rs_rp(what: str, o: dict) -> None:
    check_choice(what, "noise", o["noise"], NOISES)
    check_number(what, "sigma", o["sigma"])
    check_number(what, "epsilon", o["epsilon"])
    check_bool(what, "relative", o["relative"])
    check_number(what, "n_samples", o["n_samples"], low=1, integer=True)
    check_bool(what, "smooth_predictions", o["smooth_predictions"])
    check_number(what, "smooth_n_samples", o["smooth_n_samples"], low=1, integer=True)
