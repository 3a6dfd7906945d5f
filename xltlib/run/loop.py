"""The one training loop: MLM pretraining of the embedded encoder and every fine-tuning run use it.

Device placement, mixed precision (bf16 autocast on CUDA) and several GPUs come from `accelerate`;
gradient accumulation, a linear warmup/decay schedule, checkpoints that a rerun resumes from, and model
selection on English dev only (the zero-shot protocol) are here, and so is a shared warm-up (`WarmupPrefix`): the
state after a robust method's plain steps, saved once and resumed from by every run that begins with them.
Methods plug in through the hooks of `xltlib.methods.spec.Perturbation`; the loop never asks which method it runs.
Inside a `tracking(...)` block, training loss and English-dev score also go to an experiment tracker (accelerate's:
TensorBoard).

On a GPU the loop does not wait on the host: the loss is summed on the device and read (and checked finite) at
logging and checkpoint steps only; a task's `Collator` tokenizes the training set once (unless a method rewrites
text per batch) and DataLoader workers pad batches; length-grouped batches, fused AdamW and torch.compile are
options (`TrainArgs`).
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import math
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import broadcast_object_list
from torch.utils.data import DataLoader, RandomSampler
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler

from ..core.config import TrainArgs
from ..core.errors import ConfigError, TrainingError
from ..methods.spec import Perturbation
from ..tasks.handlers.base import Collator, forward_from_embeddings, to_device
from .store import run_lock

Collate = Callable[[list[dict]], dict]
PLAIN = Perturbation()  # the hooks of a perturbation's warm-up steps (`start_step`)


@dataclass
class TrainResult:
    global_step: int
    best_step: int | None
    best_dev_score: float | None
    history: list[dict] = field(default_factory=list)  # {"step", "epoch", "loss", "dev_score"}
    resumed_from_step: int = 0  # the run's own checkpoint it resumed from
    warmup_from_step: int = 0  # the shared warm-up (`WarmupPrefix`) it started from
    stages_from_store: int = 0  # a schedule's leading stages read from the run store (`xltlib.run.stages.StagePrefix`)


def step_seed(seed: int, epoch: int, batch_index: int) -> int:
    """A seed per micro-batch: dropout, noise and augmentation repeat exactly, and after a resume too."""
    return (seed * 1_000_003 + epoch * 10_007 + batch_index) % (2**31 - 1)


@dataclass(frozen=True)
class WarmupPrefix:
    """The whole resumable state (weights, optimizer, scheduler, random states, the dev selection so far, the
    history and the loss being summed) after `step` optimizer steps of plain training, in `directory` (a folder of
    the run store, present only when whole). Runs whose first `step` steps are the same computation share it
    (`xltlib.run.experiment.warmup_prefixes` says which): the first one saves it, the others start from it."""

    step: int
    directory: Path

    def exists(self) -> bool:
        return (self.directory / "trainer_state.json").is_file()


@dataclass(frozen=True)
class Tracking:
    tracker: str  # an accelerate tracker name ("tensorboard")
    log_dir: Path
    run_name: str


# The tracker of the training runs in progress: set by `tracking` around a run (the experiment knows the run folder
# and name; the stages between it and this loop need not carry them).
_TRACKING: contextvars.ContextVar[Tracking | None] = contextvars.ContextVar("xlt_tracking", default=None)


@contextlib.contextmanager
def tracking(tracker: str, log_dir: str | Path, run_name: str):
    """Every `train` call inside the block logs its training loss and English-dev score to `tracker` (accelerate's
    name; "none": nothing), under `log_dir/run_name[/<stage>]`."""
    token = _TRACKING.set(Tracking(tracker, Path(log_dir), run_name) if tracker != "none" else None)
    try:
        yield
    finally:
        _TRACKING.reset(token)


def process_state() -> PartialState:
    """This process among those training together: one, or the processes `torchrun` / `accelerate launch` started
    (on CPUs accelerate joins them only when told it runs on CPU, as `make_accelerator` does). The first call joins
    them, with a long timeout: the others wait while the main process alone evaluates every language (and every
    generalized pair) of a run, which can outlast torch's default (10 minutes for NCCL) on the real path."""
    return PartialState(cpu=not torch.cuda.is_available(), timeout=datetime.timedelta(hours=8))


