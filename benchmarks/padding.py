"""Training-loop throughput with every batch padded to 128 tokens against dynamic padding (to the longest
sequence in the batch), on the same data, measured side by side in one run.

Run: `make bench` (or `python benchmarks/padding.py [--steps N] [--preset default|tiny] [--repeats R]`).
Writes outputs/bench/padding.json. Absolute times on a shared machine are noisy; the ratio is the result.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from xltlib.core.atomic import atomic_write_json
from xltlib.core.config import RunConfig
from xltlib.core.paths import outputs_dir
from xltlib.core.quiet import quiet_libraries
from xltlib.run.experiment import load_task_data
from xltlib.run.loop import train
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.models import load_tokenizer
from xltlib.world.build import get_world


def time_training(cfg: RunConfig, data, tokenizer, world, steps: int) -> tuple[float, float]:
    """Seconds for `steps` optimizer steps, and the mean padded batch length."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    spec = TASKS[data.spec.name]
    # The world's encoder architecture with 128 positions (it was pretrained with 64); speed does not
    # depend on the weights, so random ones measure the same thing.
    config = AutoConfig.from_pretrained(world.encoder_dir, max_position_embeddings=128, num_labels=spec.num_labels)
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_config(config)
    collate = handler_for(spec).collate(spec, tokenizer, cfg, cfg.max_seq_length)
    lengths = [collate(data.train[i:i + cfg.per_device_train_batch_size])["input_ids"].shape[1]
               for i in range(0, steps * cfg.per_device_train_batch_size, cfg.per_device_train_batch_size)]
    started = time.perf_counter()
    train(model, data.train, collate, cfg, seed=1, max_steps=steps, desc="bench")
    return time.perf_counter() - started, statistics.mean(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--task", default="xnli")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    quiet_libraries()
    world = get_world(args.preset)
    base = RunConfig(world_preset=args.preset, tasks=(args.task,), learning_rate=1e-4, max_seq_length=128,
                     per_device_train_batch_size=32, save_steps=10**9, num_train_epochs=1.0)
    data = load_task_data(base, args.task, world)
    tokenizer = load_tokenizer(str(world.encoder_dir))
    results = {"dynamic": [], "fixed_128": []}
    lengths = {}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        for name, pad in (("dynamic", False), ("fixed_128", True)):
            seconds, lengths[name] = time_training(base.replace(pad_to_max_length=pad), data, tokenizer, world,
                                                   args.steps)
            results[name].append(seconds)
    dynamic, fixed = statistics.median(results["dynamic"]), statistics.median(results["fixed_128"])
    report = {
        "task": args.task, "preset": args.preset, "steps": args.steps, "repeats": args.repeats,
        "batch_size": base.per_device_train_batch_size, "threads": torch.get_num_threads(),
        "seconds": results, "median_seconds": {"dynamic": dynamic, "fixed_128": fixed},
        "steps_per_second": {"dynamic": args.steps / dynamic, "fixed_128": args.steps / fixed},
        "mean_padded_length": lengths, "speedup_dynamic_over_fixed": fixed / dynamic,
        "machine": platform.platform(),
    }
    path = outputs_dir() / "bench" / "padding.json"
    atomic_write_json(path, report)
    print(f"dynamic padding: {args.steps / dynamic:.1f} steps/s (mean length {lengths['dynamic']:.0f}); "
          f"fixed 128: {args.steps / fixed:.1f} steps/s -> dynamic is {fixed / dynamic:.2f}x faster")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
