"""Methods: what a run trains with beyond the data. `spec` holds the method registry (`METHODS`) and the loop's hooks;
robust training registers here (`adversarial`, `noise`, `substitution`, on `balls`, `neighbors`), parameter-efficient
methods as model modifiers (`adapters`: lora, bottleneck, madx); `recipes` holds stages, `samplers` task samplers, and
`schedules` the methods whose names say their schedule (`seq:mnli`, `multi:all`, `joint:mnli`, `+fs16s3`).
May import `xltlib.core` and `xltlib.tasks`.
"""
from __future__ import annotations

from ..tasks.models import InitFrom
from .adapters import (BOTTLENECK_OPTIONS, LORA_OPTIONS, MADX_OPTIONS, Bottleneck, Lora, MadX, check_bottleneck,
                       check_lora, check_madx)
from .adversarial import AT_OPTIONS, FREE_AT_OPTIONS, check_at, make_at, make_free_at
from .balls import check_ball_options
from .noise import RS_RP_OPTIONS, check_rs_rp, make_rs_rp
from .schedules import (ADAPTER_OPTION, SCHEDULE_OPTIONS, check_schedule_options, looks_like_schedule,
                        parse_schedule_name)
from .spec import METHODS, MethodContext, MethodSpec, Perturbation
from .substitution import RS_DA_OPTIONS, check_rs_da, make_rs_da

METHODS.register("at", MethodSpec(
    name="at", init=InitFrom.PRETRAINED_ENCODER, make_perturbation=make_at, options=AT_OPTIONS,
    check=lambda what, o: check_at(o, what), needs=("embeddings",),
    description="adversarial training: PGD in the input-embedding space (Huang et al. 2021 AT)"))
METHODS.register("free_at", MethodSpec(
    name="free_at", init=InitFrom.PRETRAINED_ENCODER, make_perturbation=make_free_at, options=FREE_AT_OPTIONS,
    check=check_ball_options, needs=("embeddings",),
    description="free adversarial training: one pass per batch, the perturbation carried across batches "
                "(steps >= 2: FreeLB)"))
METHODS.register("rs_rp", MethodSpec(
    name="rs_rp", init=InitFrom.PRETRAINED_ENCODER, make_perturbation=make_rs_rp, options=RS_RP_OPTIONS,
    check=check_rs_rp, needs=("embeddings",), needs_when=(("smooth_predictions", "vote"),),
    description="randomized smoothing with random perturbations of the input embeddings (RS-RP)"))
METHODS.register("rs_da", MethodSpec(
    name="rs_da", init=InitFrom.PRETRAINED_ENCODER, make_perturbation=make_rs_da, options=RS_DA_OPTIONS,
    check=check_rs_da, needs=("substitution",),
    description="randomized smoothing with synonym substitution on the fly (RS-DA)"))
METHODS.register("lora", MethodSpec(
    name="lora", init=InitFrom.PRETRAINED_ENCODER, modifier=Lora(), options=LORA_OPTIONS, check=check_lora,
    description="LoRA (Hu et al. 2022) through peft: low-rank updates of the encoder's attention projections "
                "(BERT, XLM-R: query, value), the task head trained whole, the rest frozen"))
METHODS.register("bottleneck", MethodSpec(
    name="bottleneck", init=InitFrom.PRETRAINED_ENCODER, modifier=Bottleneck(), options=BOTTLENECK_OPTIONS,
    check=check_bottleneck,
    description="a bottleneck task adapter (Pfeiffer: after each feed-forward output; Houlsby: after attention too), "
                "the task head trained whole, the encoder frozen"))
METHODS.register("madx", MethodSpec(
    name="madx", init=InitFrom.PRETRAINED_ENCODER, modifier=MadX(), options=MADX_OPTIONS, check=check_madx,
    description="MAD-X (Pfeiffer et al. 2020): a task adapter over the source language's MLM-trained language "
                "adapter; each test language runs under its own language adapter"))


def _schedule_method(name: str) -> MethodSpec:
    schedule = parse_schedule_name(name)
    if schedule.adaptation is None:
        return MethodSpec(name=name, init=InitFrom.PRETRAINED_ENCODER, options=SCHEDULE_OPTIONS,
                          check=check_schedule_options, schedule=schedule,
                          description=f"plain fine-tuning on the schedule its name says ({schedule.kind})")
    adapted = METHODS[schedule.adaptation]  # `lora+seq:mnli`: lora's modifier and options, and the schedule's

    def check(what: str, options: dict) -> None:
        adapted.check(what, {key: options[key] for key in adapted.options})
        check_schedule_options(what, options)

    return MethodSpec(name=name, init=adapted.init, modifier=adapted.modifier, schedule=schedule, check=check,
                      options={**adapted.options, **SCHEDULE_OPTIONS, ADAPTER_OPTION: "continue"},
                      description=f"{schedule.adaptation} trained through the schedule its name says ({schedule.kind})")


METHODS.register_family(looks_like_schedule, _schedule_method)