def make_accelerator(args: TrainArgs, tracker: Tracking | None = None) -> Accelerator:
    precision = args.mixed_precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    logging = {"log_with": tracker.tracker, "project_dir": str(tracker.log_dir)} if tracker else {}
    compiled = {"dynamo_backend": "inductor"} if args.torch_compile else {}
    return Accelerator(mixed_precision=precision, gradient_accumulation_steps=args.gradient_accumulation_steps,
                       cpu=not torch.cuda.is_available(), **compiled, **logging)


def check_device_options(args: TrainArgs) -> None:
    """Refuse options that only a GPU runs, here where there is none: a run asked to be fused or compiled is not
    silently trained otherwise (its key says what it asked for)."""
    if torch.cuda.is_available():
        return
    if args.optim == "adamw_torch_fused":
        raise ConfigError("optim 'adamw_torch_fused' needs CUDA, and this machine has no GPU; use 'adamw_torch'")
    if args.torch_compile:
        raise ConfigError("torch_compile: true needs CUDA, and this machine has no GPU; set it false")


def _optimizer(model, args: TrainArgs):
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    params = [
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not n.endswith(no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    fused = {"fused": True} if args.optim == "adamw_torch_fused" else {}
    return torch.optim.AdamW(params, lr=args.learning_rate, **fused)


def _loader(rows: list, collate_fn, args: TrainArgs, generator: torch.Generator, batch_sampler, lengths) -> DataLoader:
    """Batches of `rows` through `collate_fn`: shuffled, length-grouped (`lengths` given), or `batch_sampler`'s;
    with `args.dataloader_num_workers` worker processes (forked: the collators are closures)."""
    workers = args.dataloader_num_workers
    options = {"collate_fn": collate_fn, "num_workers": workers,
               "pin_memory": args.dataloader_pin_memory and torch.cuda.is_available()}
    if workers:
        options.update(persistent_workers=True, multiprocessing_context="fork")
    if batch_sampler is not None:
        return DataLoader(rows, batch_sampler=batch_sampler(generator), **options)
    sampler = (LengthGroupedSampler(args.per_device_train_batch_size, lengths=lengths, generator=generator)
               if lengths is not None else RandomSampler(rows, generator=generator))
    return DataLoader(rows, batch_size=args.per_device_train_batch_size, sampler=sampler, **options)


def training_rows(train_examples: Sequence[dict], collate: Collate, args: TrainArgs, perturbation: Perturbation,
                  grouped: bool):
    """(the rows the loader batches, its collate_fn, whether they are pre-tokenized, lengths or None). A task's
    `Collator` encodes the training set once and the loader only pads, unless the perturbation rewrites
    examples per batch (RS-DA) or `args.pretokenize` is off: then rows are raw examples, collated in the loop
    after the perturbation, as any other collate function is. `lengths` (for `grouped` batches) are tokens."""
    rows = list(train_examples)
    pretokenize = args.pretokenize and not perturbation.rewrites_examples
    encoded = collate.encode(rows) if isinstance(collate, Collator) and (grouped or pretokenize) else None
    lengths = None
    if grouped:
        if encoded is None:
            raise ConfigError("group_by_length needs a task's collator to measure lengths; this training set has "
                              "a plain collate function (set group_by_length false)")
        lengths = [collate.length(feature) for feature in encoded]  # before a rewrite: close enough to group by
    if encoded is not None and pretokenize:
        return encoded, collate.pad, True, lengths
    return rows, _raw_examples, False, lengths


def _raw_examples(examples: list[dict]) -> list[dict]:
    return examples


def _write_state(accelerator: Accelerator, tmp: Path, state: dict) -> None:
    """The training state into a fresh folder `tmp`, `trainer_state.json` last.

    Every process calls it: `save_state` writes the weights, optimizer and scheduler from the main process and each
    process's own random state (`random_states_<rank>.pkl`); the main process alone clears the folder."""
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=False)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps(state))


