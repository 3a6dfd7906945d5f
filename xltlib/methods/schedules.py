"""Schedules as methods: a method name that says its recipe (Phang et al. 2020's intermediate-task training,
Lauscher et al. 2020's and Zhao et al. 2021's few-shot target-language stage), parsed into stages of
`xltlib.methods.recipes` before any data or model loads.

    <method>   ::= [ <adaptation> "+" ] <schedule> [ "+fs" <k> [ "s" <shot set> ] ]
    <adaptation> ::= "lora" | "bottleneck" | "madx"   a parameter-efficient method trained through the stages
                                                 (`seq:` and few-shot stages only); none: full fine-tuning
    <schedule> ::= "standard"                   the target task alone
                 | "seq:" <task> [ "@" <langs> ]   the intermediate task, then the target (fresh head, encoder carried)
                 | "multi:" <tasks> [ "@" <langs> ] | "multi:all" [ "@" <langs> ]
                                                 one multi-task intermediate stage (a sampler, a head per task),
                                                 then the target
                 | "joint:" <tasks>               the intermediate task(s) and the target sampled together in one stage
    <tasks>    ::= <task> ( "+" <task> )*         (multi: at least two)
    <langs>    ::= <lang> ( "," <lang> )* | "mix"  the intermediate data's languages: `@de` translate-train data,
                                                 `@mix` every language the task has training files for, in one stage
    "+fs16s3"  then k = 16 target-language examples per class (k examples where a task has no classes) from shot
               set 3 (`xltlib.tasks.shots`; "s<shot set>" left out: shot set 0), in each evaluation language but the
               source one.

`lora+seq:mnli` trains a LoRA (a task adapter for `bottleneck`, `madx`) on MNLI, then the target stage continues it
or stacks a new one over it (`intermediate_adapter`: `continue`, `stack`), the encoder frozen throughout; `seq:mnli`
is the same stages fully fine-tuned. `multi:all` is every intermediate task of the catalogue (tasks in no benchmark
group) that is fine-tuned. The method's options (`SCHEDULE_OPTIONS`, set in `method_options[<name>]`) give the
sampler and the stages' budgets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.config import TRAIN_FIELDS, check_field_names
from ..core.errors import ConfigError, UnknownNameError, XltError
from ..tasks.catalogue import TASKS
from ..tasks.handlers import HANDLERS, handler_for
from ..tasks.models import InitFrom
from .recipes import Stage, parse_stage
from .samplers import resolve_sampler

KINDS = ("seq", "multi", "joint")
ADAPTATIONS = ("lora", "bottleneck", "madx")  # the parameter-efficient methods a schedule name may start with
ADAPTER_OPTION, ADAPTER_MODES = "intermediate_adapter", ("continue", "stack")
INTERMEDIATE_SELECT_ON = ("own", "target", "last")  # the intermediate stage's checkpoint (`recipes.SELECT_ON`)
SHOT_SELECT_ON = ("target", "last")  # the few-shot stage's checkpoint: the target's English dev, or its last weights
MIX = "mix"
_FEW_SHOT = re.compile(r"\+fs(?P<k>\d+)(?:s(?P<shot_set>\d+))?$")
_LANG = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]+)?$")
GRAMMAR = ("seq:<task>[@<langs>], multi:<task>+<task>...[@<langs>], multi:all[@<langs>], joint:<task>[+<task>...], "
           "each, or standard, optionally followed by +fs<k>[s<shot set>]")

# A schedule method's options. `sampler`: how `multi:` and `joint:` stages draw each batch's task
# (`xltlib.methods.samplers`: uniform, proportional, temperature {temperature, cap}, specified {weights});
# default proportional, jiant's and this library's stage default. `intermediate_budget` and `shots_budget`: training
# fields over the run's for the intermediate (or joint) stage and the few-shot stage. `shots_select_on`: the few-shot
# stage's checkpoint, `target` (the target's English dev: the true few-shot protocol, no target-language dev) or
# `last`. `intermediate_select_on`: the `seq:` stage's checkpoint, on its own task's English dev (`own`, the default,
# as jiant early-stops an intermediate task on its own validation set: the model then depends on the intermediate
# task alone, so one is trained for every target, `xltlib.run.experiment.stage_prefixes`), the target's (`target`,
# XTREME-R's SIQA-then-COPA rule: the stage is then the target's own) or its last weights (`last`); a `multi:` stage
# has no one dev of its own and keeps its last weights under `own`. `shots_split`: the target-language split the
# shots are drawn from (train or validation; XNLI and PAWS-X have target-language dev sets only).
# `intermediate_adapter` (`lora+...`, `bottleneck+...`, `madx+...` only): a stage
# entered with a fresh head `continue`s the previous stage's adapter (LoRA) or `stack`s a new one over it, frozen
# below (LoRA: merged into the frozen weights). `shots_from`: a folder in Zhao et al.'s layout
# (`<root>/<task>/<K>-shots/<lang>/<i>-th/sampled.json`) to read the shot sets from instead of drawing them.
SCHEDULE_OPTIONS = {"sampler": "proportional", "intermediate_budget": {}, "intermediate_select_on": "own",
                    "shots_budget": {},
                    "shots_select_on": "target", "shots_split": "validation", "shots_from": None}


@dataclass(frozen=True)
class ScheduleName:
    """A parsed method name: its kind (`standard` or one of KINDS), the intermediate tasks (("all",) for
    multi:all), their languages ((): the source language; ("mix",): every language with training files), and the
    few-shot stage's k and shot set (k None: no few-shot stage)."""

    name: str
    kind: str
    tasks: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    k: int | None = None
    shot_set: int = 0
    adaptation: str | None = None  # one of ADAPTATIONS; None: full fine-tuning

    def intermediate_tasks(self) -> tuple[str, ...]:
        return intermediate_tasks() if self.tasks == ("all",) else self.tasks


