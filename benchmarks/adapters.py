"""What parameter-efficient methods cost next to full fine-tuning: trainable parameters, optimizer-state memory and
step time of `lora`, `bottleneck` and `madx` as ratios to full fine-tuning (`standard`), side by side in one run.

Two encoders, random weights (cost does not depend on them): the default embedded world's (hidden 64, 4 layers, its
encoder's config.json when the world is built, else the preset's sizes) and one of XLM-R base's size (hidden 768,
12 layers, 250,002-token vocabulary: 278M parameters; built from its config, no download). Each method is applied
by its registered model modifier with its default options (MAD-X: a frozen language adapter of reduction 2 with
the invertible adapter, a task adapter of 16 over it). A step is forward, backward and an AdamW step on a sequence
classification batch of random token ids, timed outside the training loop (which adds the same data work to every
method); methods take turns in rounds, first one rotating, and a method's ratio is the median over rounds of its
median step over full fine-tuning's in the same round (each model built once, kept for every round). Optimizer
state is the bytes of AdamW's moment tensors after one step.

    python benchmarks/adapters.py            # writes outputs/bench/adapters.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from xltlib.core.atomic import atomic_write_json  # noqa: E402
from xltlib.core.paths import outputs_dir  # noqa: E402
from xltlib.methods import METHODS  # noqa: E402
from xltlib.methods.adapters import AdapterConfig, ModifierContext, add_adapter, save_adapter  # noqa: E402
from xltlib.world.presets import PRESETS  # noqa: E402

ROWS = ["standard", "lora", "bottleneck", "madx"]  # standard: full fine-tuning, the reference


def world_config():
    """The default world's encoder config (its config.json if built), as a sequence classifier of 3 labels."""
    from transformers import BertConfig

    built = sorted((outputs_dir() / "world").glob("default-*/encoder/config.json"))
    if built:
        return BertConfig.from_pretrained(built[0].parent, num_labels=3), str(built[0])
    preset = PRESETS["default"]
    return BertConfig(vocab_size=578, hidden_size=preset.hidden_size, num_hidden_layers=preset.num_hidden_layers,
                      num_attention_heads=preset.num_attention_heads, intermediate_size=preset.intermediate_size,
                      max_position_embeddings=64, num_labels=3), "the default preset's sizes (world not built)"


def xlmr_base_config():
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                            intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1,
                            pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=3), "XLM-R base's sizes"


def build(config, method: str, lang_dir: Path):
    """A fresh model of `config` with `method`'s modifier applied, and its optimizer."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    spec = METHODS[method]
    if spec.modifier is not None:
        context = ModifierContext(seed=0, language_adapter=lambda lang: lang_dir)
        model = spec.modifier.apply(model, spec.resolve({}), context)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    return model, optimizer


def language_adapter(config, directory: Path) -> Path:
    """A language adapter as `madx` loads it (its weights do not change the cost)."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_config(config)
    options = METHODS["madx"].resolve({})
    add_adapter(model, "lang", AdapterConfig("pfeiffer", options["lang_reduction_factor"], True), seed=0)
    return save_adapter(model, "lang", directory)


def step(model, optimizer, batch) -> float:
    started = time.perf_counter()
    model(**batch).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def optimizer_bytes(optimizer) -> int:
    return sum(t.numel() * t.element_size() for state in optimizer.state.values() for t in state.values()
               if torch.is_tensor(t))


def measure(name: str, config, source: str, batch_size: int, seq_len: int, steps: int, rounds: int,
            work: Path) -> dict:
    generator = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(5, config.vocab_size, (batch_size, seq_len), generator=generator),
             "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long),
             "labels": torch.randint(0, 3, (batch_size,), generator=generator)}
    lang_dir = language_adapter(config, work / f"{name}-lang")
    rows, times, models = {}, {m: [] for m in ROWS}, {}
    for method in ROWS:  # every model kept for the rounds (XLM-R base: about 8 GB in all)
        model, optimizer = build(config, method, lang_dir)
        step(model, optimizer, batch)  # warm-up: allocations, the optimizer's state
        rows[method] = {"trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                        "total_parameters": sum(p.numel() for p in model.parameters()),
                        "optimizer_state_bytes": optimizer_bytes(optimizer)}
        models[method] = model, optimizer
    for r in range(rounds):
        order = ROWS[r % len(ROWS):] + ROWS[:r % len(ROWS)]
        round_times = {}
        for method in order:
            model, optimizer = models[method]
            step(model, optimizer, batch)  # the first step after another model's turn refills the caches
            round_times[method] = statistics.median(step(model, optimizer, batch) for _ in range(steps))
        for method in ROWS:
            times[method].append(round_times[method] / round_times["standard"])
        print(f"{name} round {r + 1}/{rounds}: " + ", ".join(f"{m} {round_times[m] * 1e3:.0f} ms" for m in ROWS),
              flush=True)
    del models
    full = rows["standard"]
    for method in ROWS:
        row = rows[method]
        row["trainable_ratio"] = row["trainable_parameters"] / full["trainable_parameters"]
        row["optimizer_state_ratio"] = row["optimizer_state_bytes"] / full["optimizer_state_bytes"]
        row["step_time_ratio"] = statistics.median(times[method])
        row["step_time_ratio_by_round"] = times[method]
    return {"config": source, "hidden_size": config.hidden_size, "num_hidden_layers": config.num_hidden_layers,
            "vocab_size": config.vocab_size, "batch_size": batch_size, "seq_len": seq_len, "steps": steps,
            "rounds": rounds, "methods": rows}


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per method and round (world encoder)")
    parser.add_argument("--xlmr-steps", type=int, default=3, help="timed steps per method and round (XLM-R base)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=outputs_dir() / "bench" / "adapters.json")
    args = parser.parse_args()
    results = {"machine": {"platform": platform.platform(), "torch": torch.__version__,
                           "threads": torch.get_num_threads(), "device": "cpu"}}
    with tempfile.TemporaryDirectory() as tmp:
        config, source = world_config()
        results["world_encoder"] = measure("world", config, source, 32, 64, args.steps, args.rounds, Path(tmp))
        config, source = xlmr_base_config()
        results["xlmr_base"] = measure("xlmr-base", config, source, 8, 128, args.xlmr_steps, args.rounds, Path(tmp))
    atomic_write_json(args.out, results)
    for name in ("world_encoder", "xlmr_base"):
        print(name)
        for method, row in results[name]["methods"].items():
            print(f"  {method:<11} trainable {row['trainable_parameters']:>11,} ({row['trainable_ratio']:.4f})  "
                  f"optimizer state {row['optimizer_state_ratio']:.4f}  step time {row['step_time_ratio']:.2f}")
    print(json.dumps(str(args.out)))


if __name__ == "__main__":
    main()
