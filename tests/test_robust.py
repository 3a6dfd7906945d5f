"""Robust-training hooks on their own (tiny BERT built from a config, a word-level collate): identity at
epsilon 0 and sigma 0, PGD stays inside its ball, seeds repeat, substitution keeps length and label and
keeps each word with probability 1/(k+1), FreeLB's gradient bookkeeping, smoothing and the certified
radius, clear errors for bad options; then each method through the real training loop for two steps."""
import math
import random

import numpy as np
import pytest
import torch
from scipy.stats import beta, binomtest, chisquare, norm

from xltlib.core.config import RunConfig, TrainArgs
from xltlib.core.errors import ConfigError, UnknownNameError
from xltlib.methods import METHODS, MethodContext, Perturbation
from xltlib.methods.adversarial import make_at, make_free_at
from xltlib.methods.balls import Ball, pgd
from xltlib.methods.noise import make_rs_rp, vote_logits
from xltlib.methods.substitution import RandomSubstitution, Substitutions, make_rs_da
from xltlib.robustness.smoothing import certified_radius, certify, p_a_lower_bound, smoothed_predict_labels
from xltlib.run.loop import train
from xltlib.run.plan import plan
from xltlib.tasks.handlers.base import forward_from_embeddings
from xltlib.tasks.handlers.pair import predict_labels

# A world-like vocabulary: lowercase words, synonym pairs, pair examples with labels 0-2.
WORDS = ("the a cat dog hound kid child man guy woman lady farmer sleeps runs sees pulls big large small little "
         "happy glad sad near river house park today").split()
SYNONYMS = {"dog": ["hound"], "hound": ["dog"], "kid": ["child"], "child": ["kid"], "man": ["guy"],
            "guy": ["man"], "woman": ["lady"], "lady": ["woman"], "big": ["large"], "large": ["big"],
            "small": ["little"], "little": ["small"], "happy": ["glad"], "glad": ["happy"]}
FIELDS = ("premise", "hypothesis")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
VOCAB = {w: i for i, w in enumerate(SPECIALS + list(WORDS))}


def collate(examples: list[dict]) -> dict:
    """[CLS] premise [SEP] hypothesis [SEP], one id per word, padded to the longest."""
    rows, types = [], []
    for e in examples:
        a = [VOCAB.get(w.lower(), 1) for w in e["premise"].split()]
        b = [VOCAB.get(w.lower(), 1) for w in e["hypothesis"].split()]
        rows.append([2] + a + [3] + b + [3])
        types.append([0] * (len(a) + 2) + [1] * (len(b) + 1))
    width = max(len(r) for r in rows)
    return {"input_ids": torch.tensor([r + [0] * (width - len(r)) for r in rows]),
            "token_type_ids": torch.tensor([t + [0] * (width - len(t)) for t in types]),
            "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
            "labels": torch.tensor([e["label"] for e in examples])}


def make_examples(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)

    def sentence():
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))

    return [{"premise": sentence(), "hypothesis": sentence(), "label": rng.randrange(3), "id": i} for i in range(n)]


def tiny_model(seed: int = 0):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=3, pad_token_id=0,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # deterministic passes
    return BertForSequenceClassification(config).eval()


def context_for(model, world=None) -> MethodContext:
    weights = model.get_input_embeddings().weight.detach()
    return MethodContext(text_fields=FIELDS, embedding_norm=float(weights.norm(dim=-1).mean()), world=world)


class FakeWorld:
    """The two tables of the embedded world that robust methods and attacks read."""

    langs = ("en", "xx")

    def synonyms(self, code):
        return SYNONYMS

    def translation(self, code):
        return {w: (w if code == "en" else w + "_xx") for w in WORDS}


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def batch():
    return collate(make_examples(6))


def hook_inputs(model, batch):
    return forward_from_embeddings(model, batch), model.get_input_embeddings()(batch["input_ids"])


def plain_backward(loss, **kwargs):
    loss.backward(**kwargs)


# ---------------------------------------------------------------------------------------------------
# Identity at epsilon 0 and sigma 0


@pytest.mark.parametrize("make, options", [
    (make_at, {"epsilon": 0.0}), (make_at, {"epsilon": 0.0, "norm": "linf", "adv_weight": 1.0}),
    (make_free_at, {"epsilon": 0.0, "steps": 3}),
    (make_rs_rp, {"sigma": 0.0}), (make_rs_rp, {"noise": "uniform", "epsilon": 0.0, "n_samples": 3}),
])
def test_zero_budget_is_plain_training(model, batch, make, options):
    forward, embeds = hook_inputs(model, batch)
    clean = forward(embeds).loss
    loss = make(context_for(model), **options).training_loss(forward, embeds, plain_backward, generator(0),
                                                             mask=batch["attention_mask"])
    model.zero_grad(set_to_none=True)
    assert torch.allclose(loss, clean, atol=1e-6), (loss.item(), clean.item())