def looks_like_schedule(name) -> bool:
    """Whether `name` is in the schedule grammar's form (then a bad one is an error saying what is wrong with it)."""
    if not isinstance(name, str):
        return False
    head, plus, rest = name.partition("+")
    adapted = bool(plus) and ":" in rest and rest.split(":", 1)[0] in KINDS  # <adaptation>+seq:...
    return (name.split(":", 1)[0] in KINDS and ":" in name or adapted or bool(_FEW_SHOT.search(name))
            or name.startswith("standard+") or head in ADAPTATIONS and bool(plus))


def intermediate_tasks() -> tuple[str, ...]:
    """`multi:all`'s tasks: the catalogue's tasks in no benchmark group whose type is fine-tuned and can be a head of
    a multi-task stage (not `image_text`, which trains projections around the encoder), in catalogue order; a task
    whose training data holds another of them (`anli_plus` holds `mnli`'s: TaskSpec.includes) is left out, so no data
    is trained twice (name it to train it: `multi:anli_plus+squad`)."""
    tasks = tuple(name for name, spec in TASKS.items()
                  if spec.group is None and spec.type in HANDLERS and handler_for(spec).fine_tuned
                  and not handler_for(spec).wraps_for_training)
    return tuple(name for name in tasks if not set(TASKS[name].includes) & set(tasks))


