"""Test-time attacks on a fixed tiny model: PGD at epsilon 0 is clean accuracy and a larger budget never
raises accuracy; word attacks change at most `max_words` words, only into words of their table, and keep
the label; records and errors of `evaluate_attacks`."""
import numpy as np
import pytest
import torch

from test_robust import VOCAB, FakeWorld, collate, context_for, make_examples  # the same tiny world
from xltlib.core.config import TrainArgs
from xltlib.core.errors import ConfigError, UnknownNameError
from xltlib.robustness.attacks import ATTACKS, evaluate_attacks, make_attack, world_dictionary
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers.pair import PairClassification, predict_labels

MAX_LENGTH = 64  # the tiny model's positions; the word-level collate never truncates


class WordPairs(PairClassification):
    """The pair-classification handler with the tests' word-level collate in place of a tokenizer's."""

    def collate(self, spec, tokenizer, cfg, max_length, with_labels=True):
        return collate


HANDLER = WordPairs()


def eval_args(batch_size: int) -> TrainArgs:
    return TrainArgs(per_device_eval_batch_size=batch_size)


@pytest.fixture(scope="module")
def model():
    """A random tiny BERT with a wide initialisation, so its predictions vary with the input."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=3, pad_token_id=0,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.5)
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="module")
def examples(model):
    """Labelled with the model's own predictions: every example starts correct, so each flip shows."""
    rows = make_examples(60, seed=1)
    return [{**e, "label": int(p)} for e, p in zip(rows, predict_labels(model, rows, collate, 32))]


def accuracy(predicted, rows) -> float:
    return float(np.mean(predicted == np.array([e["label"] for e in rows])))


def test_pgd_at_epsilon_zero_is_clean_accuracy(model):
    rows = make_examples(40, seed=2)  # random labels: clean accuracy is neither 0 nor 1
    clean = predict_labels(model, rows, collate, 16)
    for norm in ("l2", "linf"):
        attacked = make_attack("pgd", context_for(model), "en", {"epsilon": 0.0, "norm": norm}).run(
            model, rows, collate, 16, seed=0)
        assert np.array_equal(attacked, clean)
        assert 0 < accuracy(attacked, rows) < 1


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_a_larger_pgd_budget_never_raises_accuracy(model, examples, norm):
    budgets = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
    accuracies = [accuracy(make_attack("pgd", context_for(model), "en",
                                       {"epsilon": eps, "norm": norm, "steps": 5}).run(model, examples, collate, 32, 0),
                           examples) for eps in budgets]
    assert accuracies[0] == 1.0 and accuracies[-1] < 0.2
    assert all(a >= b for a, b in zip(accuracies, accuracies[1:])), accuracies


def test_pgd_is_seeded(model, examples):
    attack = make_attack("pgd", context_for(model), "en", {"epsilon": 0.02, "random_start": True, "steps": 3})
    runs = [attack.run(model, examples, collate, 32, seed) for seed in (4, 4, 5)]
    assert np.array_equal(runs[0], runs[1])


def changed_words(before: dict, after: dict) -> list[tuple[str, str]]:
    return [(o, n) for field in ("premise", "hypothesis")
            for o, n in zip(before[field].split(), after[field].split()) if o != n]


@pytest.mark.parametrize("name, options, allowed", [
    ("synonym", {}, lambda old, new: new in FakeWorld().synonyms("en").get(old, [])),
    ("codeswitch", {"target_lang": "xx"}, lambda old, new: new == old + "_xx"),
])
@pytest.mark.parametrize("max_words", [1, 2, 3])
def test_word_attacks_change_at_most_max_words_words(model, examples, name, options, allowed, max_words):
    attack = make_attack(name, context_for(model, FakeWorld()), "en", {**options, "max_words": max_words})
    adversarial, predicted = attack.attack_examples(model, examples, collate, 32, seed=0)
    counts = []
    for before, after in zip(examples, adversarial):
        assert after["label"] == before["label"] and after["id"] == before["id"]
        for field in ("premise", "hypothesis"):
            assert len(after[field].split()) == len(before[field].split())
        changes = changed_words(before, after)
        assert all(allowed(old, new) for old, new in changes)
        counts.append(len(changes))
    assert max(counts) <= max_words and max(counts) > 0
    assert np.array_equal(predicted, predict_labels(model, adversarial, collate, 32))  # the labels it reports
    assert accuracy(predicted, examples) < 1.0


def test_word_attacks_are_seeded_and_stronger_with_a_bigger_budget(model, examples):
    context = context_for(model, FakeWorld())

    def run(words, seed):
        options = {"target_lang": "xx", "max_words": words, "max_candidates": 4}
        return make_attack("codeswitch", context, "en", options).run(model, examples, collate, 32, seed)

    assert np.array_equal(run(2, 0), run(2, 0))
    assert accuracy(run(0, 0), examples) == 1.0
    assert accuracy(run(1, 0), examples) >= accuracy(run(3, 0), examples)


def test_world_dictionary_goes_through_english():
    world = FakeWorld()
    assert world_dictionary(world, "en", "xx")["dog"] == ["dog_xx"]
    assert world_dictionary(world, "xx", "en")["dog_xx"] == ["dog"]
    assert world_dictionary(world, "en", "en") == {}  # a word is not its own code-switch