def _save_checkpoint(accelerator: Accelerator, directory: Path, state: dict) -> None:
    """Write the checkpoint beside the old one, then swap: a kill mid-write leaves the old one whole."""
    tmp, last, old = directory / "last.tmp", directory / "last", directory / "last.old"
    _write_state(accelerator, tmp, state)
    if accelerator.is_main_process:
        if last.exists():
            os.replace(last, old)
        os.replace(tmp, last)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _own_checkpoint(accelerator: Accelerator, directory: Path) -> dict | None:
    """The state of the run's last checkpoint (not loaded yet), or None."""
    last, old = directory / "last", directory / "last.old"
    if accelerator.is_main_process and not (last / "trainer_state.json").is_file() \
            and (old / "trainer_state.json").is_file():
        os.replace(old, last)  # killed between the two renames
    accelerator.wait_for_everyone()
    if not (last / "trainer_state.json").is_file():
        return None
    return json.loads((last / "trainer_state.json").read_text())


def _save_prefix(accelerator: Accelerator, prefix: WarmupPrefix, directory: Path, state: dict) -> None:
    """`state` (with the run's dev-best weights) as `prefix`: written inside the run's own checkpoint folder (which
    the run's lock keeps to one writer, and which is deleted with the run's checkpoints), then renamed into the
    store under the prefix's lock, unless another run has put it there meanwhile: the prefix is whole or absent."""
    tmp = directory / "warmup.tmp"
    _write_state(accelerator, tmp, state)
    if accelerator.is_main_process:
        if state["best_step"] is not None:
            shutil.copy2(directory / "best.pt", tmp / "best.pt")
        with run_lock(prefix.directory):
            if prefix.exists():
                shutil.rmtree(tmp)
            else:
                shutil.rmtree(prefix.directory, ignore_errors=True)  # never whole: only a rename puts it there
                os.replace(tmp, prefix.directory)
    accelerator.wait_for_everyone()


def _load_prefix(accelerator: Accelerator, prefix: WarmupPrefix, directory: Path) -> dict:
    """Start from `prefix`: its state loaded, its dev-best weights copied into the run's own folder."""
    accelerator.load_state(str(prefix.directory))
    state = json.loads((prefix.directory / "trainer_state.json").read_text())
    if accelerator.is_main_process and state["best_step"] is not None:
        tmp = directory / "best.pt.tmp"
        shutil.copy2(prefix.directory / "best.pt", tmp)
        os.replace(tmp, directory / "best.pt")
    accelerator.wait_for_everyone()
    return {**state, "warmup_from_step": prefix.step}


def _resume(accelerator: Accelerator, directory: Path, prefixes: Sequence[WarmupPrefix]) -> dict | None:
    """Load the furthest of the run's own last checkpoint and the shared warm-ups that exist; its state, or None.
    The main process chooses, so that every process loads the same one."""
    own = _own_checkpoint(accelerator, directory)
    after = own["global_step"] if own else 0
    found = [p.step for p in prefixes if p.step > after and p.exists()] if accelerator.is_main_process else None
    found = broadcast_object_list([found])[0]
    if found:
        return _load_prefix(accelerator, next(p for p in prefixes if p.step == max(found)), directory)
    if own:
        accelerator.load_state(str(directory / "last"))
    return own


def _save_best(model, directory: Path) -> None:
    tmp = directory / "best.pt.tmp"
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, directory / "best.pt")


def _mean_over_processes(accelerator: Accelerator, value: float) -> float:
    """The mean of each process's `value` (its share of the batch's loss); `value` itself in one process."""
    if accelerator.num_processes == 1:
        return value
    return accelerator.reduce(torch.tensor(value, dtype=torch.float64, device=accelerator.device), "mean").item()