def parse_schedule_name(name: str) -> ScheduleName:
    """`name` parsed and its tasks checked (known, of a type a handler reads, fine-tuned), or a ConfigError naming
    what is wrong; no data or model is read."""
    where = f"method {name!r}"
    head, plus, body = name.partition("+")
    if plus and (head in ADAPTATIONS or ":" in body and body.split(":", 1)[0] in KINDS and ":" not in head):
        return _adapted(name, head, body, where)
    rest, k, shot_set = name, None, 0
    few_shot = _FEW_SHOT.search(name)
    if few_shot:
        rest, k = name[:few_shot.start()], int(few_shot["k"])
        shot_set = int(few_shot["shot_set"] or 0)
        if k < 1:
            raise ConfigError(f"{where}: k must be at least 1 (+fs{k}); the schedule without '+fs...' is k = 0")
    if rest == "standard":
        return ScheduleName(name, "standard", k=k, shot_set=shot_set)
    kind, _, body = rest.partition(":")
    if kind not in KINDS or not body:
        raise UnknownNameError(f"{where}: not a schedule name; schedules are {GRAMMAR}")
    body, _, langs = body.partition("@")
    tasks = tuple(body.split("+"))
    if langs:
        langs = tuple(langs.split(","))
        bad = [code for code in langs if code != MIX and not _LANG.match(code)]
        if bad or (MIX in langs and len(langs) > 1):
            raise ConfigError(f"{where}: languages after '@' are codes separated by commas (seq:mnli@de,fr) or "
                              f"'mix', got {'@' + ','.join(langs)!r}")
        if kind == "joint":
            raise ConfigError(f"{where}: a joint stage trains the target on its source language; non-English "
                              f"intermediate data is for seq: and multi: (seq:mnli@de, multi:mnli+squad@mix)")
    else:
        langs = ()
    if tasks == ("all",) and kind == "multi":
        return ScheduleName(name, kind, tasks, langs, k, shot_set)
    if kind == "multi" and len(tasks) < 2:
        raise ConfigError(f"{where}: multi: trains several intermediate tasks in one stage; for one, use "
                          f"seq:{tasks[0]}")
    if kind == "seq" and len(tasks) != 1:
        raise ConfigError(f"{where}: seq: names one intermediate task; several in one stage are "
                          f"multi:{'+'.join(tasks)}")
    if len(set(tasks)) != len(tasks):
        raise ConfigError(f"{where}: task listed twice in {'+'.join(tasks)}")
    for task in tasks:
        check_intermediate(task, where)
    return ScheduleName(name, kind, tasks, langs, k, shot_set)


def _adapted(name: str, adaptation: str, schedule: str, where: str) -> ScheduleName:
    """`<adaptation>+<schedule>`: the schedule parsed, then checked to train one task a stage."""
    if adaptation not in ADAPTATIONS:
        raise UnknownNameError(f"{where}: unknown adaptation {adaptation!r} before the schedule; adaptations: "
                               f"{', '.join(ADAPTATIONS)} (full fine-tuning is the schedule alone: {schedule})")
    try:
        parsed = parse_schedule_name(schedule)
    except XltError as error:  # the error names the whole method
        raise type(error)(str(error).replace(f"method {schedule!r}", where, 1)) from None
    if parsed.adaptation is not None:
        raise ConfigError(f"{where}: one adaptation per method, got {adaptation!r} and {parsed.adaptation!r}")
    if parsed.kind in ("multi", "joint"):
        raise ConfigError(f"{where}: {adaptation} trains its adapter one task a stage (seq:<task>, +fs<k>); a "
                          f"{parsed.kind}: stage shares one encoder among several heads, which is not built for "
                          "adapters")
    if parsed.kind == "standard" and parsed.k is None:
        raise ConfigError(f"{where}: {adaptation}+standard is the method {adaptation!r}; a schedule name after "
                          f"'{adaptation}+' says an intermediate stage (seq:<task>) or a few-shot stage (+fs<k>)")
    return ScheduleName(name, parsed.kind, parsed.tasks, parsed.langs, parsed.k, parsed.shot_set, adaptation)


def check_intermediate(task: str, where: str) -> None:
    if task not in TASKS:
        raise UnknownNameError(f"{where}: unknown task {task!r}; known tasks: {', '.join(TASKS.names())}")
    spec = TASKS[task]
    if spec.type not in HANDLERS:
        raise ConfigError(f"{where}: task {task!r} has type {spec.type!r}, which no handler reads; handled types: "
                          f"{', '.join(HANDLERS.names())}")
    if not handler_for(spec).fine_tuned:
        raise ConfigError(f"{where}: task {task!r} ({spec.type}) is not fine-tuned, so it cannot be an intermediate "
                          "stage")