def test_evaluate_attacks_records(model):
    rows = make_examples(30, seed=3)
    tests = {"en": rows, "xx": [{**e, "premise": " ".join(w + "_xx" for w in e["premise"].split())} for e in rows]}
    records = evaluate_attacks(model, TASKS["xnli"], HANDLER, tests, None, eval_args(16), MAX_LENGTH,
                               {"pgd": {"epsilon": 0.05}, "synonym": {}, "codeswitch": {"target_lang": "xx"}},
                               context_for(model, FakeWorld()), seed=0)
    metrics = {(r["lang"], r["metric"]) for r in records}
    for lang in ("en", "xx"):
        for name in ("pgd", "synonym", "codeswitch"):
            assert {(lang, f"accuracy_under_{name}"), (lang, f"attack_success_rate_{name}")} <= metrics
    assert all(r["split"] == "test" and 0.0 <= r["value"] <= 1.0 for r in records)
    clean = accuracy(predict_labels(model, rows, collate, 16), rows)
    under_pgd = next(r["value"] for r in records if r["lang"] == "en" and r["metric"] == "accuracy_under_pgd")
    assert under_pgd <= clean


def test_real_path_word_tables_apply_to_their_language_only(model, tmp_path):
    muse = tmp_path / "en-de.txt"
    muse.write_text("dog hund\ncat katze\n", encoding="utf-8")
    neighbours = tmp_path / "n.json"
    neighbours.write_text('{"dog": ["hound"]}', encoding="utf-8")
    context = context_for(model)  # no world
    assert make_attack("codeswitch", context, "en", {"dictionary": str(muse)}).substitutions.alternatives("dog") == ["hund"]
    assert make_attack("synonym", context, "de", {"neighbors": str(neighbours)}) is None
    assert make_attack("synonym", context, "de", {"neighbors": {"de": str(neighbours)}}) is not None
    rows = make_examples(6)
    with pytest.warns(UserWarning, match="attack 'synonym' has no word table for language 'de'"):
        records = evaluate_attacks(model, TASKS["xnli"], HANDLER, {"en": rows, "de": rows}, None, eval_args(8),
                                   MAX_LENGTH, {"synonym": {"neighbors": str(neighbours)}}, context)
    assert {r["lang"] for r in records} == {"en"}
    with pytest.raises(ConfigError, match="'dictionary' to a MUSE file"):
        make_attack("codeswitch", context, "en", {"target_lang": "de"})


def test_bad_attack_names_and_options(model):
    context = context_for(model, FakeWorld())
    with pytest.raises(UnknownNameError, match="unknown attack 'fgsm'; known attacks: pgd, synonym, codeswitch"):
        evaluate_attacks(model, TASKS["xnli"], HANDLER, {"en": []}, None, eval_args(8), MAX_LENGTH, {"fgsm": {}},
                         context)
    with pytest.raises(ConfigError, match="attack 'pgd': unknown option 'eps'; allowed options: epsilon"):
        evaluate_attacks(model, TASKS["xnli"], HANDLER, {"en": []}, None, eval_args(8), MAX_LENGTH,
                         {"pgd": {"eps": 0.1}}, context)
    with pytest.raises(ConfigError, match="attack 'pgd': option 'epsilon' must be a number >= 0, got -1"):
        make_attack("pgd", context, "en", {"epsilon": -1})
    with pytest.raises(ConfigError, match="option 'target_lang' must be one of the world's languages en, xx; got 'zz'"):
        make_attack("codeswitch", context, "en", {"target_lang": "zz"})
    assert ATTACKS.names() == ["pgd", "synonym", "codeswitch"]


def test_smoothed_prediction_records_and_config_errors(model):
    from xltlib.core.config import RunConfig
    from xltlib.robustness.smoothing import evaluate_robustness
    from xltlib.run.plan import plan

    rows = make_examples(30, seed=4)
    clean = accuracy(predict_labels(model, rows, collate, 16), rows)
    context = context_for(model, FakeWorld())
    cfg = RunConfig(per_device_eval_batch_size=16, attacks={}, max_robustness_samples=20,
                    smoothing={"gaussian": {"sigma": 0.0, "n_samples": 1, "certify_n_samples": 20},
                               "synonym": {"n_samples": 3}})
    records = evaluate_robustness(model, TASKS["xnli"], HANDLER, {"en": rows}, None, cfg, MAX_LENGTH,
                                  context=context, seed=0)
    values = {r["metric"]: r["value"] for r in records}
    # No noise: the vote is the plain prediction (on the first 20 rows), and no radius is certified.
    assert values["accuracy_smoothed_gaussian"] == accuracy(predict_labels(model, rows[:20], collate, 16), rows[:20])
    assert values["average_certified_radius_gaussian"] == 0.0
    assert 0.0 <= values["accuracy_smoothed_synonym"] <= 1.0 and 0 < clean < 1
    cfg = RunConfig(per_device_eval_batch_size=16, attacks={},
                    smoothing={"gaussian": {"sigma": 0.01, "certify_n_samples": 50, "alpha": 0.01}})
    noisy = evaluate_robustness(model, TASKS["xnli"], HANDLER, {"en": rows}, None, cfg, MAX_LENGTH, context=context,
                                seed=0)
    assert next(r["value"] for r in noisy if r["metric"] == "average_certified_radius_gaussian") > 0
    # Names and options are checked by the plan of a run, before anything loads.
    with pytest.raises(UnknownNameError, match="unknown smoothing 'laplace'; known smoothings: gaussian, synonym"):
        plan(RunConfig(smoothing={"laplace": {}}))
    with pytest.raises(ConfigError, match="attack 'synonym': unknown option 'budget'; allowed options: case"):
        plan(RunConfig(attacks={"synonym": {"budget": 2}}))
