"""Adversarial training in the input-embedding space (Huang, Ahmad, Peng & Chang, EMNLP 2021): `at`, PGD (Madry et
al. 2018); `free_at`, "free" adversarial training at about the cost of a clean step (Shafahi et al. 2019), or with
several passes its FreeLB form (Zhu et al. 2020). Defined for every task type whose model takes input embeddings.
"""
from __future__ import annotations

import torch

from ..core.options import check_number, resolve_options
from .balls import Ball, _masked, check_ball_options, pgd, real_tokens, token_scale
from .spec import Forward, MethodContext, Perturbation

# at: PGD adversarial training (Madry et al., ICLR 2018) in the input-embedding space.

AT_OPTIONS = {"epsilon": 0.1, "norm": "l2", "steps": 3, "step_size": None, "relative": True,
              "random_start": True, "adv_weight": 0.5}


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
    o = resolve_options("method 'at'", options, AT_OPTIONS)
    check_at(o)
    return EmbeddingAdversary(**o, embedding_norm=context.embedding_norm)


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
    o = resolve_options("method 'free_at'", options, FREE_AT_OPTIONS)
    check_ball_options("method 'free_at'", o)
    return FreeAdversary(**o, embedding_norm=context.embedding_norm)


def check_at(o: dict, what: str = "method 'at'") -> None:
    check_ball_options(what, o)
    check_number(what, "adv_weight", o["adv_weight"], high=1.0)
