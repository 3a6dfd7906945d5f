"""The checks of a run that need registries, in one step before any data or model loads: every task, method,
attack, smoothing and stage named is known; every option resolves and is in range (a task's own `task_options`
too, against its handler's); every method and attack is
defined for every task it would run on (refused naming both otherwise); GPU-only training options have a GPU; the model name is one `from_pretrained`
can take; `data_files` name only tasks the run reads; the tracker `report_to` names is installed. `RunConfig`
itself checks only types and ranges (it sits below the registries).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ..core.config import RunConfig
from ..core.errors import ConfigError, UnknownNameError
from ..methods.recipes import Stage, parse_schedule
from ..methods.spec import METHODS
from ..robustness.attacks import ATTACKS, resolve_attacks
from ..robustness.smoothing import SMOOTHINGS, resolve_smoothing
from ..tasks.catalogue import TASKS
from ..tasks.handlers import TaskHandler, handler_for
from ..tasks.models import check_model_name
from ..tasks.spec import TaskSpec
from .loop import check_device_options


@dataclass(frozen=True)
class TaskPlan:
    spec: TaskSpec
    handler: TaskHandler
    cfg: RunConfig  # the run's settings with this task's overrides
    stages: tuple[Stage, ...]
    method_options: dict[str, dict]  # resolved, by method
    attacks: dict[str, dict]  # resolved
    smoothing: dict[str, dict]  # resolved


def _known(registry, names, field: str) -> None:
    for name in names:
        if name not in registry:
            raise UnknownNameError(f"{field}: unknown {registry.kind} {name!r}; known {registry.kind}s: "
                              f"{', '.join(registry.names())}")


def plan(cfg: RunConfig) -> dict[str, TaskPlan]:
    """{task: its plan}, or a ConfigError naming the first thing that is wrong."""
    _known(TASKS, cfg.tasks, "tasks")
    _known(METHODS, cfg.methods, "methods")
    for field in ("method_options", "task_overrides", "data_files", "stages"):
        registry = METHODS if field == "method_options" else TASKS
        _known(registry, getattr(cfg, field), field)
    check_model_name(cfg.model_name_or_path, cfg.world)
    _check_tracker(cfg.report_to)
    for task in cfg.task_options:  # each entry's options checked against its task's handler
        if task not in TASKS:
            raise UnknownNameError(f"task_options.{task}: unknown task {task!r}; known tasks: "
                                   f"{', '.join(TASKS.names())}")
        handler_for(TASKS[task], cfg.task_options)
    out = {}
    for task in cfg.tasks:
        spec = TASKS[task]
        handler = handler_for(spec, cfg.task_options)
        task_cfg = cfg.for_task(task)
        where = f"task_overrides[{task!r}]: " if task in cfg.task_overrides else ""
        try:
            # Every method's options are checked, also those of methods this run does not list.
            options = {m: METHODS[m].resolve(task_cfg.method_options.get(m))
                       for m in dict.fromkeys(tuple(cfg.methods) + tuple(task_cfg.method_options))}
            attacks, smoothing = resolve_attacks(task_cfg.attacks), resolve_smoothing(task_cfg.smoothing)
        except ConfigError as e:  # the same error type (an unknown name stays an UnknownNameError)
            raise type(e)(f"{where}{e}") from None
        for method, resolved in options.items():
            if method not in cfg.methods:
                continue
            for capability in METHODS[method].capabilities(resolved):
                handler.check_supports(spec, capability, f"method {method!r}")
            if not handler.fine_tuned and METHODS[method].needs:
                raise ConfigError(f"method {method!r} is not defined for task {task!r} ({handler.name}): it is not "
                                  "fine-tuned, so there is no training to perturb")
        overrides = f"; turn it off for this task with task_overrides: {{{task}: {{attacks: {{}}, smoothing: {{}}}}}}"
        for name in attacks:
            if ATTACKS[name].needs not in handler.supports:
                raise ConfigError(f"attack {name!r} is not defined for task {task!r} ({handler.name}): it needs "
                                  f"{ATTACKS[name].needs!r}{overrides}")
        for name in smoothing:
            if SMOOTHINGS[name].needs not in handler.supports:
                raise ConfigError(f"smoothing {name!r} is not defined for task {task!r} ({handler.name}): it needs "
                                  f"{SMOOTHINGS[name].needs!r}{overrides}")
        stages = parse_schedule(task, cfg.stages.get(task)) if handler.fine_tuned else ()
        if not handler.fine_tuned and task in cfg.stages:
            raise ConfigError(f"stages[{task!r}]: task {task!r} ({handler.name}) is not fine-tuned; it has no stages")
        for stage in stages:
            for name in stage.tasks:
                if not handler_for(TASKS[name]).fine_tuned:
                    raise ConfigError(f"stages[{task!r}]: task {name!r} is not fine-tuned ({TASKS[name].type}); "
                                      "a stage trains a fine-tuned task")
        if handler.fine_tuned:
            check_device_options(task_cfg)
        out[task] = TaskPlan(spec, handler, task_cfg, stages, options, attacks, smoothing)
    _check_data_files_used(cfg, out)
    return out


def _check_data_files_used(cfg: RunConfig, plans: dict[str, TaskPlan]) -> None:
    """A `data_files` or `task_options` entry for a task the run neither evaluates nor trains a stage on would be
    ignored without a word (a misplaced or forgotten entry): refused, naming it."""
    read = set(cfg.tasks) | {name for p in plans.values() for stage in p.stages for name in stage.tasks}
    read |= {name for m in cfg.methods if METHODS[m].schedule is not None  # a schedule method's intermediate tasks
             for name in METHODS[m].schedule.intermediate_tasks()}
    for task in cfg.data_files:
        if task not in read:
            raise ConfigError(f"data_files[{task!r}]: task {task!r} is not in this run (tasks: {', '.join(cfg.tasks)}"
                              "; nor a stage of one), so these files would never be read; add the task to `tasks` "
                              "or remove its data_files entry")
    for task in cfg.task_options:
        if task not in read:
            raise ConfigError(f"task_options.{task}: task {task!r} is not in this run (tasks: {', '.join(cfg.tasks)}"
                              f"; nor a stage of one, e.g. seq:{task}), so these options would never be used; add "
                              "the task or remove its task_options entry")


# report_to -> the package its accelerate tracker imports (TensorBoard's writer is torch.utils.tensorboard's).
TRACKER_PACKAGES = {"tensorboard": "tensorboard"}


def _package_installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _check_tracker(report_to: str) -> None:
    package = TRACKER_PACKAGES.get(report_to)
    if package and not _package_installed(package):
        raise ConfigError(f"report_to: {report_to!r} needs the {package!r} package, which is not installed: "
                          f"pip install 'xlt-companion[tracking]' (or pip install {package}), or set report_to: none")