def test_base_hooks_accept_no_mask(model, batch):
    forward, embeds = hook_inputs(model, batch)
    base = Perturbation()
    assert torch.equal(base.training_loss(forward, embeds, plain_backward, generator(0)), forward(embeds).loss)
    assert torch.equal(base.predict_logits(forward, embeds, generator(0), mask=None), forward(embeds).logits)


# ---------------------------------------------------------------------------------------------------
# The PGD perturbation never leaves its ball, and leaves padding alone


@pytest.mark.parametrize("norm_name", ["l2", "linf"])
@pytest.mark.parametrize("trial", range(4))
def test_pgd_stays_in_its_ball(norm_name, trial):
    torch.manual_seed(trial)
    embeds = torch.randn(3, 7, 16) * (trial + 1)
    mask = (torch.arange(7) < torch.tensor([[7], [4], [1]])).long()
    weights = torch.randn(7, 16) * 10
    radius = [0.01, 0.3, 1.0, 5.0][trial]
    ball = Ball(norm_name, radius)
    # A huge step size makes every step overshoot: only the projection keeps delta inside.
    delta = pgd(lambda x: (x * weights).sum((1, 2)) + (x ** 2).sum((1, 2)), embeds, ball, steps=5,
                step_size=10 * radius, generator=generator(trial), mask=mask, random_start=True)
    size = delta.norm(dim=-1) if norm_name == "l2" else delta.abs().amax(dim=-1)
    assert (size <= radius * (1 + 1e-5)).all()
    assert torch.isclose(size[mask.bool()], torch.tensor(radius), rtol=1e-4).any()  # it does use the budget
    assert (delta[~mask.bool()] == 0).all()


@pytest.mark.parametrize("norm_name", ["l2", "linf"])
def test_adversarial_training_perturbs_within_the_relative_ball(model, batch, norm_name):
    seen = []
    forward, embeds = hook_inputs(model, batch)

    def recording(e):
        seen.append(e.detach())
        return forward(e)

    at = make_at(context_for(model), epsilon=0.2, norm=norm_name, steps=4, adv_weight=1.0)
    at.training_loss(recording, embeds, plain_backward, generator(1), mask=batch["attention_mask"])
    hidden = embeds.shape[-1]
    radius = 0.2 * context_for(model).embedding_norm / (1 if norm_name == "l2" else math.sqrt(hidden))
    real = batch["attention_mask"].bool()
    for inputs in seen:
        delta = inputs - embeds.detach()
        size = delta.norm(dim=-1) if norm_name == "l2" else delta.abs().amax(dim=-1)
        assert (size <= radius * (1 + 1e-4)).all() and (delta[~real] == 0).all()


def test_pgd_ascent_does_not_touch_parameter_gradients(model, batch):
    forward, embeds = hook_inputs(model, batch)
    model.zero_grad(set_to_none=True)
    loss = make_at(context_for(model), epsilon=0.5).training_loss(forward, embeds, plain_backward, generator(0),
                                                                  mask=batch["attention_mask"])
    assert all(p.grad is None for p in model.parameters())
    loss.backward()
    assert model.get_input_embeddings().weight.grad.abs().sum() > 0  # the adversarial term reaches embeddings
    model.zero_grad(set_to_none=True)


def test_adversarial_loss_is_at_least_the_clean_loss(model, batch):
    forward, embeds = hook_inputs(model, batch)
    clean = forward(embeds).loss.item()
    at = make_at(context_for(model), epsilon=1.0, steps=5, adv_weight=1.0, random_start=False)
    assert at.training_loss(forward, embeds, plain_backward, generator(0), mask=batch["attention_mask"]).item() > clean


# ---------------------------------------------------------------------------------------------------
# Seeds


