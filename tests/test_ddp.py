"""Several processes for one run (DDP through accelerate). Two CPU processes (gloo), started with torchrun as a user
starts them (`python -m xltlib.app.distributed`): the run equals the same run on one process with the same global
batch, within a float tolerance; a run killed under two processes resumes from its checkpoint to the uninterrupted
run's results exactly; one process (as `xlt run` runs a notebook) reads the finished run back from the store. And
how a run's batch is split over processes, and the shipped accelerate config files."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from xltlib.app.distributed import train_notebook_runs
from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError
from xltlib.core.paths import project_root
from xltlib.methods.recipes import Stage
from xltlib.run.stages import per_process_config

NOTEBOOK = str(project_root() / "notebooks" / "01_zero_shot_baseline.ipynb")

# Two processes see the same examples at every step as one process (process k takes batches k, k + 2, ... of the
# same shuffled order), the same learning-rate schedule and the same English-dev choices; what differs is float
# arithmetic: each process averages the loss over its half of the batch and gloo averages the two halves' gradients,
# where one process sums the whole batch in one matrix product; and each half-batch is padded to its own longest
# row (padding is masked out, but the matrix shapes differ). The model is dropout-free: dropout masks are drawn
# per process and cannot be the ones one process draws for the whole batch.
# Measured on this tiny run: weights within 2e-7 of each other, losses within 4e-8, identical predictions.
WEIGHTS_TOLERANCE = 1e-5
LOSS_TOLERANCE = 1e-6

# The first launch trains the run uninterrupted into one store, then again into a second store, where the main
# process kills itself at its second checkpoint (step 4, before writing it), as a preempted node would; torchrun
# then stops the other process. The second launch (the real entry point) resumes it from step 2.
_KILLED_AT_SECOND_CHECKPOINT = textwrap.dedent("""
    import os, signal, sys
    import xltlib.run.loop as loop
    from xltlib.app.distributed import main

    notebook, params, clean_store, killed_store = sys.argv[1:]
    os.environ["XLT_RUN_STORE"] = clean_store
    assert main([notebook, "-f", params]) == 0
    save, calls = loop._save_checkpoint, []

    def save_or_die(accelerator, directory, state):
        calls.append(state["global_step"])
        if len(calls) == 2 and accelerator.is_main_process:
            os.kill(os.getpid(), signal.SIGKILL)
        save(accelerator, directory, state)

    loop._save_checkpoint = save_or_die
    os.environ["XLT_RUN_STORE"] = killed_store
    main([notebook, "-f", params])
