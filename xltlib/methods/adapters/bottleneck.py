"""Bottleneck adapters (Houlsby et al., ICML 2019; Pfeiffer et al., EACL 2021) and MAD-X's invertible embedding
adapter (Pfeiffer et al., EMNLP 2020), inserted into a transformers encoder through forward hooks: no layer code is
copied. `pfeiffer` places one adapter after each layer's feed-forward output, `houlsby` one after its attention
output too. Adapters sit in a stack (`model.xlt_adapters`), applied bottom to top at every site, so a language
adapter can sit below a task adapter and be swapped on its own. Each adapter's up-projection starts at zero, so a
new adapter leaves the model's outputs as they were; one adapter is saved and loaded alone (safetensors + config).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ...core.errors import ConfigError

PLACEMENTS = {"pfeiffer": ("ffn",), "houlsby": ("attn", "ffn")}
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
# Where a site's output is, per architecture: the module whose output the adapter rewrites, under encoder.layer[i].
SITE_MODULES = {"attn": "attention.output", "ffn": "output"}
ARCHITECTURES = ("bert", "roberta", "xlm-roberta")
STACK_ATTRIBUTE = "xlt_adapters"
CONFIG_FILE, WEIGHTS_FILE = "adapter_config.json", "adapter.safetensors"


@dataclass(frozen=True)
class AdapterConfig:
    placement: str = "pfeiffer"
    reduction_factor: int = 16  # bottleneck size = hidden size / reduction_factor
    invertible: bool = False  # MAD-X's invertible adapter on the embeddings (language adapters)
    non_linearity: str = "relu"


class Bottleneck(nn.Module):
    """h + up(act(down(h))), `up` zero-initialised: the identity until trained."""

    def __init__(self, hidden: int, reduction_factor: int, non_linearity: str):
        super().__init__()
        self.down = nn.Linear(hidden, hidden // reduction_factor)
        self.act = ACTIVATIONS[non_linearity]()
        self.up = nn.Linear(hidden // reduction_factor, hidden)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.up(self.act(self.down(hidden)))


class InvertibleAdapter(nn.Module):
    """A NICE coupling block (Dinh et al., 2015) as MAD-X puts on the embeddings: y1 = x1 + F(x2), y2 = x2 + G(y1),
    exactly invertible, so an MLM head reads the inverse of what the embeddings produced. F and G are bottlenecks
    (reduction 2 of half the hidden size) whose output layers start at zero."""

    def __init__(self, hidden: int, non_linearity: str):
        super().__init__()
        half = hidden // 2
        self.f, self.g = (nn.Sequential(nn.Linear(half, max(1, half // 2)), ACTIVATIONS[non_linearity](),
                                        nn.Linear(max(1, half // 2), half)) for _ in range(2))
        for block in (self.f, self.g):
            nn.init.zeros_(block[-1].weight)
            nn.init.zeros_(block[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=-1)
        y1 = x1 + self.f(x2)
        return torch.cat([y1, x2 + self.g(y1)], dim=-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y1, y2 = y.chunk(2, dim=-1)
        x2 = y2 - self.g(y1)
        return torch.cat([y1 - self.f(x2), x2], dim=-1)


class Adapter(nn.Module):
    """One named adapter: a bottleneck per (layer, site) of its placement, and optionally the invertible adapter."""

    def __init__(self, config: AdapterConfig, hidden: int, num_layers: int):
        super().__init__()
        self.config = config
        self.sites = nn.ModuleDict({site_key(i, site): Bottleneck(hidden, config.reduction_factor,
                                                                  config.non_linearity)
                                    for i in range(num_layers) for site in PLACEMENTS[config.placement]})
        self.invertible = InvertibleAdapter(hidden, config.non_linearity) if config.invertible else None


def site_key(layer: int, site: str) -> str:
    return f"layer{layer}_{site}"


class AdapterStack(nn.Module):
    """The model's adapters by name, and the order they apply in (bottom first). Forward hooks on every site call
    it; a site an adapter does not cover (a Pfeiffer adapter at an attention site) passes through."""

    def __init__(self):
        super().__init__()
        self.adapters = nn.ModuleDict()
        self.order: list[str] = []

    def at_site(self, key: str, hidden: torch.Tensor) -> torch.Tensor:
        for name in self.order:
            sites = self.adapters[name].sites
            if key in sites:
                hidden = sites[key](hidden)
        return hidden

    def embeddings(self, hidden: torch.Tensor) -> torch.Tensor:
        for name in self.order:
            if self.adapters[name].invertible is not None:
                hidden = self.adapters[name].invertible(hidden)
        return hidden

    def before_output_embeddings(self, hidden: torch.Tensor) -> torch.Tensor:
        for name in reversed(self.order):
            if self.adapters[name].invertible is not None:
                hidden = self.adapters[name].invertible.inverse(hidden)
        return hidden


def encoder_layers(model) -> nn.ModuleList:
    model_type = model.config.model_type
    if model_type not in ARCHITECTURES:
        raise ConfigError(f"bottleneck adapters know the layers of {', '.join(ARCHITECTURES)} encoders; this model "
                          f"is {model_type!r}")
    return model.base_model.encoder.layer


def check_reduction_factor(model, reduction_factor: int, what: str = "adapter reduction_factor") -> None:
    hidden = model.config.hidden_size
    if hidden % reduction_factor:
        divisors = [d for d in range(2, hidden + 1) if hidden % d == 0][:8]
        raise ConfigError(f"{what} {reduction_factor} does not divide the model's hidden size {hidden}; use one of "
                          f"{', '.join(map(str, divisors))}")


def adapter_stack(model) -> AdapterStack:
    """`model`'s adapter stack, created with its hooks on first use."""
    stack = getattr(model, STACK_ATTRIBUTE, None)
    if stack is not None:
        return stack
    layers = encoder_layers(model)
    stack = AdapterStack()
    model.add_module(STACK_ATTRIBUTE, stack)
    for i, layer in enumerate(layers):
        for site, path in SITE_MODULES.items():
            key = site_key(i, site)
            layer.get_submodule(path).register_forward_hook(
                lambda module, args, output, key=key: stack.at_site(key, output))
    model.base_model.embeddings.register_forward_hook(lambda module, args, output: stack.embeddings(output))
    head = model.get_output_embeddings()
    if head is not None:  # an MLM head reads the inverse of the invertible adapters (MAD-X)
        head.register_forward_pre_hook(lambda module, args: (stack.before_output_embeddings(args[0]), *args[1:]))
    return stack


