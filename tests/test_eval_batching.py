"""Evaluation's shortcuts give exactly what the plain computation gives: the clean logits that every attack starts
from are the model's logits in the examples' batches, and PGD that leaves broken examples out of its forward passes
(rows of the same padded batch) predicts what PGD on whole batches predicts, with or without those clean logits."""
import numpy as np
import torch

from test_attacks import model  # noqa: F401  (the fixture: a random tiny BERT)
from test_robust import collate, context_for, make_examples
from xltlib.methods.balls import Ball, pgd, token_scale
from xltlib.robustness.attacks import make_attack
from xltlib.tasks.handlers.base import forward_from_embeddings, plain_logits


def file_order_logits(model, rows, batch_size):
    """The plain computation: a no-grad forward pass per batch, batches in the examples' order."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collate(rows[start:start + batch_size])
            batch.pop("labels")
            parts.append(forward_from_embeddings(model, batch)(model.get_input_embeddings()(batch["input_ids"])).logits)
    return torch.cat(parts)


def test_plain_logits_are_the_forward_pass_of_each_batch(model):
    rows = make_examples(70, seed=3)
    model.train()
    assert torch.equal(plain_logits(model, rows, collate, 16), file_order_logits(model.eval(), rows, 16))
    model.train()
    plain_logits(model, rows[:3], collate, 16)
    assert model.training  # the mode it had is restored
    model.eval()
    assert plain_logits(model, [], collate, 16).shape == (0, 3)


def whole_batch_pgd(model, rows, attack, batch_size):
    """PGD as the attack ran before it dropped broken examples: every pass on the whole batch."""
    out = []
    for start in range(0, len(rows), batch_size):
        batch = collate(rows[start:start + batch_size])
        gold = batch.pop("labels")
        forward = forward_from_embeddings(model, batch)
        with torch.no_grad():
            embeds = model.get_input_embeddings()(batch["input_ids"])
        scale = token_scale(attack.embedding_norm, embeds.shape[-1], attack.norm, attack.relative)
        broken, answer = torch.zeros_like(gold, dtype=torch.bool), gold.clone()

        def record(logits):
            first = (logits.argmax(-1) != gold) & ~broken
            answer[first] = logits.argmax(-1)[first]
            broken.logical_or_(first)

        def objective(inputs):
            logits = forward(inputs).logits
            record(logits.detach())
            return torch.nn.functional.cross_entropy(logits, gold, reduction="none")

        delta = pgd(objective, embeds, Ball(attack.norm, attack.epsilon * scale), steps=attack.steps,
                    step_size=attack.step_size * scale, generator=torch.Generator().manual_seed(start),
                    mask=batch["attention_mask"], random_start=attack.random_start)
        with torch.no_grad():
            record(forward(embeds + delta).logits)
        out.append(answer)
    return torch.cat(out).numpy()


def test_pgd_without_broken_examples_predicts_what_whole_batch_pgd_does(model):
    rows = make_examples(50, seed=4)  # random labels: some examples start broken, others break along the way
    for options in ({"epsilon": 0.02, "steps": 5}, {"epsilon": 0.02, "steps": 5, "norm": "linf"},
                    {"epsilon": 0.02, "steps": 5, "random_start": True}):
        attack = make_attack("pgd", context_for(model), "en", options)
        expected = whole_batch_pgd(model, rows, attack, 16)
        clean = plain_logits(model, rows, collate, 16)
        gold = np.array([e["label"] for e in rows])
        # examples wrong from the start, broken by a step, and never broken: all three are compared
        assert 0 < (clean.argmax(-1).numpy() != gold).sum() < (expected != gold).sum() < len(rows)
        assert np.array_equal(attack.run(model, rows, collate, 16, seed=0), expected)
        assert np.array_equal(attack.run(model, rows, collate, 16, seed=0, clean_logits=clean), expected)
