"""Training controls the robust-training protocol needs: a perturbation that starts after a warm-up (`start_step`),
a stage that fine-tunes plainly (`perturb: false`, robust training chained from a standard model), checkpoint
selection that breaks ties towards the later checkpoint, and the hypothesis-only control."""
import pytest
import torch

from xltlib.core.config import RunConfig, TrainArgs
from xltlib.core.errors import ConfigError
from xltlib.methods import METHODS, MethodContext, Perturbation
from xltlib.methods.recipes import parse_schedule
from xltlib.run.loop import train
from xltlib.run.plan import plan
from xltlib.tasks.catalogue import TASKS


class CountingPerturbation(Perturbation):
    """Plain fine-tuning that records at which optimizer steps its training hook ran."""

    def __init__(self):
        self.calls = 0

    def training_loss(self, forward, embeds, backward, generator, mask=None):
        self.calls += 1
        return forward(embeds).loss


def _setup(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    examples = [{"text": f"the dog {i}", "label": i % 2} for i in range(32)]

    def collate(batch):
        enc = dict(tokenizer([e["text"] for e in batch], padding=True, return_tensors="pt"))
        enc["labels"] = torch.tensor([e["label"] for e in batch])
        return enc

    return model, examples, collate


def test_a_perturbation_starts_after_its_warm_up_steps(tiny_model_dir):
    model, examples, collate = _setup(tiny_model_dir)
    hooks = CountingPerturbation()
    hooks.start_step = 5
    args = TrainArgs(learning_rate=1e-3, per_device_train_batch_size=4, num_train_epochs=1.0, save_steps=10**9)
    result = train(model, examples, collate, args, seed=1, perturbation=hooks)
    assert result.global_step == 8
    assert hooks.calls == 8 - 5  # steps 0-4 were plain, 5-7 went through the hook


def test_start_step_is_an_option_of_every_training_perturbation_and_is_checked():
    for name in ("at", "free_at", "rs_rp", "rs_da"):
        assert METHODS[name].resolve({})["start_step"] == 0
        assert METHODS[name].resolve({"start_step": 40})["start_step"] == 40
    assert "start_step" not in METHODS["standard"].options
    with pytest.raises(ConfigError, match=r"method 'at'.*'start_step'.*-3"):
        METHODS["at"].resolve({"start_step": -3})
    built = METHODS["at"].build(MethodContext(embedding_norm=1.0), METHODS["at"].resolve({"start_step": 7}))
    assert built.start_step == 7 and built.epsilon == 0.1


def test_latest_tie_break_keeps_the_later_of_equal_dev_scores(tiny_model_dir):
    steps = {}
    for ties in ("earliest", "latest"):
        model, examples, collate = _setup(tiny_model_dir)
        args = TrainArgs(learning_rate=1e-3, per_device_train_batch_size=4, num_train_epochs=1.0, evals_per_epoch=4,
                         save_steps=10**9, selection_ties=ties)
        steps[ties] = train(model, examples, collate, args, seed=1, dev_score=lambda m: 1.0).best_step
    assert steps == {"earliest": 2, "latest": 8}
    with pytest.raises(ConfigError, match="selection_ties"):
        TrainArgs(selection_ties="middle")


def test_a_stage_may_fine_tune_plainly_before_the_robust_one():
    stages = parse_schedule("xnli", [{"tasks": ["xnli"], "budget": {"num_train_epochs": 2}, "perturb": False},
                                     {"tasks": ["xnli"], "init": "previous", "budget": {"num_train_epochs": 1}}])
    assert [s.perturb for s in stages] == [False, True]
    assert stages[0].record()["perturb"] is False and "perturb" not in stages[1].record()
    with pytest.raises(ConfigError, match="'perturb' must be true or false"):
        parse_schedule("xnli", [{"tasks": ["xnli"], "perturb": "no"}])


def test_hypothesis_only_sees_sentence_two_alone_and_exists_for_pair_tasks_only():
    spec = TASKS["xnli"]
    rows = [{"premise": "a cat sleeps", "hypothesis": "an animal sleeps", "label": 0}]
    viewed = METHODS["hypothesis_only"].view(spec, rows)
    assert viewed == [{"premise": "", "hypothesis": "an animal sleeps", "label": 0}]
    assert rows[0]["premise"] == "a cat sleeps"  # the loaded rows are left as they were
    plan(RunConfig(tasks=["xnli", "pawsx"], methods=["standard", "hypothesis_only"]))
    with pytest.raises(ConfigError, match=r"method 'hypothesis_only'.*'udpos'"):
        plan(RunConfig(tasks=["udpos"], methods=["hypothesis_only"]))
