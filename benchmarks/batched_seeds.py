"""How many fine-tuning seeds per minute this CPU trains: one run at a time, K seeds stacked into one vmapped
model, or K seeds split over two single-threaded processes, measured side by side in one invocation.

Why: the statistical-power issue asks for >= 10 seeds per method, so that method differences can be told from
seed noise. This measures whether training seeds together pays for them on the 2-core CPU. Variants (VARIANTS):
- sequential: the K seeds one after another, each its own model, one thread, AdamW as the training loop makes it
  (torch's default: on CPU the per-tensor loop); "foreach AdamW": the same with AdamW's multi-tensor kernels;
- stacked: the K models' parameters stacked (`torch.func.stack_module_state`), one forward and backward for all
  of them (`torch.func.functional_call` under `torch.vmap`, each seed with its own batch from its own data order,
  the K batches padded to one length), one AdamW over the stacked tensors and gradient clipping per seed, one
  thread; with sdpa attention (transformers' default, whose CPU kernel has no vmap batching rule, so vmap runs it
  once per seed) and with eager attention (plain matmuls, batched);
- two processes: the K seeds split over two worker processes (one thread each), sequential in each; and the same
  split with each worker stacking its seeds.
Every seed trains the embedded world's default encoder shape (BertForSequenceClassification, hidden 64, 4 layers,
4 heads, FFN 256, vocabulary 580; random init from its seed: cost does not depend on the weights) on synthetic
token ids of pairs (22 tokens on average, padded to the longest in the batch; no world build needed), batch 32,
AdamW lr 3e-4 with the training loop's weight-decay groups, linear warmup (10%) and decay, clipping at 1.0.
Dropout is 0 in every variant: under vmap dropout draws other random numbers than a plain run, so twins could
not be compared. vmap needs a precomputed 4-D attention mask: from a 2-D mask, transformers' mask builder asks
`padding_mask.all()` (with sdpa and eager attention alike), data-dependent control flow that vmap refuses.
Correctness: after each repeat every seed's logits on a fixed batch are compared with its sequential twin's; and
one AdamW over stacked parameters is compared with one AdamW per model on the same random gradients at a learning
rate and weight decay large enough to show a wrong decay group or clip factor (AdamW, its decoupled weight decay
included, is elementwise, so one over stacked tensors should be K of them). Variants take turns in `--repeats`
rounds (order rotated); medians are reported, in wall and in CPU seconds (all processes together; robust to other
tenants' load). Seeds per minute are at the embedded world's default budget (376 steps per run), from the measured
wall rate of training steps; the real loop's extras (tokenizing, accelerate, English-dev evaluation) are not in it.

    python benchmarks/batched_seeds.py [--seeds 4] [--steps 60] [--repeats 3]
writes outputs/bench/batched_seeds.json and outputs/bench/batched_seeds.md.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import copy
import multiprocessing
import os
import platform
import statistics
import subprocess
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads, here and in the spawned workers
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from torch.func import functional_call, stack_module_state  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, get_linear_schedule_with_warmup  # noqa: E402

from xltlib.core.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from xltlib.core.paths import outputs_dir  # noqa: E402
from xltlib.run.loop import step_seed  # noqa: E402

DEFAULT_BUDGET_STEPS = 376  # the embedded world's default fine-tuning run: 6000 pairs, batch 32, 2 epochs
VOCAB_SIZE, PAD, CLS, SEP, FIRST_WORD = 580, 0, 2, 3, 5
BATCH_SIZE, LEARNING_RATE, WEIGHT_DECAY, WARMUP_RATIO, MAX_GRAD_NORM = 32, 3e-4, 0.01, 0.1, 1.0
N_POOL, DATA_SEED = 6000, 0
NO_DECAY = ("bias", "LayerNorm.weight")  # the loop's rule (xltlib.run.loop._optimizer) for a BERT
TOLERANCE = 1e-4  # max |logit difference| allowed between a seed and its sequential twin


def encoder_config(attention: str = "sdpa") -> BertConfig:
    return BertConfig(vocab_size=VOCAB_SIZE, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                      intermediate_size=256, max_position_embeddings=64, num_labels=2, pad_token_id=PAD,
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0,
                      attn_implementation=attention)


def make_model(seed: int, attention: str = "sdpa") -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(encoder_config(attention)).train()


def synthetic_pairs(n: int, seed: int) -> dict:
    """`n` pairs `[CLS] a [SEP] b [SEP]`, each sentence 7-12 random word ids (22 tokens on average), right-padded
    to the longest, with segment ids, lengths and binary labels."""
    g = torch.Generator().manual_seed(seed)
    first, second = torch.randint(7, 13, (n,), generator=g), torch.randint(7, 13, (n,), generator=g)
    lengths = first + second + 3
    ids = torch.randint(FIRST_WORD, VOCAB_SIZE, (n, int(lengths.max())), generator=g)
    positions = torch.arange(ids.shape[1])
    segments = (positions[None] > (first + 1)[:, None]).long()
    ids[:, 0] = CLS
    ids[torch.arange(n), first + 1] = SEP
    ids[torch.arange(n), lengths - 1] = SEP
    ids[positions[None] >= lengths[:, None]] = PAD
    segments[positions[None] >= lengths[:, None]] = 0
    return {"input_ids": ids, "token_type_ids": segments, "lengths": lengths,
            "labels": torch.randint(0, 2, (n,), generator=g)}


def make_batch(pool: dict, index: torch.Tensor, length: int | None = None) -> dict:
    """The pairs at `index`, padded to `length` (default: the longest of them, as the project's collator pads)."""
    lengths = pool["lengths"][index]
    length = length or int(lengths.max())
    return {"input_ids": pool["input_ids"][index, :length], "token_type_ids": pool["token_type_ids"][index, :length],
            "attention_mask": (torch.arange(length)[None] < lengths[:, None]).long(), "labels": pool["labels"][index]}


class DataOrder:
    """A seed's own shuffled batches of the pool, reshuffled every epoch as the training loop reshuffles."""

    def __init__(self, seed: int, n: int):
        self.seed, self.n, self.epoch, self.order, self.position = seed, n, -1, None, n

    def next_index(self) -> torch.Tensor:
        if self.position + BATCH_SIZE > self.n:  # drops the short last batch (the loop trains on its 16 pairs)
            self.epoch += 1
            generator = torch.Generator().manual_seed(step_seed(self.seed, self.epoch, -1))
            self.order = torch.randperm(self.n, generator=generator)
            self.position = 0
        self.position += BATCH_SIZE
        return self.order[self.position - BATCH_SIZE:self.position]


@dataclass(frozen=True)
class Variant:
    name: str
    stacked: bool = False  # the seeds trained together under vmap, else one after another
    processes: int = 1  # 2: seeds alternately to two single-threaded worker processes
    attention: str = "sdpa"  # transformers' attention implementation; sdpa is its default and the project's
    foreach: bool | None = None  # AdamW's multi-tensor implementation; None: torch's choice (on CPU: off)


VARIANTS = [
    Variant("sequential"),
    Variant("sequential, foreach AdamW", foreach=True),
    Variant("stacked (sdpa)", stacked=True),
    Variant("stacked (eager)", stacked=True, attention="eager"),
    Variant("two processes", processes=2),
    Variant("stacked (eager), two processes", stacked=True, processes=2, attention="eager"),
]


@dataclass
class Clock:
    """Wall and CPU seconds of a block (one thread: CPU time is the work without other tenants' waiting)."""
    wall: float = 0.0
    cpu: float = 0.0
    busiest_cpu: float = 0.0  # the one process with the most CPU seconds: the wall time of an idle machine, at least
    ended: float = 0.0  # time.perf_counter at the end: system-wide on Linux, so comparable across processes

    @contextlib.contextmanager
    def running(self):
        wall, cpu = time.perf_counter(), time.process_time()
        yield self
        self.ended = time.perf_counter()
        self.wall, self.cpu = self.ended - wall, time.process_time() - cpu
        self.busiest_cpu = self.cpu


def optimizer_and_schedule(named_params, steps: int, foreach: bool | None, *, learning_rate: float = LEARNING_RATE,
                           weight_decay: float = WEIGHT_DECAY):
    groups = [{"params": [p for n, p in named_params if not n.endswith(NO_DECAY)], "weight_decay": weight_decay},
              {"params": [p for n, p in named_params if n.endswith(NO_DECAY)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, foreach=foreach)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(WARMUP_RATIO * steps), steps)


def forward_logits(model, batch: dict) -> torch.Tensor:
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                 token_type_ids=batch["token_type_ids"]).logits


def train_sequential(variant: Variant, seeds: list[int], steps: int, pool: dict) -> tuple[list, Clock]:
    """Each seed's model trained for `steps` steps, one after another (models built before the clock starts)."""
    models = [make_model(seed, variant.attention) for seed in seeds]
    with Clock().running() as clock:
        for seed, model in zip(seeds, models):
            order = DataOrder(seed, len(pool["labels"]))
            optimizer, schedule = optimizer_and_schedule(list(model.named_parameters()), steps, variant.foreach)
            for _ in range(steps):
                batch = make_batch(pool, order.next_index())
                loss = F.cross_entropy(forward_logits(model, batch), batch["labels"])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
    return models, clock


class StackedModels:
    """K models of one architecture as one: parameters stacked along a new first dimension, called under vmap."""

    def __init__(self, models: list):
        self.params, self.buffers = stack_module_state(models)
        self.base = copy.deepcopy(models[0]).to("meta")  # the architecture only; weights come from self.params

    def _one(self, params, buffers, input_ids, mask4d, token_type_ids):
        return functional_call(self.base, (params, buffers), (input_ids,),
                               {"attention_mask": mask4d, "token_type_ids": token_type_ids}).logits

    def logits(self, batches: dict) -> torch.Tensor:
        """`batches` holds [K, batch, length] tensors, seed k's batch at k; returns [K, batch, labels]."""
        # (batch, 1, 1, length), added to the attention scores: a 4-D mask is passed through as is, so no
        # data-dependent check runs under vmap; additive (not boolean) because eager attention adds it
        mask4d = (1.0 - batches["attention_mask"][:, :, None, None, :].float()) * torch.finfo(torch.float32).min
        return torch.vmap(self._one)(self.params, self.buffers, batches["input_ids"], mask4d,
                                     batches["token_type_ids"])

    def clip_per_seed(self, max_norm: float) -> None:
        """`clip_grad_norm_` for each seed's slice: the same norm and factor a single model's clip computes."""
        per_param = torch.stack([torch.linalg.vector_norm(p.grad.flatten(1), dim=1) for p in self.params.values()])
        factor = (max_norm / (torch.linalg.vector_norm(per_param, dim=0) + 1e-6)).clamp(max=1.0)
        for p in self.params.values():
            p.grad.mul_(factor.view(-1, *[1] * (p.dim() - 1)))


def train_stacked(variant: Variant, seeds: list[int], steps: int, pool: dict) -> tuple[StackedModels, Clock]:
    """The seeds' models trained together for `steps` steps, one AdamW over the stacked parameters."""
    stacked = StackedModels([make_model(seed, variant.attention) for seed in seeds])
    orders = [DataOrder(seed, len(pool["labels"])) for seed in seeds]
    optimizer, schedule = optimizer_and_schedule(list(stacked.params.items()), steps, variant.foreach)
    with Clock().running() as clock:
        for _ in range(steps):
            indexes = [order.next_index() for order in orders]
            length = max(int(pool["lengths"][index].max()) for index in indexes)  # one shape for all K batches
            parts = [make_batch(pool, index, length) for index in indexes]
            batches = {key: torch.stack([part[key] for part in parts]) for key in parts[0]}
            losses = F.cross_entropy(stacked.logits(batches).flatten(0, 1), batches["labels"].flatten(),
                                     reduction="none")
            losses.view(len(seeds), -1).mean(1).sum().backward()  # seed k's gradient: its own batch's mean loss
            stacked.clip_per_seed(MAX_GRAD_NORM)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    return stacked, clock


@torch.no_grad()
def optimizer_check(seeds: list[int], steps: int = 3) -> dict:
    """Max |difference| between stacked and per-model parameters after `steps` clipped AdamW steps on the same
    random gradients, with a learning rate (1e-2) and weight decay (0.5) large enough that a wrong decay group or
    clip factor would show: after 60 real steps at lr 3e-4 the decay moves weights by ~1e-8, below any logit check."""
    models = [make_model(seed) for seed in seeds]
    stacked = StackedModels(models)
    g = torch.Generator().manual_seed(DATA_SEED)
    grads = {name: torch.randn(p.shape, generator=g) for name, p in stacked.params.items()}  # norm >> 1: clipped
    single = [optimizer_and_schedule(list(m.named_parameters()), steps, None, learning_rate=1e-2, weight_decay=0.5)
              for m in models]
    together = optimizer_and_schedule(list(stacked.params.items()), steps, None, learning_rate=1e-2, weight_decay=0.5)
    for _ in range(steps):
        for k, (model, (optimizer, schedule)) in enumerate(zip(models, single)):
            for name, p in model.named_parameters():
                p.grad = grads[name][k].clone()
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            schedule.step()
        for name, p in stacked.params.items():
            p.grad = grads[name].clone()
        stacked.clip_per_seed(MAX_GRAD_NORM)
        together[0].step()
        together[1].step()
    initial = dict(make_model(seeds[0]).named_parameters())
    moved = max(float((p - initial[name]).abs().max()) for name, p in models[0].named_parameters())
    return {"max_abs_param_diff": max(float((stacked.params[name][k] - p).abs().max())
                                      for k, model in enumerate(models) for name, p in model.named_parameters()),
            "max_abs_param_change": moved, "learning_rate": 1e-2, "weight_decay": 0.5, "steps": steps}


@torch.no_grad()
def probe_logits(trained, n_seeds: int) -> torch.Tensor:
    """[K, 64, labels] logits on a fixed batch, of sequential models (a list) or of StackedModels."""
    probe = make_batch(synthetic_pairs(64, DATA_SEED + 1), torch.arange(64))
    if isinstance(trained, StackedModels):
        return trained.logits({key: value.expand(n_seeds, *value.shape) for key, value in probe.items()})
    return torch.stack([forward_logits(model.eval(), probe) for model in trained])


def train_in_process(variant: Variant, seeds: list[int], steps: int) -> tuple[torch.Tensor, Clock]:
    """The seeds trained as `variant` says (in this process); their probe logits and the training clock."""
    warnings.filterwarnings("ignore", message=".*batching rule.*")  # sdpa's CPU kernel under vmap: loops over K
    torch.set_num_threads(1)
    train = train_stacked if variant.stacked else train_sequential
    trained, clock = train(variant, seeds, steps, synthetic_pairs(N_POOL, DATA_SEED))
    return probe_logits(trained, len(seeds)), clock


def run_variant(executor, variant: Variant, seeds: list[int], steps: int) -> tuple[torch.Tensor, Clock]:
    """With two processes, seeds go alternately to the two workers; wall seconds run from the first worker's
    start to the last one's end, CPU seconds add up."""
    if variant.processes == 1:
        return train_in_process(variant, seeds, steps)
    shares = [seeds[0::2], seeds[1::2]]
    results = list(executor.map(train_in_process, [variant] * 2, shares, [steps] * 2))
    logits = torch.empty(len(seeds), *results[0][0].shape[1:])
    for share, (share_logits, _) in zip(shares, results):
        logits[[seeds.index(s) for s in share]] = share_logits
    clocks = [clock for _, clock in results]
    ended = max(c.ended for c in clocks)
    return logits, Clock(wall=ended - min(c.ended - c.wall for c in clocks), cpu=sum(c.cpu for c in clocks),
                         busiest_cpu=max(c.cpu for c in clocks), ended=ended)


def load_average() -> dict:
    one, five, fifteen = os.getloadavg()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"load_1min": one, "load_5min": five, "load_15min": fifteen, "uptime": uptime}


