"""What robust training costs per optimizer step, and on disk, next to plain fine-tuning.

Standard, `at` (PGD-3), `free_at` (its default: free adversarial training, one pass per batch with the
perturbation carried across batches; and K = 2, FreeLB), `rs_rp` and `rs_da` (on the fly) train side by
side on the embedded world's default-size encoder (hidden 64, 4 layers; built from its config, random
weights: cost does not depend on them) with PAWS-X-shaped English pairs of the embedded
world, batch 32. Timing is `xltlib.step_cost.time_methods`, inside the real loop: the interval between two
consecutive calls of the collator is one whole loop iteration. Methods take turns in short rounds, first one
rotating, and a method's ratio is the median over turns of its median step over standard's median step in
the same turn, so load changes on the shared machine cancel out. Disk: Huang et al. wrote 10
augmented copies of the PAWS-X training file and 3 of XNLI's; RS-DA here writes none.

    python benchmarks/robust_step_cost.py            # writes outputs/bench/robust_step_cost.json
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads: one thread is fastest for this encoder
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars of the timed loops would only add noise

import torch  # noqa: E402

from xltlib.core.atomic import atomic_write_json  # noqa: E402
from xltlib.core.config import TrainArgs  # noqa: E402
from xltlib.core.paths import outputs_dir  # noqa: E402
from xltlib.run.experiment import method_context  # noqa: E402
from xltlib.run.step_cost import time_methods  # noqa: E402
from xltlib.tasks.catalogue import TASKS  # noqa: E402
from xltlib.tasks.handlers import handler_for  # noqa: E402
from xltlib.world.build import World, pretraining_corpus, train_tokenizer, write_task_files  # noqa: E402
from xltlib.world.presets import PRESETS  # noqa: E402

# (row name, method, options over its defaults, target ratio to a standard step or None)
ROWS = [
    ("standard", "standard", {}, None),
    ("at (PGD-3)", "at", {"steps": 3}, None),
    ("free_at (default: 1 pass)", "free_at", {}, 1.3),
    ("free_at (K=2: FreeLB)", "free_at", {"steps": 2}, None),
    ("rs_rp", "rs_rp", {}, None),
    ("rs_da (on the fly)", "rs_da", {}, 1.1),
]
ORIGINAL_COPIES = {"pawsx": 10, "xnli": 3}  # Huang et al.'s offline augmentation, originals not kept


def build(preset, directory: Path):
    """The world's task files and its tokenizer (the same corpus and trainer as a world build, so the same
    vocabulary and embedding matrix), and a model from the world's encoder config: no pretraining."""
    from transformers import BertConfig, BertForSequenceClassification

    write_task_files(preset, directory)
    spec = TASKS["pawsx"]
    world = World(preset, directory)  # synonyms and dictionaries come from the grammar, not from a build
    files = {split: dict(by_lang) for split, by_lang in world.data_files("pawsx").items()}
    examples = handler_for(spec).load_split(spec, "train", "en", files, None)
    tokenizer = train_tokenizer(pretraining_corpus(preset)[0], directory / "tokenizer")
    torch.manual_seed(preset.seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=preset.hidden_size,
                        num_hidden_layers=preset.num_hidden_layers, num_attention_heads=preset.num_attention_heads,
                        intermediate_size=preset.intermediate_size, max_position_embeddings=64,
                        pad_token_id=tokenizer.pad_token_id, num_labels=spec.num_labels)
    return world, spec, examples, tokenizer, BertForSequenceClassification(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per method (after warm-up)")
    parser.add_argument("--rounds", type=int, default=10, help="turns each method takes")
    parser.add_argument("--warmup", type=int, default=3, help="iterations dropped at the start of each turn")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=outputs_dir() / "bench" / "robust_step_cost.json")
    args = parser.parse_args()

    preset = PRESETS["default"]
    with tempfile.TemporaryDirectory() as tmp:
        world, spec, examples, tokenizer, base_model = build(preset, Path(tmp))
        train_bytes = {task: (Path(tmp) / "tasks" / task / "train-en.jsonl").stat().st_size
                       for task in ORIGINAL_COPIES}
        n_train = preset.n_train  # both tasks have this many English training pairs
    train_args = TrainArgs(learning_rate=2e-5, per_device_train_batch_size=args.batch_size, max_seq_length=64,
                           save_steps=10**9, warmup_ratio=0.0, mixed_precision="no")
    collate = handler_for(spec).collate(spec, tokenizer, train_args, train_args.max_seq_length)
    probe = collate(examples[:512])
    tokens_per_pair = float(probe["attention_mask"].sum(1).float().mean())

    measured = time_methods([(name, method, options) for name, method, options, _ in ROWS], base_model,
                            method_context(base_model, spec, world), examples, collate, train_args,
                            steps=args.steps, rounds=args.rounds, warmup=args.warmup)
    rows = []
    for row, (_, _, _, target) in zip(measured, ROWS):
        ratio = row["wall"]["ratio_to_standard"]
        rows.append({**row, "median_step_seconds": row["wall"]["median_step_seconds"], "ratio_to_standard": ratio,
                     "target_ratio": target, "meets_target": None if target is None else ratio <= target})
    disk = {task: {"train_pairs": n_train, "train_file_bytes": size, "original_copies": ORIGINAL_COPIES[task],
                   "original_augmented_bytes": size * ORIGINAL_COPIES[task], "ours_bytes": 0}
            for task, size in train_bytes.items()}
    result = {
        "what": "wall time per optimizer step of each robust method vs standard fine-tuning; augmentation disk",
        "timing": "inside xltlib.train.train: intervals between consecutive collate calls (one loop iteration "
                  f"each), {args.warmup} dropped per turn, methods in {args.rounds} interleaved turns (order "
                  "rotated); ratio = median over turns of (method's median / standard's median in that turn); "
                  "targets are judged on wall time, CPU time (process_time, one thread) is the load-robust check",
        "encoder": {"hidden_size": preset.hidden_size, "num_hidden_layers": preset.num_hidden_layers,
                    "num_attention_heads": preset.num_attention_heads, "intermediate_size": preset.intermediate_size,
                    "vocab_size": len(tokenizer)},
        "batch_size": args.batch_size, "mean_tokens_per_pair": tokens_per_pair,
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()},
        "rows": rows, "disk": disk,
    }
    atomic_write_json(args.out, result)

    print(f"batch {args.batch_size} pairs, {tokens_per_pair:.1f} tokens per pair on average; "
          f"encoder {preset.num_hidden_layers} x {preset.hidden_size}; {rows[0]['timed_steps']} timed steps per method")
    print(f"{'method':<26} {'wall ms/step':>12} {'x standard':>11} {'target':>7} {'met':>4}   "
          f"{'cpu ms/step':>11} {'x standard':>11}")
    for row in rows:
        target = f"<={row['target_ratio']}" if row["target_ratio"] else ""
        met = {None: "", True: "yes", False: "NO"}[row["meets_target"]]
        print(f"{row['name']:<26} {row['wall']['median_step_seconds'] * 1000:>12.1f} "
              f"{row['wall']['ratio_to_standard']:>11.2f} {target:>7} {met:>4}   "
              f"{row['cpu']['median_step_seconds'] * 1000:>11.1f} {row['cpu']['ratio_to_standard']:>11.2f}")
    for task, d in disk.items():
        print(f"disk, {task}: original {d['original_copies']} x {d['train_file_bytes']:,} B = "
              f"{d['original_augmented_bytes']:,} B for {d['train_pairs']:,} pairs; on the fly: 0 B")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
