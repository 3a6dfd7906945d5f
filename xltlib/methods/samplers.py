"""Task samplers for multi-task stages (jiant's `jiant/proj/main/components/task_sampler.py`): at each training
step one task is drawn, then a batch of that task. `uniform`: every task alike; `proportional`: by training-set
size; `temperature`: size^(1/T), each size first capped at `cap` examples (T = 1 is proportional, a large T
uniform); `specified`: the given weights. Probabilities are computed once per stage from the sizes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from ..core.errors import ConfigError
from ..core.options import OptionSpec, check_number, resolve_named_options
from ..core.registry import Registry


def _uniform(sizes: dict[str, int], o: dict) -> dict[str, float]:
    return {task: 1.0 for task in sizes}


def _proportional(sizes: dict[str, int], o: dict) -> dict[str, float]:
    return {task: float(n) for task, n in sizes.items()}


def _temperature(sizes: dict[str, int], o: dict) -> dict[str, float]:
    cap = o["cap"] if o["cap"] is not None else max(sizes.values())
    return {task: min(n, cap) ** (1.0 / o["temperature"]) for task, n in sizes.items()}


def _specified(sizes: dict[str, int], o: dict) -> dict[str, float]:
    missing = [task for task in sizes if task not in o["weights"]]
    if missing:
        raise ConfigError(f"sampler 'specified': no weight for task {missing[0]!r}; weights: {o['weights']}")
    return {task: float(o["weights"][task]) for task in sizes}


def _check_temperature(what: str, o: dict) -> None:
    check_number(what, "temperature", o["temperature"], low=1e-6)
    if o["cap"] is not None:
        check_number(what, "cap", o["cap"], low=1, integer=True)


def _check_specified(what: str, o: dict) -> None:
    if not isinstance(o["weights"], dict) or not o["weights"]:
        raise ConfigError(f"{what}: option 'weights' must map each task of the stage to a weight, got {o['weights']!r}")
    for task, weight in o["weights"].items():
        check_number(what, f"weights[{task!r}]", weight)
    if sum(o["weights"].values()) <= 0:
        raise ConfigError(f"{what}: the weights must not all be 0, got {o['weights']!r}")


@dataclass(frozen=True, kw_only=True)
class SamplerSpec(OptionSpec):
    """`weights(sizes, options)` -> unnormalised task weights from the tasks' training-set sizes."""

    weights: Callable[[dict[str, int], dict], dict[str, float]]
    kind: str = "sampler"


SAMPLERS: Registry[SamplerSpec] = Registry("sampler")
SAMPLERS.register("uniform", SamplerSpec(name="uniform", weights=_uniform, description="every task alike"))
SAMPLERS.register("proportional", SamplerSpec(name="proportional", weights=_proportional,
                                              description="by training-set size"))
SAMPLERS.register("temperature", SamplerSpec(
    name="temperature", weights=_temperature, options={"temperature": 2.0, "cap": None}, check=_check_temperature,
    description="size capped at `cap`, to the power 1/temperature (jiant's TemperatureMultiTaskSampler)"))
SAMPLERS.register("specified", SamplerSpec(name="specified", weights=_specified, options={"weights": {}},
                                           check=_check_specified, description="the given weight per task"))


def resolve_sampler(sampler, where: str) -> dict[str, dict]:
    """A stage's `sampler`: a name, or {name: {option: value}}, resolved to exactly one {name: options}."""
    if isinstance(sampler, str):
        sampler = {sampler: {}}
    try:
        resolved = resolve_named_options(f"{where} sampler", "sampler", sampler, SAMPLERS)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if len(resolved) != 1:
        raise ConfigError(f"{where}: a stage has one sampler, got {sorted(resolved) or 'none'}")
    return resolved


def check_sampler_tasks(sampler: dict[str, dict], tasks, where: str) -> None:
    """A resolved sampler fits its stage's `tasks`, checked without data: `specified` gives a weight to each task
    of the stage and to no other, so a missing or mistyped task is an error when the run is planned, not when the
    stage starts training."""
    (name, options), = sampler.items()
    if name != "specified":
        return
    weights = options["weights"]
    missing = [task for task in tasks if task not in weights]
    if missing:
        raise ConfigError(f"{where}: sampler 'specified': no weight for task {missing[0]!r}; weights: {weights}")
    extra = [task for task in weights if task not in tasks]
    if extra:
        raise ConfigError(f"{where}: sampler 'specified': a weight for task {extra[0]!r}, which the stage does not "
                          f"train (its tasks: {', '.join(tasks)})")


def probabilities(sampler: dict[str, dict], sizes: dict[str, int]) -> dict[str, float]:
    """Each task's probability of being drawn at a step."""
    (name, options), = sampler.items()
    weights = SAMPLERS[name].weights(sizes, options)
    total = sum(weights.values())
    return {task: w / total for task, w in weights.items()}


def draw_tasks(probs: dict[str, float], steps: int, seed: int) -> list[str]:
    """The task of each of `steps` steps, drawn independently with `probs` from a seeded generator."""
    rng = random.Random(f"tasks|{seed}")
    tasks, weights = list(probs), list(probs.values())
    return rng.choices(tasks, weights=weights, k=steps)
