"""LoRA (Hu et al., ICLR 2022) through `peft`: low-rank updates injected into the encoder's named linear modules
(`inject_adapter_in_model`, so the model keeps its transformers class and the training loop sees a plain model).
The targets default per architecture (BERT, XLM-R: `query`, `value`, as peft's own defaults) and are checked
against the model's module names before anything trains. The task head stays outside the LoRA layers and is
trained whole (what peft's `modules_to_save` does for a classifier)."""
from __future__ import annotations

import torch
from torch import nn

from ...core.errors import ConfigError

DEFAULT_TARGETS = {"bert": ("query", "value"), "roberta": ("query", "value"), "xlm-roberta": ("query", "value")}


def linear_module_names(encoder: nn.Module) -> list[str]:
    """The last name part of every linear module: what a LoRA target names."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in encoder.named_modules()
                   if isinstance(module, nn.Linear)})


def lora_targets(model, requested) -> tuple[str, ...]:
    """`requested` (or the architecture's default targets when empty), each a linear module of the encoder."""
    model_type = model.config.model_type
    targets = tuple(requested) or DEFAULT_TARGETS.get(model_type)
    candidates = linear_module_names(model.base_model)
    if not targets:
        raise ConfigError(f"method 'lora': no default target modules for model type {model_type!r}; name them with "
                          f"target_modules, from this model's linear modules: {', '.join(candidates)}")
    for target in targets:
        if target not in candidates:
            raise ConfigError(f"method 'lora': target module {target!r} is not in this model ({model_type}); its "
                              f"linear modules: {', '.join(candidates)}")
    return targets


def apply_lora(model, *, rank: int, alpha: float, dropout: float, target_modules, seed: int):
    """Inject LoRA layers into `model`'s encoder (seeded A matrices; B starts at zero, so outputs are unchanged)."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=list(lora_targets(model, target_modules)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        inject_adapter_in_model(config, model.base_model)
    return model


def lora_parameter_names(model) -> list[str]:
    return [name for name, _ in model.named_parameters() if ".lora_" in name]
