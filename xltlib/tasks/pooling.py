"""Mean pooling for sentence-level heads: BERT's pooler (its dense layer and tanh, the same weights, so a saved
model's keys are unchanged) over the mean of the last layer's real tokens instead of the first token's state.

An option (`classifier_pooling: mean`; the default is the first token, as BERT and XLM-R). On the embedded world's
tiny encoder it removed most of the fine-tuning loss plateau in a lean harness, but not in notebook 01's own
setting, where it also narrowed the PAWS-X-like transfer (measured: docs/embedded-world-notes.md). Sentence encoders
mean-pool (Reimers & Gurevych, 2019).
"""
from __future__ import annotations

import torch

from ..core.errors import ConfigError

SENTENCE_HEADS = ("ForSequenceClassification", "ForMultipleChoice")


class MaskedMeanPooler(torch.nn.Module):
    """The mean of the last layer over the attention mask, through the encoder's own pooler layers. The mask comes
    from the encoder's call (a forward pre-hook), so padding never enters the mean and an example's output does not
    depend on its batch."""

    def __init__(self, pooler: torch.nn.Module):
        super().__init__()
        self.dense, self.activation = pooler.dense, pooler.activation
        self.mask: torch.Tensor | None = None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        mask = self.mask if self.mask is not None else hidden_states.new_ones(hidden_states.shape[:2])
        weights = mask.to(hidden_states.dtype).unsqueeze(-1)
        mean = (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.activation(self.dense(mean))


def mean_pool(model):
    """`model` with a `MaskedMeanPooler` (once); token-level heads, which have no pooler, are left as they are."""
    base = getattr(model, model.base_model_prefix, model)
    pooler = getattr(base, "pooler", None)
    if isinstance(pooler, MaskedMeanPooler):
        return model
    if pooler is None:
        if model.__class__.__name__.endswith(SENTENCE_HEADS):
            raise ConfigError(f"classifier_pooling: 'mean' needs a BERT-like model with a pooler; "
                              f"{model.__class__.__name__} has none: set classifier_pooling: cls")
        return model
    base.pooler = MaskedMeanPooler(pooler)

    def take_mask(module, args, kwargs):
        base.pooler.mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)

    base.register_forward_pre_hook(take_mask, with_kwargs=True)
    model.config.classifier_pooling = "mean"
    return model
