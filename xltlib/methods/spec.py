"""Training methods: how the model is initialised and which perturbation hooks run in the training loop.

The loop (xltlib.run.loop) never branches on a method's name. It calls three hooks of a `Perturbation`:
`perturb_examples` (transform raw examples before tokenisation, e.g. synonym substitution),
`training_loss` (the loss from input embeddings, e.g. adversarial or noisy copies of them) and
`predict_logits` (a prediction-time wrapper, e.g. smoothing by majority vote). Robust-training methods
(Huang et al., EMNLP 2021) register here as subclasses.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import torch

from ..core.errors import ConfigError
from ..core.options import OptionSpec, check_number
from ..core.registry import Registry
from ..tasks.models import InitFrom

Forward = Callable[[torch.Tensor], object]  # input embeddings -> model output (.loss, .logits)


@dataclass(frozen=True)
class MethodContext:
    """What a method may need to build its perturbation, given by the experiment runner."""

    text_fields: tuple[str, ...] = ()  # the fields a data-level perturbation rewrites
    embedding_norm: float = 1.0  # mean L2 norm of the model's input embeddings (for relative radii)
    world: object = None  # the embedded world (its synonym sets and dictionaries), None on the real path
    src_lang: str = "en"
    # The task type's own word substitution (example, substitutions, rng) -> example, where labels must move with
    # the words (span QA's answer offsets); None: each text field, or each string of a list field, in place.
    substitute: Callable | None = None


class Perturbation:
    """The hooks of the training loop; this base class is plain fine-tuning."""

    smooths_predictions = False  # whether `predict_logits` is more than the plain forward pass
    start_step = 0  # optimizer steps of plain fine-tuning before the training hooks act (a robust warm-up)

    def perturb_examples(self, examples: list[dict], rng: random.Random) -> list[dict]:
        return examples

    @property
    def rewrites_examples(self) -> bool:
        """Whether `perturb_examples` does anything: then the loop tokenizes each batch after it, instead of the
        training set once."""
        return type(self).perturb_examples is not Perturbation.perturb_examples

    def training_loss(self, forward: Forward, embeds: torch.Tensor, backward: Callable,
                      generator: torch.Generator, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the loss the loop back-propagates. Methods that accumulate parameter gradients over
        several passes (free adversarial training) may call `backward` on intermediate terms.
        `mask` is the batch's attention mask [batch, seq] (1 = real token), so perturbations can
        leave padding alone; None means every position is real."""
        return forward(embeds).loss

    def predict_logits(self, forward: Forward, embeds: torch.Tensor, generator: torch.Generator,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
        return forward(embeds).logits


def plain(context: MethodContext, **options) -> Perturbation:
    if options:
        raise ConfigError(f"this method takes no options, got {sorted(options)}")
    return Perturbation()


@dataclass(frozen=True, kw_only=True)
class MethodSpec(OptionSpec):
    """`make_perturbation(context, **options)` builds the method's hooks; `options` are its defaults, which a
    run's `method_options[name]` overrides key by key, and `check` validates them without a model. `init` is how
    its first stage's model starts. `needs` are the task-type capabilities it uses
    (`xltlib.tasks.handlers.base.CAPABILITIES`); `needs_when` adds one when a resolved option is true. `modifier`
    changes the model itself (parameter-efficient methods); a method may have both hooks and a modifier."""

    init: InitFrom
    make_perturbation: Callable[..., Perturbation] = plain
    needs: tuple[str, ...] = ()
    needs_when: tuple[tuple[str, str], ...] = ()  # (option, capability)
    # Rows as the method sees them, (spec, rows) -> rows, for every split (a control such as hypothesis-only).
    view: Callable | None = None
    # What it does to the loaded model before training (adapters, LoRA), an `adapters.ModelModifier`; None: nothing.
    modifier: object = None
    # A schedule method's parsed name (`xltlib.methods.schedules.ScheduleName`): its runs train the stages the name
    # says instead of the run's `stages`; None: the run's `stages`.
    schedule: object = None
    kind: str = "method"

    def __post_init__(self):
        if self.perturbs_training:  # every training perturbation may wait: AT after the loss plateau
            object.__setattr__(self, "options", {**self.options, WARMUP_OPTION: 0})

    @property
    def perturbs_training(self) -> bool:
        return self.make_perturbation is not plain

    def resolve(self, requested: dict | None = None) -> dict:
        resolved = super().resolve(requested)
        if WARMUP_OPTION in resolved:
            check_number(self.what, WARMUP_OPTION, resolved[WARMUP_OPTION], integer=True)
        return resolved

    def build(self, context: MethodContext, options: dict) -> Perturbation:
        """The method's hooks for resolved `options`; `start_step` goes to the loop, the rest to the method."""
        if not self.perturbs_training:  # its options, if any, are the modifier's or the schedule's
            return Perturbation()
        options = dict(options)
        start = options.pop(WARMUP_OPTION, 0)
        perturbation = self.make_perturbation(context, **options)
        perturbation.start_step = start
        return perturbation

    def capabilities(self, options: dict) -> tuple[str, ...]:
        return self.needs + tuple(capability for option, capability in self.needs_when if options.get(option))


WARMUP_OPTION = "start_step"


class MethodRegistry(Registry):
    """The method registry, with families of names built on first use: a family is (matches(name), build(name)),
    e.g. the schedules `seq:mnli`, `multi:all+fs16` (`xltlib.methods.schedules`). A name that a family matches is in
    the registry; looking it up builds its entry, or raises the family's error saying what is wrong with the name."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self._families: list[tuple[Callable[[str], bool], Callable[[str], MethodSpec]]] = []
        self._built: dict[str, MethodSpec] = {}

    def register_family(self, matches: Callable[[str], bool], build: Callable[[str], MethodSpec]) -> None:
        self._families.append((matches, build))

    def _family(self, name):
        return next((build for matches, build in self._families if matches(name)), None)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or self._family(name) is not None

    def __getitem__(self, name: str) -> MethodSpec:
        if super().__contains__(name) or self._family(name) is None:
            return super().__getitem__(name)
        if name not in self._built:
            self._built[name] = self._family(name)(name)
        return self._built[name]


METHODS: MethodRegistry = MethodRegistry("method")

METHODS.register("standard", MethodSpec(
    name="standard", init=InitFrom.PRETRAINED_ENCODER, description="plain fine-tuning of the pretrained encoder"))
METHODS.register("scratch", MethodSpec(
    name="scratch", init=InitFrom.SCRATCH,
    description="the control: same architecture and fine-tuning, no pretraining"))


def second_sentence_only(spec, rows: list[dict]) -> list[dict]:
    """Each pair with its first sentence emptied: what the label owes to sentence 2 alone."""
    first = spec.text_fields[0]
    return [{**row, first: ""} for row in rows]


METHODS.register("hypothesis_only", MethodSpec(
    name="hypothesis_only", init=InitFrom.PRETRAINED_ENCODER, view=second_sentence_only, needs=("sentence_pairs",),
    description="the hypothesis-only control (Poliak et al., 2018): fine-tuned and tested on sentence 2 alone; "
                "near chance when the label rests on the relation between the sentences"))