def add_adapter(model, name: str, config: AdapterConfig, seed: int, position: int | None = None) -> Adapter:
    """A new adapter `name` at the top of the stack (or at `position`), its random init seeded by `seed`."""
    if config.placement not in PLACEMENTS:
        raise ConfigError(f"adapter placement {config.placement!r}: use one of {', '.join(PLACEMENTS)}")
    check_reduction_factor(model, config.reduction_factor)
    stack = adapter_stack(model)
    if name in stack.adapters:
        raise ValueError(f"adapter {name!r} is in the stack already; remove it first")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        adapter = Adapter(config, model.config.hidden_size, len(encoder_layers(model)))
    parameter = next(model.parameters())
    stack.adapters[name] = adapter.to(device=parameter.device, dtype=parameter.dtype)
    stack.order.insert(len(stack.order) if position is None else position, name)
    return adapter


def remove_adapter(model, name: str) -> int:
    """Take adapter `name` out of the stack; returns the position it had."""
    stack = adapter_stack(model)
    position = stack.order.index(name)
    stack.order.remove(name)
    del stack.adapters[name]
    return position


def save_adapter(model, name: str, directory: str | Path) -> Path:
    """Adapter `name` alone: its weights (safetensors) and its config with the shape of the model it fits; written
    beside and renamed, so the folder is whole or absent."""
    from safetensors.torch import save_file

    directory = Path(directory)
    adapter = adapter_stack(model).adapters[name]
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in adapter.state_dict().items()}, str(tmp / WEIGHTS_FILE))
    shape = {"model_type": model.config.model_type, "hidden_size": model.config.hidden_size,
             "num_layers": len(encoder_layers(model))}
    (tmp / CONFIG_FILE).write_text(json.dumps({"adapter": asdict(adapter.config), "model": shape}, indent=1))
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)
    return directory


def read_adapter_config(directory: str | Path) -> tuple[AdapterConfig, dict]:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"adapter folder {directory}: no {CONFIG_FILE}; save adapters with save_adapter")
    saved = json.loads(path.read_text())
    return AdapterConfig(**saved["adapter"]), saved["model"]


def load_adapter(model, directory: str | Path, name: str, position: int | None = None) -> Adapter:
    """The adapter saved in `directory`, into `model`'s stack as `name` (at the top, or at `position`)."""
    from safetensors.torch import load_file

    config, shape = read_adapter_config(directory)
    found = {"hidden_size": model.config.hidden_size, "num_layers": len(encoder_layers(model))}
    if any(shape[k] != v for k, v in found.items()):
        raise ConfigError(f"adapter folder {directory} fits a model with hidden size {shape['hidden_size']} and "
                          f"{shape['num_layers']} layers; this model has {found['hidden_size']} and "
                          f"{found['num_layers']}")
    adapter = add_adapter(model, name, config, seed=0, position=position)
    adapter.load_state_dict(load_file(str(Path(directory) / WEIGHTS_FILE), device=str(next(model.parameters()).device)))
    return adapter


def swap_adapter(model, name: str, directory: str | Path) -> Adapter:
    """Replace adapter `name` by the one saved in `directory`, at the same place in the stack, as it was frozen or
    not."""
    trainable = any(p.requires_grad for p in adapter_stack(model).adapters[name].parameters())
    adapter = load_adapter(model, directory, name, position=remove_adapter(model, name))
    adapter.requires_grad_(trainable)
    return adapter