def check_schedule_options(what: str, options: dict) -> None:
    resolve_sampler(options["sampler"], what)
    for key in ("intermediate_budget", "shots_budget"):
        check_field_names(f"{what}: option {key!r}", options[key], TRAIN_FIELDS)
    if options["intermediate_select_on"] not in INTERMEDIATE_SELECT_ON:
        raise ConfigError(f"{what}: option 'intermediate_select_on' must be one of "
                          f"{', '.join(INTERMEDIATE_SELECT_ON)}, got {options['intermediate_select_on']!r}")
    if ADAPTER_OPTION in options and options[ADAPTER_OPTION] not in ADAPTER_MODES:
        raise ConfigError(f"{what}: option {ADAPTER_OPTION!r} must be one of {', '.join(ADAPTER_MODES)}, got "
                          f"{options[ADAPTER_OPTION]!r}")
    if options["shots_select_on"] not in SHOT_SELECT_ON:
        raise ConfigError(f"{what}: option 'shots_select_on' must be one of {', '.join(SHOT_SELECT_ON)}, got "
                          f"{options['shots_select_on']!r}")
    if options["shots_split"] not in ("train", "validation"):
        raise ConfigError(f"{what}: option 'shots_split' must be train or validation (shots never come from a test "
                          f"set), got {options['shots_split']!r}")
    if options["shots_from"] is not None and not isinstance(options["shots_from"], str):
        raise ConfigError(f"{what}: option 'shots_from' must be a folder path or null, got {options['shots_from']!r}")


def schedule_stages(schedule: ScheduleName, target: str, options: dict, *, mix_langs: tuple[str, ...] = (),
                    shot_langs: tuple[str, ...] = ()) -> tuple[Stage, ...]:
    """The stages of `schedule` for `target`, the last one the model evaluated. `mix_langs`: what `@mix` stands for
    (the intermediate tasks' languages with training files); `shot_langs`: the few-shot stage's languages (the run's
    evaluation languages but the source one). Built through `parse_stage`, so each stage is checked as a stage
    written in `stages` is."""
    where = f"method {schedule.name!r} for task {target!r}"
    tasks = schedule.intermediate_tasks()
    if target in tasks:
        raise ConfigError(f"{where}: {target!r} is the target itself; the intermediate tasks are trained before it "
                          f"(joint: adds it to its stage)")
    if schedule.tasks == ("all",):
        tasks = tuple(t for t in tasks if t != target)
    langs = schedule.langs
    if langs == (MIX,):
        if len(mix_langs) < 2:
            raise ConfigError(f"{where}: '@mix' mixes the languages an intermediate task has training files for, "
                              f"and {'+'.join(tasks)} has {', '.join(mix_langs) or 'none'}; give translate-train "
                              f"files by data_files: {{{tasks[0]}: {{train: {{<lang>: <path>}}}}}}")
        langs = mix_langs
    budget, sampler = options["intermediate_budget"], options["sampler"]
    raw = []
    if schedule.kind in ("seq", "multi"):
        select_on = options["intermediate_select_on"]
        raw.append({"tasks": list(tasks), "langs": list(langs), "budget": budget,
                    "select_on": "last" if select_on == "own" and len(tasks) > 1 else select_on,
                    **({"sampler": sampler} if len(tasks) > 1 else {})})
        raw.append({"tasks": [target], "init": InitFrom.PREVIOUS_ENCODER.value})
    elif schedule.kind == "joint":
        raw.append({"tasks": [*tasks, target], "budget": budget, "sampler": sampler})
    else:
        raw.append({"tasks": [target]})
    if schedule.k is not None:
        if not shot_langs:
            raise ConfigError(f"{where}: a few-shot stage trains on the evaluation languages but the source one, and "
                              f"this run evaluates {target!r} on its source language only; add target languages to "
                              "eval_langs")
        raw.append({"tasks": [target], "split": options["shots_split"], "langs": list(shot_langs),
                    "budget": options["shots_budget"], "init": InitFrom.PREVIOUS.value,
                    "select_on": options["shots_select_on"],
                    "shots": {"k": schedule.k, "shot_set": schedule.shot_set, "from": options["shots_from"]}})
    return tuple(parse_stage(s, f"{where}: stage {i}", i == 0, target) for i, s in enumerate(raw))
