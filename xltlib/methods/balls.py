"""Balls around each token's input embedding and projected gradient ascent inside them: the one PGD that
adversarial training (`at`, `free_at`) and the test-time embedding attack (`xltlib.robustness.attacks`) share
(Madry et al., ICLR 2018). Radii may be relative to the mean token-embedding norm."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..core.options import check_bool, check_choice, check_number

NORMS = ("l2", "linf")


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


def check_ball_options(what: str, o: dict) -> None:
    check_number(what, "epsilon", o["epsilon"])
    check_choice(what, "norm", o["norm"], NORMS)
    check_number(what, "steps", o["steps"], low=1, integer=True)
    if o["step_size"] is not None:
        check_number(what, "step_size", o["step_size"])
    check_bool(what, "relative", o["relative"])
    check_bool(what, "random_start", o["random_start"])
