"""The dual encoder on its own: the collate's in-batch positives, the loss at known inputs, that training through
the one loop lowers it, and ranking a pool."""
import math

import pytest
import torch

from xltlib.core.config import TrainArgs
from xltlib.tasks.dual_encoder import DualEncoder, candidate_pool, pair_collate, top_candidates, training_pairs
from xltlib.run.loop import train


def _row(qid, query, cid, text, extra=()):
    ids, texts = [cid, *[c for c, _ in extra]], [text, *[t for _, t in extra]]
    return {"id": qid, "query": query, "relevant": [cid], "candidate_ids": ids, "candidates": texts}


@pytest.fixture(scope="module")
def encoder_and_tokenizer(tiny_model_dir):
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


SENTENCES = ["The cat sleeps on the sofa .", "A man reads a book in the park .", "She drinks coffee every morning .",
             "The children play football after school ."]


def test_collate_puts_a_shared_positive_in_the_batch_once(encoder_and_tokenizer):
    _, tokenizer = encoder_and_tokenizer
    rows = [_row("q1", "a", "c1", SENTENCES[0]), _row("q2", "b", "c2", SENTENCES[1]),
            _row("q3", "c", "c1", SENTENCES[0])]
    batch = pair_collate(tokenizer, 32)(rows)
    assert batch["labels"].tolist() == [0, 1, 0]
    assert batch["input_ids"].shape[0] == 3 + 2  # three queries, two distinct candidates


def test_loss_at_known_inputs(encoder_and_tokenizer):
    """Each query is its own candidate: the diagonal holds the scale (cosine 1), and the loss is the softmax
    cross-entropy of the scaled cosine matrix."""
    encoder, tokenizer = encoder_and_tokenizer
    model = DualEncoder(encoder, scale=5.0).eval()
    rows = [_row(f"q{i}", s, f"c{i}", s) for i, s in enumerate(SENTENCES)]
    batch = pair_collate(tokenizer, 32)(rows)
    with torch.no_grad():
        out = model(**batch)
    assert torch.allclose(out.logits.diag(), torch.full((4,), 5.0), atol=1e-4)
    expected = torch.nn.functional.cross_entropy(out.logits, torch.arange(4))
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert model.get_input_embeddings() is encoder.get_input_embeddings()


def test_training_through_the_loop_lowers_the_loss(tiny_model_dir):
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    model = DualEncoder(AutoModel.from_pretrained(tiny_model_dir))
    # Questions whose answer shares no word with them: only training can pair them.
    questions = ["Who sleeps ?", "Who reads ?", "Who drinks ?", "Who plays ?"]
    rows = [_row(f"q{i}", q, f"c{i}", s) for i, (q, s) in enumerate(zip(questions, SENTENCES))]
    collate = pair_collate(tokenizer, 32)
    batch = collate(rows)
    model.eval()
    with torch.no_grad():
        before = model(**batch).loss.item()
    args = TrainArgs(learning_rate=3e-3, per_device_train_batch_size=4, num_train_epochs=30.0, warmup_ratio=0.0,
                     evals_per_epoch=1, max_seq_length=32)
    train(model, rows, collate, args, seed=1)
    model.eval()
    with torch.no_grad():
        after = model(**batch).loss.item()
    assert after < 0.5 * before and before > 0.5 * math.log(4)


def test_ranking_finds_identical_texts_first(encoder_and_tokenizer):
    encoder, tokenizer = encoder_and_tokenizer
    rows = [_row(f"q{i}", s, f"c{i}", s) for i, s in enumerate(SENTENCES)]
    pool = candidate_pool(rows, {"x": "Le chat dort ."})
    top = top_candidates(encoder, tokenizer, SENTENCES, pool, batch_size=2, max_length=32, k=3, chunk=3)
    assert [ids[0] for ids in top] == ["c0", "c1", "c2", "c3"] and all(len(ids) == 3 for ids in top)


def test_training_pairs_keep_rows_that_carry_their_positive():
    rows = [_row("q1", "a", "c1", "x"), {"id": "q2", "query": "b", "relevant": ["e9"], "candidate_ids": [],
                                         "candidates": []}]
    assert [r["id"] for r in training_pairs(rows)] == ["q1"]
