"""Training throughput of the real encoders on one GPU, in the project's loop, with the issue-16 options off and on:
tokens per second, a utilisation estimate and peak memory. Needs CUDA (its test in tests/test_benchmarks.py
is `gpu`-marked and skips without it).

Models are built from their configs (mBERT, XLM-R base and large: the hub configs' sizes), random weights, no
downloads: speed does not depend on the weights. Data are random token ids with lengths drawn uniformly from
[16, max length] (seeded), labels from 3 classes: a pair-classification step as XNLI's. Each row trains one epoch
of `warmup + steps` batches in `xltlib.run.loop.train`; a dev scorer called every `--every` steps is the clock
(it synchronizes the GPU first), and the timed window starts at its second call (after warm-up and torch.compile,
and after the loop's one copy of the first "best" weights). Real tokens per second = timed steps x batch x mean
length / seconds; utilisation = 6 x parameters x real tokens per second / the GPU's dense bf16 peak (padding and
the attention's own FLOPs are not counted: the plan in benchmarks/README.md uses the same formula). Without CUDA it
says so and writes nothing, so `make bench` runs it everywhere.

    python benchmarks/gpu_throughput.py [--model mbert|xlmr-base|xlmr-large|all] [--steps 60] [--batch-size 32]

Writes outputs/bench/gpu_throughput.json.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from xltlib.core.atomic import atomic_write_json  # noqa: E402
from xltlib.core.config import TrainArgs  # noqa: E402
from xltlib.core.paths import outputs_dir  # noqa: E402
from xltlib.core.quiet import quiet_libraries  # noqa: E402
from xltlib.run.loop import train  # noqa: E402
from xltlib.tasks.handlers.base import Collator  # noqa: E402

# name -> (config class, sizes as in the hub configs of bert-base-multilingual-cased, xlm-roberta-base, -large)
MODELS = {
    "mbert": ("BertConfig", dict(vocab_size=119547, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                 intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2,
                                 pad_token_id=0)),
    "xlmr-base": ("XLMRobertaConfig", dict(vocab_size=250002, hidden_size=768, num_hidden_layers=12,
                                           num_attention_heads=12, intermediate_size=3072,
                                           max_position_embeddings=514, type_vocab_size=1, pad_token_id=1)),
    "xlmr-large": ("XLMRobertaConfig", dict(vocab_size=250002, hidden_size=1024, num_hidden_layers=24,
                                            num_attention_heads=16, intermediate_size=4096,
                                            max_position_embeddings=514, type_vocab_size=1, pad_token_id=1)),
}
# Dense bf16 tensor-core peaks (no sparsity), from NVIDIA's data sheets, by a substring of the device name.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}
ROWS = [
    ("options off", {"pretokenize": False, "dataloader_pin_memory": False}),  # the loop before issue 16
    ("options on, no compile", {"group_by_length": True, "dataloader_num_workers": 4, "optim": "adamw_torch_fused"}),
    ("options on", {"group_by_length": True, "dataloader_num_workers": 4, "optim": "adamw_torch_fused",
                    "torch_compile": True}),
]


def build_model(name: str):
    import transformers

    config_class, sizes = MODELS[name]
    config = getattr(transformers, config_class)(num_labels=3, **sizes)
    torch.manual_seed(0)
    return transformers.AutoModelForSequenceClassification.from_config(config)


def synthetic_collator(pad_id: int, vocab_size: int) -> Collator:
    """Rows {"input_ids": token ids, "label"} -> padded batches; `encode` and `pad` as a task's collator."""

    def encode(rows):
        return [{"input_ids": np.asarray(r["input_ids"], dtype=np.int32), "labels": r["label"]} for r in rows]

    def pad(features):
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), longest), pad_id, dtype=torch.long)
        for i, f in enumerate(features):
            ids[i, :len(f["input_ids"])] = torch.as_tensor(f["input_ids"], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": (ids != pad_id).long(),
                "labels": torch.tensor([int(f["labels"]) for f in features])}

    return Collator(lambda rows: pad(encode(rows)), encode, pad)


