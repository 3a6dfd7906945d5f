"""One run's evaluation (clean test accuracy per language, the generalized setting, the robustness suite) with the
code of an earlier commit (default: the branch point before evaluation was made cheaper) and with this checkout's,
side by side in one run, at notebook 02's sizes (500 test pairs, 300 attacked per language) and issue 11's (1,000
test, 300 attacked), on a model trained briefly on the embedded world; the records of the two must be identical.

Run: `python benchmarks/evaluation.py [--tasks xnli pawsx] [--suite notebook02|full] [--repeats R]`. Each side runs
in its own process (`--worker`), the old one importing `xltlib` from `git archive <baseline>`. Writes
outputs/bench/evaluation.json. Absolute times on a shared machine are noisy; the ratio is the result.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "089c447"  # the last commit whose evaluation ran every PGD step on whole batches
SIZES = {"notebook02": (500, 300), "issue11": (1000, 300)}  # (test examples, attacked examples) per language
# Notebook 02's evaluation settings (its parameters cell): eval batch 256, length 64, generalized setting, PGD at
# 0.1 and synonyms (2 words, 8 candidates). `full` adds what notebook 02 does not run by default.
SUITES = {
    "notebook02": {"attacks": {"pgd": {"epsilon": 0.1}, "synonym": {"max_words": 2, "max_candidates": 8}},
                   "smoothing": {}, "smoothed_predictions": False},
    "full": {"attacks": {"pgd": {"epsilon": 0.1}, "synonym": {"max_words": 2, "max_candidates": 8},
                         "codeswitch": {"target_lang": "rlx", "max_candidates": 8}},
             "smoothing": {"gaussian": {"n_samples": 10, "certify_n_samples": 20}, "synonym": {"n_samples": 5}},
             "smoothed_predictions": True},  # an rs_rp model's majority vote in the ordinary evaluation too
}


def train_model(task: str, preset: str, steps: int, directory: Path) -> None:
    """A briefly fine-tuned model (notebook 02's learning rate and batch), saved where a worker loads it."""
    from xltlib.core.config import RunConfig
    from xltlib.run.experiment import load_task_data, save_model
    from xltlib.run.loop import train
    from xltlib.tasks.catalogue import TASKS
    from xltlib.tasks.handlers import handler_for
    from xltlib.tasks.models import InitFrom, load_model, load_tokenizer
    from xltlib.world.build import get_world

    world = get_world(preset)
    cfg = RunConfig(world_preset=preset, tasks=(task,), learning_rate=3e-4, per_device_train_batch_size=32,
                    max_seq_length=64, save_steps=10**9, num_train_epochs=2.0)
    spec, tokenizer = TASKS[task], load_tokenizer(str(world.encoder_dir))
    model = load_model(str(world.encoder_dir), spec, InitFrom.PRETRAINED_ENCODER, seed=1)
    train(model, load_task_data(cfg, task, world).train, handler_for(spec).collate(spec, tokenizer, cfg, 64), cfg,
          seed=1, max_steps=steps, desc=f"bench {task}")
    save_model(model, tokenizer, directory)


def worker(args) -> None:
    """Evaluate the saved model as `fine_tune_and_evaluate` does; print {seconds, records} as JSON."""
    import warnings

    import xltlib
    from xltlib.core.config import RunConfig
    from xltlib.core.quiet import quiet_libraries
    from xltlib.methods.noise import make_rs_rp
    from xltlib.robustness.smoothing import evaluate_robustness
    from xltlib.run.experiment import load_task_data, method_context
    from xltlib.tasks.catalogue import TASKS
    from xltlib.tasks.handlers import handler_for
    from xltlib.tasks.models import InitFrom, load_model, load_tokenizer
    from xltlib.world.build import get_world

    warnings.filterwarnings("ignore")  # a language without a word table is skipped with a warning, on both sides
    quiet_libraries()
    suite = SUITES[args.suite]
    world = get_world(args.preset)
    cfg = RunConfig(world_preset=args.preset, tasks=(args.task,), max_seq_length=64, per_device_eval_batch_size=256,
                    generalized=True, max_eval_samples=args.test, max_robustness_samples=args.attacked,
                    attacks=suite["attacks"], smoothing=suite["smoothing"])
    spec = TASKS[args.task]
    handler, data = handler_for(spec), load_task_data(cfg, args.task, world)
    tokenizer = load_tokenizer(str(world.encoder_dir))
    # The method's budgets come from the encoder before fine-tuning, as in a run.
    context = method_context(load_model(str(world.encoder_dir), spec, InitFrom.PRETRAINED_ENCODER, 1), spec, world)
    model = load_model(args.model, spec, InitFrom.PRETRAINED_ENCODER, 1)
    smoothed = make_rs_rp(context, sigma=0.1, smooth_predictions=True) if suite["smoothed_predictions"] else None
    started = time.perf_counter()
    records, _ = handler.evaluate(spec, model, tokenizer, data, cfg, cfg.max_seq_length, smoothed, 1)
    evaluated = time.perf_counter()
    records += evaluate_robustness(model, spec, handler, data.tests, tokenizer, cfg, cfg.max_seq_length,
                                   context=context, seed=1)
    print(json.dumps({"xltlib": str(Path(xltlib.__file__).parent), "evaluate_seconds": evaluated - started,
                      "robustness_seconds": time.perf_counter() - evaluated, "records": records}))


def run_worker(side_root: Path, task: str, model: Path, test: int, attacked: int, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(side_root), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--task", task, "--model", str(model),
               "--test", str(test), "--attacked", str(attacked), "--suite", args.suite, "--preset", args.preset]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker ({side_root}) failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["xltlib"]) != side_root / "xltlib":
        raise SystemExit(f"worker imported xltlib from {result['xltlib']}, expected {side_root / 'xltlib'}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--test", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--attacked", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tasks", nargs="+", default=["xnli"])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--suite", choices=sorted(SUITES), default="notebook02")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["notebook02", "issue11"])
    parser.add_argument("--baseline", default=BASELINE, help="the git commit whose evaluation is 'before'")
    parser.add_argument("--train-steps", type=int, default=376, help="2 epochs of notebook 02's 6,000 pairs")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    from xltlib.core.atomic import atomic_write_json
    from xltlib.core.paths import outputs_dir
    from xltlib.core.quiet import quiet_libraries

    quiet_libraries()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-evaluation-") as tmp:
        old_root = Path(tmp) / "baseline"
        old_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "xltlib"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
        for task in args.tasks:
            model = Path(tmp) / "models" / task
            train_model(task, args.preset, args.train_steps, model)
            for size in args.sizes:
                test, attacked = SIZES[size]
                seconds = {"before": [], "after": []}
                records = {}
                for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
                    for side, root in (("before", old_root), ("after", ROOT)):
                        result = run_worker(root, task, model, test, attacked, args)
                        seconds[side].append({"evaluate": result["evaluate_seconds"],
                                              "robustness": result["robustness_seconds"],
                                              "total": result["evaluate_seconds"] + result["robustness_seconds"]})
                        if side in records and records[side] != result["records"]:
                            raise SystemExit(f"{task} {size}: {side} gave different records on a repeat")
                        records[side] = result["records"]
                median = {side: {part: statistics.median(r[part] for r in runs) for part in runs[0]}
                          for side, runs in seconds.items()}
                row = {"task": task, "size": size, "test_examples": test, "attacked_examples": attacked,
                       "seconds": seconds, "median_seconds": median,
                       "speedup": median["before"]["total"] / median["after"]["total"],
                       "records": len(records["after"]), "identical_records": records["before"] == records["after"]}
                rows.append(row)
                print(f"{task} {size} ({test} test, {attacked} attacked): before {median['before']['total']:.1f} s "
                      f"(robustness {median['before']['robustness']:.1f} s), after {median['after']['total']:.1f} s "
                      f"(robustness {median['after']['robustness']:.1f} s): {row['speedup']:.2f}x; "
                      f"{row['records']} records, identical: {row['identical_records']}")
    report = {"baseline": args.baseline, "suite": args.suite, "suite_settings": SUITES[args.suite],
              "preset": args.preset, "train_steps": args.train_steps, "repeats": args.repeats,
              "threads": os.environ.get("OMP_NUM_THREADS"), "machine": platform.platform(), "rows": rows}
    path = outputs_dir() / "bench" / "evaluation.json"
    atomic_write_json(path, report)
    print(f"wrote {path}")
    if not all(row["identical_records"] for row in rows):
        raise SystemExit("the records before and after differ")


if __name__ == "__main__":
    main()