""")


def _torchrun(root: Path, *command: str, store: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XLT_PROJECT_ROOT": str(root), "XLT_RUN_STORE": str(store)}
    # --standalone: a rendezvous on a free local port, so tests side by side never collide
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           *command], env=env, capture_output=True, text=True, timeout=240)


def _dropout_free(model_dir: Path, out: Path) -> Path:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    model = AutoModelForMaskedLM.from_pretrained(model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return out


@pytest.mark.parametrize("batch, accumulation, processes, expected", [
    (32, 1, 4, (8, 1)),  # the batch split
    (2, 16, 4, (2, 4)),  # accumulation steps first: each device keeps the micro-batch the run was sized for
    (8, 2, 4, (4, 1)),
    (6, 1, 1, (6, 1)),
])
def test_a_runs_batch_is_split_over_processes(batch, accumulation, processes, expected):
    cfg = RunConfig(per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation)
    split = per_process_config(cfg, Stage(tasks=("xnli",)), processes)
    assert (split.per_device_train_batch_size, split.gradient_accumulation_steps) == expected


@pytest.mark.parametrize("stage, cfg, message", [
    (Stage(tasks=("xnli",)), RunConfig(per_device_train_batch_size=6), r"stage xnli on 4 processes: the training batch "
     r"\(per_device_train_batch_size 6 x gradient_accumulation_steps 1\) does not split over 4 processes"),
    (Stage(tasks=("pawsx", "xnli")), RunConfig(), "a multi-task stage draws one task per batch"),
    (Stage(tasks=("lareqa",)), RunConfig(tasks=("lareqa",)), "lareqa's loss uses the whole batch"),
])
def test_a_stage_that_cannot_be_split_is_a_clear_error(stage, cfg, message):
    with pytest.raises(ConfigError, match=message):
        per_process_config(cfg, stage, 4)


@pytest.mark.parametrize("name, distributed_type, processes", [("1gpu", "NO", 1), ("4gpu", "MULTI_GPU", 4)])
def test_the_accelerate_config_files_load_in_accelerate(name, distributed_type, processes):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(project_root() / "configs" / "accelerate" / f"{name}.yaml"))
    assert (config.distributed_type.value, config.num_processes, config.mixed_precision) == (distributed_type,
                                                                                              processes, "bf16")


@pytest.fixture(scope="module")
def two_process_runs(tiny_model_dir, tmp_path_factory):
    """(root, params file, the uninterrupted two-process run's store, the killed-then-resumed one's store)."""
    from conftest import XNLI_ROWS

    root = tmp_path_factory.mktemp("ddp")
    files = {}
    for split, langs in (("train", ["en"]), ("validation", ["en"]), ("test", ["en", "de"])):
        for lang in langs:
            path = root / "xnli" / f"{split}-{lang}.jsonl"
            path.parent.mkdir(exist_ok=True)
            path.write_text("".join(json.dumps(row) + "\n" for row in XNLI_ROWS[lang]))
            files.setdefault(split, {})[lang] = str(path)
    # 12 training rows, a global batch of 4 (2 per process on two): 3 steps an epoch, 12 in all, checkpoints every 2.
    params = {"world": "real", "tasks": ["xnli"], "model_name_or_path": str(_dropout_free(tiny_model_dir, root / "m")),
              "methods": ["standard"], "seeds": [1], "eval_langs": ["en", "de"], "data_files": {"xnli": files},
              "generalized": False, "per_device_train_batch_size": 4, "num_train_epochs": 4.0,
              "learning_rate": 3e-3, "warmup_ratio": 0.25, "evals_per_epoch": 1, "save_steps": 2,
              "save_model": True}
    params_file = root / "ddp.yaml"
    params_file.write_text(yaml.safe_dump(params))
    clean, killed = root / "store-clean", root / "store-killed"
    script = root / "killed_at_second_checkpoint.py"
    script.write_text(_KILLED_AT_SECOND_CHECKPOINT)
    first = _torchrun(root, str(script), NOTEBOOK, str(params_file), str(clean), str(killed), store=clean)
    assert first.returncode != 0, "the second run was to be killed"
    assert "on 2 processes" in first.stdout, first.stdout + first.stderr
    assert not list(killed.glob("*/eval-*/records.json")) and list(killed.glob("*/checkpoint*/last/trainer_state.json"))
    resumed = _torchrun(root, "-m", "xltlib.app.distributed", NOTEBOOK, "-f", str(params_file), store=killed)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return root, params_file, clean, killed


def _run(store: Path) -> dict:
    (work,) = store.glob("*-seed1-*/")
    (evaluation,) = work.glob("eval-*/")
    return {"records": json.loads((evaluation / "records.json").read_text()),
            "train": json.loads((work / "train.json").read_text()),
            "weights": load_file(work / "model" / "model.safetensors"), "name": f"{work.name}/{evaluation.name}"}


def _initial_weights(root: Path) -> dict:
    return load_file(next((root / "m").glob("*.safetensors")))


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(two_process_runs, monkeypatch):
    root, params_file, clean, _ = two_process_runs
    monkeypatch.setenv("XLT_PROJECT_ROOT", str(root))
    monkeypatch.setenv("XLT_RUN_STORE", str(root / "store-one"))
    assert train_notebook_runs(NOTEBOOK, str(params_file)) == 0  # this process: one process, batch 4
    two, one = _run(clean), _run(root / "store-one")
    assert two["name"] == one["name"]  # keyed alike: the run does not depend on how many processes trained it
    assert [r["value"] for r in two["records"]] == pytest.approx([r["value"] for r in one["records"]], abs=1e-9)
    assert [h.get("dev_score") for h in two["train"]["history"]] == [h.get("dev_score") for h in one["train"]["history"]]
    assert two["train"]["best_step"] == one["train"]["best_step"] and two["train"]["global_step"] == 12
    losses = [(a["loss"], b["loss"]) for a, b in zip(two["train"]["history"], one["train"]["history"]) if "loss" in a]
    assert len(losses) == 4 and max(abs(a - b) for a, b in losses) < LOSS_TOLERANCE
    drift = max((two["weights"][k] - one["weights"][k]).abs().max().item() for k in one["weights"])
    assert drift < WEIGHTS_TOLERANCE
    moved = max((one["weights"][k] - w).abs().max().item() for k, w in _initial_weights(root).items()
                if k in one["weights"])
    assert moved > 100 * WEIGHTS_TOLERANCE  # it trained: the tolerance is small next to what training changed

    # One process (as `xlt run` runs the notebook) reads the two-process run back from the store.
    monkeypatch.setenv("XLT_RUN_STORE", str(clean))
    assert train_notebook_runs(NOTEBOOK, str(params_file)) == 0
    listing = json.loads((root / "outputs/distributed/01_zero_shot_baseline/ddp/store.json").read_text())
    assert listing["hits"] == [two["name"]] and listing["misses"] == []


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_to_the_uninterrupted_results(two_process_runs):
    _, _, clean, killed = two_process_runs
    resumed, uninterrupted = _run(killed), _run(clean)
    assert resumed["train"]["resumed_from_step"] == 2
    assert resumed["records"] == uninterrupted["records"]
    # Every dev score and loss but the first loss after the resume (step 3), which averages the steps since it.
    def logged(run):
        return [h for h in run["train"]["history"] if not (h["step"] == 3 and "loss" in h)]

    assert logged(resumed) == logged(uninterrupted) and len(logged(resumed)) == 7
    assert all(torch.equal(resumed["weights"][k], w) for k, w in uninterrupted["weights"].items())
