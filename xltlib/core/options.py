"""Options of named things (methods, attacks, smoothings, samplers): one idiom for all of them.

An `OptionSpec` lists a thing's options once, with their defaults, and a `check` of resolved values that needs
no model or data, so a run's config is checked before anything loads. Unknown options and bad values are errors
naming the thing, the option and the value. Imports nothing of xltlib but `core.errors`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from .errors import ConfigError


def no_check(what: str, options: dict) -> None:
    """The check of a thing whose options need none beyond their names."""


@dataclass(frozen=True, kw_only=True)
class OptionSpec:
    """A registry entry with options: `options` are the defaults, `check(what, resolved)` validates values.
    `kind` names the registry in messages ("method", "attack", ...)."""

    name: str
    options: dict = field(default_factory=dict)
    check: Callable[[str, dict], None] = no_check
    description: str = ""
    kind: str = "option"

    @property
    def what(self) -> str:
        return f"{self.kind} {self.name!r}"

    def resolve(self, requested: dict | None = None) -> dict:
        """`requested` over the defaults, checked: the resolved options a run key hashes."""
        resolved = resolve_options(self.what, requested or {}, self.options)
        self.check(self.what, resolved)
        return resolved


def resolve_options(what: str, options: dict, defaults: dict) -> dict:
    """`options` over `defaults`; `what` names the method or attack in the error, e.g. "method 'at'"."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none (it takes no options)"
        raise ConfigError(f"{what}: unknown option {unknown[0]!r}; allowed options: {allowed}")
    return {**defaults, **options}


def resolve_named_options(field_name: str, kind: str, requested, registry) -> dict[str, dict]:
    """`{name: {option: value}}` (a run's `attacks` or `smoothing` field) with each entry's defaults filled in
    and checked against `registry` (entries with `options` and `check`): an unknown name or option, or a bad
    value, is an error naming it. `name:` with nothing after it in YAML means the defaults."""
    if not isinstance(requested, dict):
        raise ConfigError(f"{field_name} must map {kind} names to {{option: value}}, got {requested!r}")
    resolved = {}
    for name, options in requested.items():
        spec = registry[name]
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise ConfigError(f"{field_name}[{name!r}] must map option names to values, got {options!r}")
        resolved[name] = spec.resolve(options)
    return resolved


def check_number(what: str, name: str, value, *, low: float = 0.0, high: float = math.inf,
                 integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not (low <= value <= high) or not math.isfinite(value):
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ConfigError(f"{what}: option {name!r} must be {kind} {bounds}, got {value!r}")


def check_choice(what: str, name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{what}: option {name!r} must be one of {', '.join(allowed)}; got {value!r}")


def check_bool(what: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{what}: option {name!r} must be true or false, got {value!r}")
