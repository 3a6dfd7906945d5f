"""YAML for parameters, with the numbers every user means: YAML 1.1 (PyYAML) reads `1e-5`, `2e-5` and `1E5` as
strings because its floats need a dot, so `learning_rate: 1e-5` would be an error. `ParamsLoader` is the safe
loader plus a float resolver for exponent notation without a dot; everything else reads as `yaml.safe_load`.
"""
from __future__ import annotations

import re

import yaml


class ParamsLoader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads `1e-5`, `-3E+2`, `1_000e3` as floats."""


# Tried after SafeLoader's own int and float resolvers, which reject these forms.
ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str):
    """`yaml.safe_load(text)`, but with `ParamsLoader` (exponent floats without a dot)."""
    return yaml.load(text, Loader=ParamsLoader)  # noqa: S506 (a SafeLoader subclass)