def synthetic_rows(n: int, max_length: int, vocab_size: int, pad_id: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(16, max_length + 1, size=n)
    return [{"input_ids": rng.integers(pad_id + 1, vocab_size, size=length).tolist(), "label": int(rng.integers(3))}
            for length in lengths]


def peak_flops() -> float | None:
    name = torch.cuda.get_device_name()
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def measure(name: str, options: dict, *, steps: int, warmup: int, every: int, batch_size: int,
            max_length: int) -> dict:
    """One row: tokens per second, utilisation estimate and peak memory of `name` trained with `options`."""
    model = build_model(name)
    params = sum(p.numel() for p in model.parameters())
    pad_id, vocab = model.config.pad_token_id, model.config.vocab_size
    batches = warmup + steps
    rows = synthetic_rows(batches * batch_size, max_length, vocab, pad_id)
    args = TrainArgs(learning_rate=2e-5, per_device_train_batch_size=batch_size, num_train_epochs=1.0,
                     max_seq_length=max_length, save_steps=10**9, evals_per_epoch=batches // every,
                     warmup_ratio=0.0, **options)
    stamps = []

    def clock(_model) -> float:
        torch.cuda.synchronize()
        stamps.append((time.perf_counter(), torch.cuda.max_memory_allocated()))
        return -float(len(stamps))  # always worse: the loop copies the "best" weights at the first call only

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    with contextlib.redirect_stderr(io.StringIO()):
        train(model, rows, synthetic_collator(pad_id, vocab), args, seed=1, dev_score=clock, desc=name)
    (start, _), (end, peak) = stamps[1], stamps[-1]
    timed_steps = every * (len(stamps) - 2)
    tokens = timed_steps * batch_size * float(np.mean([len(r["input_ids"]) for r in rows]))
    flops = peak_flops()
    achieved = 6 * params * tokens / (end - start)
    del model
    return {"model": name, "options": options, "parameters": params, "timed_steps": timed_steps,
            "seconds": end - start, "tokens_per_second": tokens / (end - start),
            "examples_per_second": timed_steps * batch_size / (end - start),
            "achieved_tflops": achieved / 1e12, "utilisation": achieved / flops if flops else None,
            "peak_memory_gib": peak / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all", choices=[*MODELS, "all"])
    parser.add_argument("--steps", type=int, default=60, help="timed optimizer steps per row")
    parser.add_argument("--warmup", type=int, default=20, help="steps before the timed window (compile, caches)")
    parser.add_argument("--every", type=int, default=10, help="steps between two clock readings")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", type=Path, default=outputs_dir() / "bench" / "gpu_throughput.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():  # `make bench` runs everywhere: this one only where there is a GPU
        print("gpu_throughput: skipped, this machine has no GPU (CUDA)")
        return
    quiet_libraries()
    names = list(MODELS) if args.model == "all" else [args.model]
    rows = [{"row": row, **measure(name, options, steps=args.steps, warmup=args.warmup, every=args.every,
                                   batch_size=args.batch_size, max_length=args.max_length)}
            for name in names for row, options in ROWS]
    report = {"what": "training tokens per second, utilisation (6 x parameters x real tokens / dense bf16 peak) "
                      "and peak memory per model and options, one GPU", "device": torch.cuda.get_device_name(),
              "peak_bf16_flops": peak_flops(), "batch_size": args.batch_size, "max_length": args.max_length,
              "torch": torch.__version__, "machine": platform.platform(), "rows": rows}
    atomic_write_json(args.out, report)
    print(f"{'model':<11} {'row':<24} {'tokens/s':>10} {'util':>6} {'peak GiB':>9}")
    for r in rows:
        util = f"{100 * r['utilisation']:.0f}%" if r["utilisation"] is not None else "?"
        print(f"{r['model']:<11} {r['row']:<24} {r['tokens_per_second']:>10.0f} {util:>6} {r['peak_memory_gib']:>9.1f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
