"""Sanity that cannot be faked: on the tiny embedded world, through `run_experiment` (so the attacks are the
ones a run's `attacks` field asks for), robust training keeps more English test accuracy under the attack it
trains against than plain fine-tuning, in the mean over three seeds, at the same fine-tuning budget.

Adversarial training from the first step at a relative L2 radius of 0.1 or more does not learn the tiny world's
PAWS-X-like task (it stays at chance), so it starts after 100 plain steps, as the literature runs it, and trains and is
attacked at the same radius (an earlier form of this test trained at 0.05 and attacked at 0.4). With the full 400
training pairs a standard model already
resists the synonym attack (the tasks are about synonyms), so RS-DA is compared on 64 XNLI-like pairs,
where some synonyms are unseen in training and augmentation makes the difference.
"""
import pandas as pd

from xltlib.app.notebook import load_world
from xltlib.core.config import RunConfig
from xltlib.run.experiment import run_experiment

SEEDS = [1, 2, 3]


def english_test(records: pd.DataFrame, metric: str) -> pd.Series:
    rows = records[(records.split == "test") & (records.lang == "en") & (records.metric == metric)]
    return rows.groupby("method")["value"].mean()


def tiny_run(tmp_path, **changes) -> pd.DataFrame:
    base = dict(world_preset="tiny", eval_langs=["en"], seeds=SEEDS, generalized=False, export_predictions=False,
                warmup_ratio=0.0, per_device_train_batch_size=32, per_device_eval_batch_size=128, evals_per_epoch=1)
    cfg = RunConfig(**{**base, **changes})
    return run_experiment(cfg, tmp_path, load_world(cfg))


def test_rs_da_keeps_more_accuracy_under_the_synonym_attack(tmp_path):
    records = tiny_run(tmp_path, tasks=["xnli"], methods=["standard", "rs_da"], learning_rate=2e-3,
                       num_train_epochs=40.0, max_train_samples=64, attacks={"synonym": {"max_words": 2}})
    clean, attacked = english_test(records, "accuracy"), english_test(records, "accuracy_under_synonym")
    assert clean["standard"] > 0.4 and clean["rs_da"] > 0.4, clean.to_dict()  # above chance (1/3)
    drop = clean - attacked
    assert attacked["rs_da"] > attacked["standard"] + 0.05, attacked.to_dict()
    assert drop["rs_da"] < drop["standard"], drop.to_dict()


def test_adversarial_training_at_the_attack_radius_keeps_more_under_pgd_at_that_radius(tmp_path):
    """Issue 11's form of the check: training and attack at the same radius (0.6 of the mean embedding norm), three
    ascent steps each, adversarial training starting after 100 plain steps (the literature's warm-up; from the first
    step it keeps the model at chance), ties in dev selection broken towards the later checkpoint. Measured: under
    PGD, `at` 97-98% on each seed against 85-91% for `standard`, both 99% clean."""
    records = tiny_run(tmp_path, tasks=["pawsx"], methods=["standard", "at"], learning_rate=1e-3,
                       num_train_epochs=16.0, selection_ties="latest",
                       method_options={"at": {"epsilon": 0.6, "steps": 3, "start_step": 100}},
                       attacks={"pgd": {"epsilon": 0.6, "steps": 3}})
    clean, attacked = english_test(records, "accuracy"), english_test(records, "accuracy_under_pgd")
    assert clean["standard"] >= 0.9 and clean["at"] >= 0.9, clean.to_dict()
    assert attacked["standard"] < clean["standard"] - 0.05, attacked.to_dict()  # the attack bites
    per_seed = records[(records.lang == "en") & (records.metric == "accuracy_under_pgd")].pivot_table(
        index="seed", columns="method", values="value")
    assert (per_seed["at"] > per_seed["standard"]).all(), per_seed.to_dict()  # paired: on every seed
    assert attacked["at"] > attacked["standard"] + 0.05, attacked.to_dict()

