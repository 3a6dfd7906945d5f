"""Parameter-efficient fine-tuning as model modifiers: LoRA through `peft` (`lora`), the project's own bottleneck
adapters inserted through forward hooks (`bottleneck`: Pfeiffer or Houlsby placement, an invertible embedding
adapter), and the MAD-X stack of a language adapter below a task adapter (`modifiers`). May import `xltlib.core`.
"""
from .bottleneck import (AdapterConfig, adapter_stack, add_adapter, load_adapter, remove_adapter, save_adapter,
                         swap_adapter)
from .lora import DEFAULT_TARGETS, apply_lora, linear_module_names
from .modifiers import (BOTTLENECK_OPTIONS, LANGUAGE_ADAPTER_OPTIONS, LORA_OPTIONS, MADX_OPTIONS, Bottleneck, Lora,
                        MadX, ModelModifier, ModifierContext, check_bottleneck, check_lora, check_madx,
                        head_parameter_names, language_adapter_config, train_only)

__all__ = ["AdapterConfig", "adapter_stack", "add_adapter", "load_adapter", "remove_adapter", "save_adapter",
           "swap_adapter", "DEFAULT_TARGETS", "apply_lora", "linear_module_names", "BOTTLENECK_OPTIONS",
           "LANGUAGE_ADAPTER_OPTIONS", "LORA_OPTIONS", "MADX_OPTIONS", "Bottleneck", "Lora", "MadX", "ModelModifier",
           "ModifierContext", "check_bottleneck", "check_lora", "check_madx", "head_parameter_names",
           "language_adapter_config", "train_only"]