def markdown(result: dict) -> str:
    lines = [f"# Fine-tuning seeds per minute ({result['machine']['cpu_count']} CPU cores)", "",
             f"{result['seeds']} seeds x {result['steps']} steps each, batch {BATCH_SIZE}, medians of "
             f"{result['repeats']} interleaved repeats; seeds per minute at {DEFAULT_BUDGET_STEPS} steps per run "
             "(training steps only). Dropout 0 in every variant. CPU s: all processes together. Idle estimate: "
             "the busiest process's CPU seconds as wall time (what the machine would do without other load).", "",
             "| variant | wall s | CPU s | seed-steps/s | seeds/min | x sequential | x sequential (CPU) | "
             "seeds/min, idle est. | x sequential, idle est. | max abs logit diff |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        diff = "(reference)" if row["name"] == "sequential" else f"{row['max_abs_logit_diff']:.1e}"
        lines.append(f"| {row['name']} | {row['median_wall_seconds']:.2f} | {row['median_cpu_seconds']:.2f} | "
                     f"{row['seed_steps_per_second']:.1f} | {row['seeds_per_minute_at_default_budget']:.2f} | "
                     f"{row['speedup_vs_sequential']:.2f} | {row['cpu_speedup_vs_sequential']:.2f} | "
                     f"{row['idle_estimate_seeds_per_minute']:.2f} | "
                     f"{row['idle_estimate_speedup_vs_sequential']:.2f} | {diff} |")
    load, check = result["load"], result["optimizer_check"]
    lines += ["", f"Every seed's logits on a fixed batch equal its sequential twin's within {TOLERANCE:g}: "
              f"{result['twins_agree']}. One AdamW over stacked parameters against one per model (random clipped "
              f"gradients, lr {check['learning_rate']:g}, weight decay {check['weight_decay']:g}, {check['steps']} "
              f"steps, weights moved up to {check['max_abs_param_change']:.1e}): max difference "
              f"{check['max_abs_param_diff']:.1e}. Worker start-up (once, not timed above): "
              f"{result['worker_startup_seconds']:.1f} s. Load (`uptime`) before: {load['before']['uptime']}; "
              f"after: {load['after']['uptime']}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="K, seeds per variant (>= 2: two processes share them)")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per seed")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of every variant")
    parser.add_argument("--out", type=Path, default=outputs_dir() / "bench" / "batched_seeds.json")
    args = parser.parse_args()
    for name, least in (("seeds", 2), ("steps", 1), ("repeats", 1)):
        if getattr(args, name) < least:
            parser.error(f"--{name} must be at least {least}, got {getattr(args, name)}")

    seeds = list(range(1, args.seeds + 1))
    load_before = load_average()
    started = time.perf_counter()
    # spawn: fresh interpreters that read OMP_NUM_THREADS before torch loads; started once, outside the timings
    executor = concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    list(executor.map(torch.set_num_threads, [1, 1]))
    startup = time.perf_counter() - started
    optimizer_equal = optimizer_check(seeds)

    clocks = {v.name: [] for v in VARIANTS}
    diffs = {v.name: 0.0 for v in VARIANTS}
    for repeat in range(args.repeats):
        logits = {}
        for variant in VARIANTS[repeat % len(VARIANTS):] + VARIANTS[:repeat % len(VARIANTS)]:
            logits[variant.name], clock = run_variant(executor, variant, seeds, args.steps)
            clocks[variant.name].append(clock)
            print(f"repeat {repeat + 1}/{args.repeats}: {variant.name:<32} {clock.wall:6.2f} s wall "
                  f"{clock.cpu:6.2f} s CPU", flush=True)
        for name in diffs:
            diffs[name] = max(diffs[name], float((logits[name] - logits["sequential"]).abs().max()))
    executor.shutdown()

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(clock, field) for clock in clocks[name])

    rows = []
    for variant in VARIANTS:
        wall, cpu, idle = (median(variant.name, field) for field in ("wall", "cpu", "busiest_cpu"))
        rate, idle_rate = args.seeds * args.steps / wall, args.seeds * args.steps / idle
        rows.append({**asdict(variant), "wall_seconds": [c.wall for c in clocks[variant.name]],
                     "cpu_seconds": [c.cpu for c in clocks[variant.name]], "median_wall_seconds": wall,
                     "median_cpu_seconds": cpu, "median_busiest_process_cpu_seconds": idle,
                     "seed_steps_per_second": rate,
                     "seeds_per_minute_at_default_budget": 60 * rate / DEFAULT_BUDGET_STEPS,
                     "idle_estimate_seeds_per_minute": 60 * idle_rate / DEFAULT_BUDGET_STEPS,
                     "speedup_vs_sequential": median("sequential", "wall") / wall,
                     "cpu_speedup_vs_sequential": median("sequential", "cpu") / cpu,
                     "idle_estimate_speedup_vs_sequential": median("sequential", "busiest_cpu") / idle,
                     "max_abs_logit_diff": diffs[variant.name]})
    result = {
        "what": "fine-tuning seeds per minute: one at a time, stacked under torch.vmap, in two processes",
        "seeds": args.seeds, "steps": args.steps, "repeats": args.repeats, "batch_size": BATCH_SIZE,
        "default_budget_steps": DEFAULT_BUDGET_STEPS,
        "mean_tokens_per_pair": float(synthetic_pairs(N_POOL, DATA_SEED)["lengths"].float().mean()),
        "encoder": encoder_config().to_diff_dict(),
        "optimizer": {"name": "AdamW", "learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY,
                      "no_decay": NO_DECAY, "warmup_ratio": WARMUP_RATIO, "max_grad_norm": MAX_GRAD_NORM},
        "timing": "training steps only (models built before the clock starts; worker start-up once, apart); "
                  "variants interleaved, order rotated each repeat; medians over repeats. idle estimate: the busiest "
                  "process's CPU seconds taken as the wall time (what an otherwise idle machine would take, at "
                  "least: one thread per process, one core each)",
        "vmap_needed": "a precomputed 4-D additive attention mask (batch, 1, 1, length): from a 2-D mask "
                       "transformers' create_bidirectional_mask calls padding_mask.all(), data-dependent control "
                       "flow that vmap refuses, with sdpa and eager attention alike; dropout 0 in every variant. "
                       "sdpa's CPU kernel has no vmap batching rule: vmap runs it once per seed",
        "tolerance": TOLERANCE, "twins_agree": all(d < TOLERANCE for d in diffs.values()),
        "optimizer_check": optimizer_equal,
        "worker_startup_seconds": startup,
        "load": {"before": load_before, "after": load_average()},
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "transformers": transformers.__version__, "cpu_count": os.cpu_count()},
        "rows": rows,
    }
    atomic_write_json(args.out, result)
    atomic_write_text(args.out.with_suffix(".md"), markdown(result))
    print(markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