def test_same_seed_same_perturbation_different_seed_different(model, batch):
    embeds = torch.randn(2, 5, 8)
    ball = Ball("l2", 0.5)
    objective = lambda x: (x ** 3).sum()  # noqa: E731
    run = lambda s: pgd(objective, embeds, ball, steps=2, step_size=0.1, generator=generator(s))  # noqa: E731
    assert torch.equal(run(3), run(3)) and not torch.equal(run(3), run(4))

    noise = make_rs_rp(context_for(model), sigma=0.1)
    forward, embeds = hook_inputs(model, batch)
    draws = [noise.draw(embeds, generator(s), batch["attention_mask"]) for s in (7, 7, 8)]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])

    da = make_rs_da(context_for(model, FakeWorld()))
    examples = make_examples(20)
    outs = [da.perturb_examples(examples, random.Random(s)) for s in (5, 5, 6)]
    assert outs[0] == outs[1] and outs[0] != outs[2]


# ---------------------------------------------------------------------------------------------------
# Synonym substitution (RS-DA)


def test_substitution_keeps_token_count_label_and_other_fields(model):
    da = make_rs_da(context_for(model, FakeWorld()))
    examples = make_examples(50)
    out = da.perturb_examples(examples, random.Random(0))
    assert len(out) == len(examples)
    changed = 0
    for before, after in zip(examples, out):
        assert after["label"] == before["label"] and after["id"] == before["id"]
        for name in FIELDS:
            old, new = before[name].split(), after[name].split()
            assert len(new) == len(old)
            for o, n in zip(old, new):
                assert n == o or n in SYNONYMS[o]
            changed += sum(o != n for o, n in zip(old, new))
    assert changed > 0
    assert examples == make_examples(50)  # the input examples are not modified in place


def test_copies_and_keep_original(model):
    examples = make_examples(4)
    out = make_rs_da(context_for(model, FakeWorld()), copies=3, keep_original=True).perturb_examples(
        examples, random.Random(0))
    assert len(out) == 16 and out[0] == examples[0] and out[4] == examples[1]
    assert [e["id"] for e in out] == [i for i in range(4) for _ in range(4)]


@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_each_word_is_kept_with_probability_one_over_k_plus_one(k):
    table = {"w": [f"n{i}" for i in range(k)] + ["w", "n0"]}  # the word itself and a repeat don't count
    da = RandomSubstitution(Substitutions(table), ("premise", "hypothesis"))
    rng = random.Random(k)
    draws = 3000
    counts = {}
    for _ in range(draws):
        for e in da.perturb_examples([{"premise": "w w", "hypothesis": "w", "label": 0}], rng):
            for word in (e["premise"] + " " + e["hypothesis"]).split():
                counts[word] = counts.get(word, 0) + 1
    total = 3 * draws
    assert set(counts) == {"w"} | {f"n{i}" for i in range(k)}
    # Strict level: a correct sampler fails each check with probability 1e-4.
    assert binomtest(counts["w"], total, 1 / (k + 1)).pvalue > 1e-4
    assert chisquare([counts[w] for w in sorted(counts)]).pvalue > 1e-4


def test_case_policies_and_punctuation():
    table = {"movie": ["film"], "the": ["a"]}
    lower = Substitutions(table, "lower-only")
    preserve = Substitutions(table, "preserve")
    assert lower.alternatives("movie") == ["film"] and lower.alternatives("Movie") == []
    assert preserve.alternatives("Movie") == ["Film"] and preserve.alternatives("MOVIE") == ["FILM"]
    assert preserve.alternatives("mOvie") == []  # mixed case: its pattern can't go on another word
    assert lower.alternatives("movie.") == ["film."] and preserve.alternatives('"The') == ['"A']
    assert lower.alternatives("cinema") == []
    with pytest.raises(ConfigError, match="'case'.*lower-only, preserve.*'title'"):
        Substitutions(table, "title")


def test_rs_da_reads_a_neighbour_file_on_the_real_path(model, tmp_path):
    path = tmp_path / "neighbors.json"
    path.write_text('{"dog": ["hound", "puppy"]}')
    da = make_rs_da(context_for(model), neighbors=str(path))
    assert da.substitutions.alternatives("dog") == ["hound", "puppy"]
    with pytest.raises(ConfigError, match="'neighbors'.*counter-fitted"):
        make_rs_da(context_for(model))  # no world, no file


# ---------------------------------------------------------------------------------------------------
# FreeLB bookkeeping