def train(model, train_examples: Sequence[dict], collate: Collate, args: TrainArgs, *, seed: int,
          perturbation: Perturbation | None = None, dev_score: Callable[[object], float] | None = None,
          checkpoint_dir: str | Path | None = None, max_steps: int | None = None,
          desc: str = "train", batch_sampler: Callable[[torch.Generator], object] | None = None,
          prefixes: Sequence[WarmupPrefix] = ()) -> TrainResult:
    """Train `model` in place; on return it holds the weights chosen on English dev (or the last ones).

    `collate` turns raw examples into a batch of tensors with labels; `dev_score(model)` scores English
    dev (higher is better). With `checkpoint_dir`, state is saved every `args.save_steps` optimizer steps
    and a rerun resumes from the last checkpoint. `batch_sampler(generator)` replaces the shuffled batches of
    `args.per_device_train_batch_size` examples (a multi-task stage draws each batch's task,
    `xltlib.run.multitask`); the generator is reseeded at every epoch, as the default sampler's. `prefixes` are
    shared warm-ups this run's first steps are (plain steps only: the caller checks): the run starts from the
    furthest one that exists and saves, on the way, the ones that do not; they need `checkpoint_dir`.
    """
    check_device_options(args)
    perturbation = perturbation or Perturbation()
    if prefixes and checkpoint_dir is None:
        raise ValueError("a shared warm-up (prefixes) needs a checkpoint_dir to hold the run's dev-best weights")
    if args.group_by_length and batch_sampler is not None:
        raise ConfigError("group_by_length does not apply to a multi-task stage, whose sampler draws each batch's "
                          "task; set it false for this stage")
    tracker = _TRACKING.get()
    accelerator = make_accelerator(args, tracker)
    if tracker:  # one tracker run per stage: <run name>/<stage>, e.g. xcopa-standard-seed1/0-siqa
        stage = Path(checkpoint_dir).name.removeprefix("checkpoint-") if checkpoint_dir else ""
        accelerator.init_trackers("/".join(filter(None, (tracker.run_name, stage))))
    torch.manual_seed(seed)
    sampler_generator = torch.Generator()
    rows, collate_fn, pretokenized, lengths = training_rows(train_examples, collate, args, perturbation,
                                                           args.group_by_length)
    loader = _loader(rows, collate_fn, args, sampler_generator, batch_sampler, lengths)
    # Under several processes each takes every n-th batch (accelerate's BatchSamplerShard, batches evened out), so
    # a step is n x per_device x accumulation examples; accelerate also steps a prepared scheduler n times per
    # optimizer step, so the schedule is laid out in those units.
    processes = accelerator.num_processes
    steps_per_epoch = math.ceil(math.ceil(len(loader) / processes) / args.gradient_accumulation_steps)
    total_steps = max_steps or max(1, math.ceil(args.num_train_epochs * steps_per_epoch))
    optimizer = _optimizer(model, args)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * total_steps) * processes,
                                                total_steps * processes)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    embeddings = accelerator.unwrap_model(model).get_input_embeddings()

    directory = Path(checkpoint_dir) if checkpoint_dir else None
    state = {"global_step": 0, "epoch": 0, "batch_in_epoch": 0, "best_score": None, "best_step": None,
             "history": []}
    if directory:
        directory.mkdir(parents=True, exist_ok=True)
        state = _resume(accelerator, directory, prefixes) or state
    warmed_up = state.get("warmup_from_step", 0)
    resumed = state["global_step"] if state["global_step"] > warmed_up else 0
    to_save = {p.step: p for p in prefixes if p.step > state["global_step"]}
    eval_every = max(1, steps_per_epoch // args.evals_per_epoch)
    best_weights: dict = {}  # the dev-best weights, in memory when there is no checkpoint directory

    def with_running_loss() -> dict:
        # the loss summed since the last logged step, each process's, so a resumed run logs what an unbroken one does
        return {**state, "running_loss": accelerator.gather(running_loss.reshape(1)).tolist(), "logged": logged}

    def checkpoint():
        if directory:
            _save_checkpoint(accelerator, directory, with_running_loss())

    def evaluate_dev():
        if dev_score is None:
            return
        # The main process scores English dev and tells the others, so every process keeps the same "best".
        score = None
        if accelerator.is_main_process:
            model.eval()
            score = float(dev_score(accelerator.unwrap_model(model)))
            model.train()
        score = broadcast_object_list([score])[0]
        state["history"].append({"step": state["global_step"], "epoch": state["epoch"], "dev_score": score})
        if tracker:
            accelerator.log({"dev/score": score}, step=state["global_step"])
        best = state["best_score"]
        if best is None or score > best or (args.selection_ties == "latest" and score == best):
            state["best_score"], state["best_step"] = score, state["global_step"]
            if directory:
                if accelerator.is_main_process:
                    _save_best(accelerator.unwrap_model(model), directory)
            else:
                best_weights.clear()
                best_weights.update({k: v.detach().cpu().clone()
                                     for k, v in accelerator.unwrap_model(model).state_dict().items()})

    model.train()
    progress = tqdm(total=total_steps, initial=state["global_step"], desc=desc, leave=False,
                    disable=not accelerator.is_main_process, mininterval=1.0)
    # Summed on the device in float64 (as the Python float sum it replaces, so CPU histories are unchanged) and
    # read at logging and checkpoint steps only: a per-step .item() would make the GPU wait for the host.
    running_loss = torch.tensor(state.get("running_loss", [0.0] * processes)[accelerator.process_index],
                                dtype=torch.float64, device=accelerator.device)
    logged, checked_step = state.get("logged", 0), state["global_step"]
    for key in ("running_loss", "logged"):
        state.pop(key, None)

    def check_finite_loss(epoch: int) -> None:
        nonlocal checked_step
        if not torch.isfinite(running_loss):
            raise TrainingError(
                f"{desc}: the loss became {float(running_loss)} in steps {checked_step + 1}-{state['global_step']} "
                f"(epoch {epoch}, learning_rate {args.learning_rate}); checkpoints so far are kept"
                + (f" in {directory}" if directory else "") + ". Try a lower learning_rate.")
        checked_step = state["global_step"]

    while state["global_step"] < total_steps:
        epoch = state["epoch"]
        sampler_generator.manual_seed(step_seed(seed, epoch, -1))
        start = state["batch_in_epoch"]  # > 0 only when resuming in the middle of an epoch
        batches = accelerator.skip_first_batches(loader, start) if start else loader
        for offset, batch in enumerate(batches):
            batch_index = start + offset
            # this process's batch_index-th batch is the epoch's (batch_index x n + rank)-th: its own dropout and noise
            micro_seed = step_seed(seed, epoch, batch_index * processes + accelerator.process_index)
            torch.manual_seed(micro_seed)
            noise = torch.Generator(device=accelerator.device).manual_seed(micro_seed)
            hooks = perturbation if state["global_step"] >= perturbation.start_step else PLAIN
            if not pretokenized:  # raw examples: perturbed, then collated here
                batch = collate(hooks.perturb_examples(batch, random.Random(micro_seed)))
            batch = to_device(batch, accelerator.device)
            with accelerator.accumulate(model):
                forward = forward_from_embeddings(model, batch)
                loss = hooks.training_loss(forward, embeddings(batch["input_ids"]),
                                                  accelerator.backward, noise, mask=batch.get("attention_mask"))
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            running_loss, logged = running_loss + loss.detach().double(), logged + 1
            if not accelerator.sync_gradients:
                continue
            state["global_step"] += 1
            state["batch_in_epoch"] = batch_index + 1
            progress.update(1)
            if state["global_step"] % eval_every == 0 or state["global_step"] == total_steps:
                check_finite_loss(epoch)
                state["history"].append({"step": state["global_step"], "epoch": epoch,
                                         "loss": _mean_over_processes(accelerator,
                                                                      float(running_loss) / max(logged, 1))})
                if tracker:
                    accelerator.log({"train/loss": state["history"][-1]["loss"]}, step=state["global_step"])
                running_loss, logged = torch.zeros_like(running_loss), 0
                evaluate_dev()
            if state["global_step"] % args.save_steps == 0:
                check_finite_loss(epoch)  # a checkpoint never holds weights a non-finite loss has reached
                checkpoint()
            prefix = to_save.pop(state["global_step"], None)
            if prefix is not None:
                prefix_state = with_running_loss()
                if all(map(math.isfinite, prefix_state["running_loss"])):  # a shared warm-up never holds a diverged run
                    _save_prefix(accelerator, prefix, directory, prefix_state)
            if state["global_step"] >= total_steps:
                break
        else:
            state["epoch"], state["batch_in_epoch"] = epoch + 1, 0
            continue
        break
    progress.close()

    unwrapped = accelerator.unwrap_model(model)
    accelerator.wait_for_everyone()  # the main process's last best.pt is written
    if state["best_step"] is not None:
        best = best_weights or torch.load(directory / "best.pt", map_location="cpu")
        unwrapped.load_state_dict(best)
    checkpoint()
    if tracker:  # not end_training(): it also ends the process group that the next run's processes share
        for run in accelerator.trackers:
            run.finish()
    return TrainResult(state["global_step"], state["best_step"], state["best_score"], state["history"], resumed,
                       warmed_up)
