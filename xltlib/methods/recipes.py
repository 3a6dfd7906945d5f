"""Recipes as data: a run of a task is a schedule of stages (jiant's runscripts, Phang et al.'s STILTs), the last
one training the task itself. A stage names its task(s), the split and language it trains on, a budget (training
fields over the run's), how its model starts (`InitFrom`), which English dev selects its checkpoint, and, for
several tasks at once, a sampler over them (one head per task on a shared encoder).

XTREME-R's SIQA-then-COPA for XCOPA is the schedule `[{tasks: [siqa]}, {tasks: [xcopa], init: previous}]`; robust
training chained from a standard model (as Madry-style AT is usually run after the loss leaves its plateau) is
`[{tasks: [xnli], budget: {num_train_epochs: 2}, perturb: false}, {tasks: [xnli], init: previous, budget: ...}]`. A run
key hashes the whole schedule (`schedule_record`). A few-shot stage names its shot set (`shots: {k, shot_set, from}`,
`xltlib.tasks.shots`) and the target languages it is drawn in (`langs`); method names build such schedules
(`xltlib.methods.schedules`). Checked here without data or models, so a bad stage is an error
before anything loads.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core.config import TRAIN_FIELDS, check_field_names
from ..core.errors import ConfigError
from ..tasks.catalogue import TASKS
from ..tasks.handlers import handler_for
from ..tasks.models import InitFrom
from .samplers import check_sampler_tasks, resolve_sampler

STAGE_KEYS = ("tasks", "split", "langs", "budget", "init", "sampler", "select_on", "perturb", "shots")
SHOT_KEYS = ("k", "shot_set", "from")  # a few-shot stage's shot set (`xltlib.tasks.shots`)
SELECT_ON = ("target", "own", "last")  # whose English dev picks the checkpoint; `last`: no selection
LATER_INITS = (InitFrom.PREVIOUS_ENCODER, InitFrom.PREVIOUS, InitFrom.PRETRAINED_ENCODER)


@dataclass(frozen=True)
class Stage:
    tasks: tuple[str, ...]
    split: str = "train"
    langs: tuple[str, ...] = ()  # () = each task's source language (English)
    budget: dict = field(default_factory=dict)  # training fields over the run's, e.g. {num_train_epochs: 1}
    init: InitFrom | None = None  # None: the first stage starts as the method says; later ones previous_encoder
    sampler: dict = field(default_factory=dict)  # {name: options}; several tasks only
    select_on: str = "target"
    perturb: bool = True  # False: this stage fine-tunes plainly (robust training chained from a standard model)
    # A few-shot stage: {k, shot_set, from}: k examples per class of `split` in each of `langs`, shot set `shot_set`
    # drawn (from: null) or read from a folder in Zhao et al.'s layout; {}: the stage trains on its split as loaded.
    shots: dict = field(default_factory=dict)

    @property
    def multi_task(self) -> bool:
        return len(self.tasks) > 1

    def record(self) -> dict:
        return {"tasks": list(self.tasks), "split": self.split, "langs": list(self.langs), "budget": self.budget,
                "init": self.init.value if self.init else None, "sampler": self.sampler, "select_on": self.select_on,
                **({} if self.perturb else {"perturb": False}), **({"shots": self.shots} if self.shots else {})}


def parse_stage(raw, where: str, first: bool, target: str) -> Stage:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping with keys {', '.join(STAGE_KEYS)}, got {raw!r}")
    unknown = [k for k in raw if k not in STAGE_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(STAGE_KEYS)}")
    tasks = raw.get("tasks")
    if isinstance(tasks, str):
        tasks = [tasks]
    if not isinstance(tasks, (list, tuple)) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise ConfigError(f"{where}: 'tasks' must list at least one task name, got {tasks!r}")
    for task in tasks:
        if task not in TASKS:
            raise ConfigError(f"{where}: unknown task {task!r}; known tasks: {', '.join(TASKS.names())}")
    if len(set(tasks)) != len(tasks):
        raise ConfigError(f"{where}: task listed twice in {list(tasks)}")
    split = raw.get("split", "train")
    if split not in ("train", "validation"):
        raise ConfigError(f"{where}: 'split' must be train or validation (test sets are never trained on), "
                          f"got {split!r}")
    langs = raw.get("langs") or ()
    if isinstance(langs, str) or not all(isinstance(code, str) for code in langs):
        raise ConfigError(f"{where}: 'langs' must be a list of language codes, got {langs!r}")
    budget = raw.get("budget") or {}
    check_field_names(f"{where}: budget", budget, TRAIN_FIELDS)
    init = raw.get("init")
    if init is not None:
        try:
            init = InitFrom(init)
        except ValueError:
            raise ConfigError(f"{where}: unknown init {init!r}; allowed: "
                              f"{', '.join(i.value for i in LATER_INITS)}") from None
        if first:
            raise ConfigError(f"{where}: the first stage starts as the method says (pretrained encoder, or random "
                              f"weights for 'scratch'); remove its init {init.value!r}")
        if init not in LATER_INITS:
            raise ConfigError(f"{where}: init {init.value!r} is for a first stage; later stages start from: "
                              f"{', '.join(i.value for i in LATER_INITS)}")
    sampler = raw.get("sampler")
    if len(tasks) > 1:
        for task in tasks:
            handler = handler_for(TASKS[task])
            if handler.wraps_for_training:
                raise ConfigError(f"{where}: task {task!r} ({handler.name}) trains a module of its own around the "
                                  f"encoder, so it cannot share a multi-task stage with {sorted(set(tasks) - {task})}; "
                                  f"give it a stage of its own (e.g. seq:{task})")
        sampler = resolve_sampler(sampler if sampler is not None else "proportional", where)
        check_sampler_tasks(sampler, tasks, where)
    elif sampler is not None:
        raise ConfigError(f"{where}: a sampler draws among several tasks; this stage has one ({tasks[0]!r})")
    select_on = raw.get("select_on", "target")
    if select_on not in SELECT_ON:
        raise ConfigError(f"{where}: 'select_on' must be one of {', '.join(SELECT_ON)}, got {select_on!r}")
    perturb = raw.get("perturb", True)
    if not isinstance(perturb, bool):
        raise ConfigError(f"{where}: 'perturb' must be true or false, got {perturb!r}")
    shots = _parse_shots(raw.get("shots"), where, tasks, target)
    return Stage(tuple(tasks), split, tuple(langs), dict(budget), init, sampler or {}, select_on, perturb, shots)


def _parse_shots(shots, where: str, tasks, target: str) -> dict:
    if shots is None:
        return {}
    if not isinstance(shots, dict) or set(shots) - set(SHOT_KEYS) or "k" not in shots:
        raise ConfigError(f"{where}: 'shots' must map k (and shot_set, from) to values, got {shots!r}")
    if list(tasks) != [target]:
        raise ConfigError(f"{where}: a few-shot stage trains the target {target!r} alone, not {list(tasks)}")
    shots = {"k": shots["k"], "shot_set": shots.get("shot_set", 0), "from": shots.get("from")}
    for key, low in (("k", 1), ("shot_set", 0)):
        value = shots[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{where}: shots: {key!r} must be an integer >= {low}, got {value!r}")
    if shots["from"] is not None and not isinstance(shots["from"], str):
        raise ConfigError(f"{where}: shots: 'from' must be a folder path or null, got {shots['from']!r}")
    return shots


def parse_schedule(target: str, raw) -> tuple[Stage, ...]:
    """The stages of `target`'s runs: `raw` (a run's `stages[target]`, or None) with `target`'s own stage appended
    when the last stage does not train it (entering from the previous stage's encoder with a fresh head). The
    model that the last stage leaves is the one evaluated."""
    where = f"stages[{target!r}]"
    if raw is None:
        raw = []
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(f"{where} must be a list of stages, got {raw!r}")
    stages = [parse_stage(s, f"{where}[{i}]", i == 0, target) for i, s in enumerate(raw)]
    if not stages or target not in stages[-1].tasks:
        stages.append(Stage((target,)) if not stages else Stage((target,), init=InitFrom.PREVIOUS_ENCODER))
    return tuple(stages)


def schedule_record(stages: tuple[Stage, ...]) -> list[dict] | None:
    """What a run key hashes of a schedule; None for the plain one-stage schedule, so its keys stay as they were."""
    if len(stages) == 1 and stages[0] == Stage(stages[0].tasks):
        return None
    return [stage.record() for stage in stages]