def test_free_at_accumulates_parameter_gradients_once_per_ascent_step(model, batch):
    k = 3
    forward, embeds = hook_inputs(model, batch)
    seen, calls = [], []

    def recording(e):
        seen.append(e.detach().clone())
        return forward(e)

    def backward(loss, **kwargs):
        calls.append(loss.item())
        loss.backward(**kwargs)

    model.zero_grad(set_to_none=True)
    free = make_free_at(context_for(model), epsilon=0.5, steps=k)
    loss = free.training_loss(recording, embeds, backward, generator(0), mask=batch["attention_mask"])
    assert len(calls) == k - 1 and len(seen) == k  # K passes: K - 1 back-propagated inside, one by the loop
    inside = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert inside and all(g.abs().sum() > 0 for g in inside.values())
    backward(loss)  # the loop's own call
    total = {n: p.grad.clone() for n, p in model.named_parameters()}
    # The loop total is the mean gradient over the K perturbed points, each counted once.
    model.zero_grad(set_to_none=True)
    reference = sum(forward(x).loss for x in seen) / k
    reference.backward()
    assert math.isclose(loss.item(), reference.item(), rel_tol=1e-5)
    for n, p in model.named_parameters():
        if p.grad is not None:  # the word embeddings got their gradient through `embeds` only in the hook
            assert torch.allclose(total[n], p.grad, atol=1e-6), n
    assert total["bert.embeddings.word_embeddings.weight"].abs().sum() > 0
    # The K points differ: the ascent moved delta.
    assert not torch.equal(seen[0], seen[1])
    model.zero_grad(set_to_none=True)


def test_free_at_default_is_one_pass_that_carries_its_perturbation_to_the_next_batch(model, batch):
    forward, embeds = hook_inputs(model, batch)
    passes = []

    def recording(e):
        passes.append(e.detach().clone())
        return forward(e)

    def no_backward(loss, **kwargs):
        raise AssertionError("one pass per batch: nothing is back-propagated inside the hook")

    free = make_free_at(context_for(model), epsilon=0.5)
    assert free.steps == 1
    mask = batch["attention_mask"]
    model.zero_grad(set_to_none=True)
    free.training_loss(recording, embeds, no_backward, generator(0), mask=mask).backward()  # the loop's backward
    first = passes[0] - embeds.detach()
    carried, grad = free._carried.detach().clone(), free._carried.grad.clone()
    assert torch.allclose(first, carried, atol=1e-6) and grad.abs().sum() > 0
    # The next batch (here: the same rows, one shorter and fewer) starts one ascent step further.
    smaller = {k: v[:4, :-1] for k, v in batch.items() if k != "labels"} | {"labels": batch["labels"][:4]}
    forward2, embeds2 = hook_inputs(model, smaller)
    passes.clear()
    free.training_loss(lambda e: (passes.append(e.detach().clone()), forward2(e))[1], embeds2, no_backward,
                       generator(1), mask=smaller["attention_mask"])
    ball = free.ball(embeds)
    step = free.step_size * free.scale(embeds.shape[-1])
    expected = ball.project(carried + step * ball.ascent(grad))[:4, :-1] * smaller["attention_mask"][..., None]
    assert torch.allclose(passes[0] - embeds2.detach(), expected, atol=1e-6)
    lengths = (passes[0] - embeds2.detach()).norm(dim=-1)
    assert (lengths <= ball.radius * (1 + 1e-5)).all()
    model.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------------------------------
# Smoothed prediction and the certified radius


def test_smoothed_prediction_with_one_sample_and_no_noise_is_the_plain_prediction(model):
    examples = make_examples(20)
    plain = predict_labels(model, examples, collate, 8)
    smooth = make_rs_rp(context_for(model), sigma=0.0, smooth_predictions=True, smooth_n_samples=1)
    assert np.array_equal(predict_labels(model, examples, collate, 8, smooth), plain)
    noisy = make_rs_rp(context_for(model), sigma=0.5, smooth_predictions=True, smooth_n_samples=5)
    assert np.array_equal(predict_labels(model, examples, collate, 8, noisy, seed=1),
                          predict_labels(model, examples, collate, 8, noisy, seed=1))
    da = make_rs_da(context_for(model, FakeWorld()), smooth_n_samples=1)
    no_synonyms = RandomSubstitution(Substitutions({}), FIELDS, smooth_n_samples=1)
    assert np.array_equal(smoothed_predict_labels(model, examples, collate, 8, no_synonyms), plain)
    assert np.array_equal(smoothed_predict_labels(model, examples, collate, 8, da, n_samples=3, seed=2),
                          smoothed_predict_labels(model, examples, collate, 8, da, n_samples=3, seed=2))


def test_vote_ties_go_to_the_lowest_label():
    draws = iter([torch.tensor([[0.0, 0.0, 9.0], [5.0, 0.0, 0.0]]), torch.tensor([[0.0, 9.0, 0.0], [5.0, 0.0, 0.0]])])
    votes = vote_logits(lambda: next(draws), 2)
    assert votes.tolist() == [[0, 1, 1], [2, 0, 0]] and votes.argmax(-1).tolist() == [1, 0]


def test_certified_radius():
    assert certified_radius(0.9, 0.5) == pytest.approx(0.5 * 1.2815515655446004)
    assert certified_radius(0.99, 0.25) == pytest.approx(0.25 * 2.3263478740408408)
    assert certified_radius(0.5, 1.0) == 0.0 and certified_radius(0.3, 1.0) == 0.0
    assert certified_radius(0.8, 0.0) == 0.0
    assert p_a_lower_bound(990, 1000) == pytest.approx(beta.ppf(0.001, 990, 11))
    assert p_a_lower_bound(0, 10) == 0.0
    radius, abstained = certify(990, 1000, sigma=0.25)
    assert not abstained and radius == pytest.approx(0.25 * norm.ppf(beta.ppf(0.001, 990, 11)))
    assert certify(520, 1000, sigma=0.25) == (0.0, True)  # 0.52 observed, but the lower bound is below 0.5
    with pytest.raises(ValueError, match="1.5"):
        certified_radius(1.5, 0.1)


# ---------------------------------------------------------------------------------------------------
# Bad options


@pytest.mark.parametrize("make, options, message", [
    (make_at, {"epsilon": -0.1}, r"method 'at': option 'epsilon' must be a number >= 0, got -0.1"),
    (make_at, {"norm": "l1"}, r"option 'norm' must be one of l2, linf; got 'l1'"),
    (make_at, {"steps": 0}, r"option 'steps' must be an integer >= 1, got 0"),
    (make_at, {"adv_weight": 1.5}, r"option 'adv_weight' must be a number in \[0, 1\], got 1.5"),
    (make_at, {"epsilonn": 0.1}, r"method 'at': unknown option 'epsilonn'; allowed options: adv_weight, epsilon"),
    (make_free_at, {"adv_weight": 0.5}, r"method 'free_at': unknown option 'adv_weight'"),
    (make_rs_rp, {"sigma": -1.0}, r"option 'sigma' must be a number >= 0, got -1.0"),
    (make_rs_rp, {"noise": "laplace"}, r"option 'noise' must be one of gaussian, uniform; got 'laplace'"),
    (make_rs_rp, {"relative": "yes"}, r"option 'relative' must be true or false, got 'yes'"),
    (make_rs_da, {"copies": 0}, r"method 'rs_da': option 'copies' must be an integer >= 1, got 0"),
    (make_rs_da, {"case": "upper"}, r"option 'case' must be one of lower-only, preserve; got 'upper'"),
    (make_rs_da, {"smooth_predictions": True}, r"method 'rs_da': unknown option 'smooth_predictions'"),
])
def test_bad_options_are_errors_naming_the_value(model, make, options, message):
    with pytest.raises(ConfigError, match=message):
        make(context_for(model, FakeWorld()), **options)


def test_unknown_method_in_run_config_lists_the_robust_ones():
    with pytest.raises(UnknownNameError, match=r"unknown method 'fgsm'.*at, free_at, rs_rp, rs_da"):
        plan(RunConfig(methods=("standard", "fgsm")))  # names are checked by the plan
    assert {"standard", "at", "free_at", "rs_rp", "rs_da"} <= set(METHODS.names())
    for name in ("at", "free_at", "rs_rp", "rs_da"):  # defaults are listed, so run keys include them
        assert METHODS[name].options


# ---------------------------------------------------------------------------------------------------
# Through the real training loop


@pytest.mark.parametrize("name, options", [
    ("at", {}), ("free_at", {}), ("free_at", {"steps": 1}), ("rs_rp", {"n_samples": 2}),
    ("rs_rp", {"noise": "uniform"}), ("rs_da", {"copies": 2, "keep_original": True}),
])
def test_each_method_trains_in_the_loop(name, options):
    model = tiny_model(seed=1).train()
    spec = METHODS[name]
    perturbation = spec.build(context_for(model, FakeWorld()), spec.resolve(options))
    args = TrainArgs(learning_rate=1e-3, per_device_train_batch_size=4, save_steps=10**6, warmup_ratio=0.0,
                     mixed_precision="no")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train(model, make_examples(8), collate, args, seed=3, perturbation=perturbation, max_steps=2)
    assert result.global_step == 2
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
    assert all(torch.isfinite(p).all() for p in model.parameters())
