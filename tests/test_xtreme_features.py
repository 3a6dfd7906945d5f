"""The XTREME handlers' features (xltlib.tasks.handlers: tagging, span_qa, multiple_choice; xltlib.tasks.embeddings)
on the tiny local BERT and XLM-R tokenizers: first-subword label alignment, QA
windows with document stride and n-best span decoding across windows, multiple-choice tensors of shape
[batch, n_choices, seq], and mean-pooled retrieval embeddings."""
import numpy as np
import pytest
import torch

from xltlib.core.config import TrainArgs
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.embeddings import cosine_similarity, rank_candidates, sentence_embeddings
from xltlib.tasks.handlers.base import IGNORE_INDEX
from xltlib.tasks.handlers.multiple_choice import choice_context, multiple_choice_collate
from xltlib.tasks.handlers.span_qa import decode_answers, nbest_spans, prepare_qa_features
from xltlib.tasks.handlers.tagging import align_word_labels, tagging_collate, word_predictions
from xltlib.tasks.models import load_tokenizer

ARGS = TrainArgs(max_seq_length=64)
LONG_WORD = "Kaffeekatzenschlafsofa"  # not in the tiny vocabularies: many subwords


@pytest.fixture(params=["bert", "xlmr"])
def tokenizer(request, tiny_model_dir, tiny_xlmr_dir):
    return load_tokenizer(str({"bert": tiny_model_dir, "xlmr": tiny_xlmr_dir}[request.param]))


@pytest.fixture(scope="module")
def bert_tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))


# -- tagging ------------------------------------------------------------------------------------------


def test_only_the_first_subword_of_a_word_is_labelled(tokenizer):
    example = {"tokens": ["The", LONG_WORD, "sleeps", "."], "tags": [5, 7, 15, 12]}
    batch = tagging_collate(tokenizer, TASKS["udpos"], ARGS, keep_word_ids=True)([example])
    word_ids, labels = batch.pop("word_ids")[0], batch["labels"][0].tolist()
    pieces = [i for i, w in enumerate(word_ids) if w == 1]
    assert len(pieces) >= 4  # the long word really is split into many subwords
    assert labels[pieces[0]] == 7 and all(labels[i] == IGNORE_INDEX for i in pieces[1:])
    assert [l for l in labels if l != IGNORE_INDEX] == example["tags"]  # one label per word, in order
    assert labels[0] == IGNORE_INDEX and labels[word_ids.index(None, 1)] == IGNORE_INDEX  # special tokens
    assert batch["input_ids"].shape == batch["labels"].shape


def test_batch_padding_is_ignored_and_predictions_map_back_to_words(tokenizer):
    examples = [{"tokens": ["Tom", "reads", "."], "tags": [11, 15, 12]},
                {"tokens": ["The", LONG_WORD, "sleeps", "on", "the", "sofa", "."], "tags": [5, 7, 15, 1, 5, 7, 12]}]
    assert "word_ids" not in tagging_collate(tokenizer, TASKS["udpos"], ARGS)(examples)  # model inputs only
    batch = tagging_collate(tokenizer, TASKS["udpos"], ARGS, keep_word_ids=True)(examples)
    word_ids = batch.pop("word_ids")
    assert (batch["labels"][0][batch["attention_mask"][0] == 0] == IGNORE_INDEX).all()
    for i, example in enumerate(examples):
        # predicting exactly the aligned labels gives back each word's tag
        assert word_predictions(batch["labels"][i], word_ids[i], len(example["tokens"])) == example["tags"]


def test_align_and_truncated_words():
    assert align_word_labels([None, 0, 0, 1, None, None], [3, 4]) == [-100, 3, -100, 4, -100, -100]
    assert word_predictions([9, 3, 3, 4], [None, 0, 0, 1], n_words=3, fill=0) == [3, 4, 0]


# -- span QA ------------------------------------------------------------------------------------------

QA_CONTEXT = ("A man reads a book in the park. The children play football after school. She drinks coffee "
              "every morning. The cat sleeps on the sofa. In 1990 he moved from Paris to Berlin.")


def _qa_example(answer: str, qid: str = "q1") -> dict:
    start = QA_CONTEXT.index(answer)
    return {"id": qid, "question": "What does she drink?", "context": QA_CONTEXT,
            "answers": {"text": [answer], "answer_start": [start]}}


def _gold_logits(features, example, high=10.0):
    """Start logits high on tokens starting at the answer's first character, end logits high on tokens
    ending at its last: what a perfect model would output, window by window."""
    start_char = example["answers"]["answer_start"][0]
    end_char = start_char + len(example["answers"]["text"][0])
    n, length = features.inputs["input_ids"].shape
    start, end = np.zeros((n, length)), np.zeros((n, length))
    for w, offsets in enumerate(features.offsets):
        for t, o in enumerate(offsets):
            if o is not None and o[0] == start_char:
                start[w, t] = high
            if o is not None and o[1] == end_char:
                end[w, t] = high
    return start, end


def _windows(features):
    return [[o for o in offsets if o is not None] for offsets in features.offsets]


def test_windows_overlap_by_the_stride(bert_tokenizer):
    features = prepare_qa_features(bert_tokenizer, [_qa_example("coffee every morning")], max_seq_length=32,
                                   doc_stride=8)
    windows = _windows(features)
    assert len(windows) >= 3 and features.example_index == [0] * len(windows)
    for first, second in zip(windows, windows[1:]):
        assert first[-8:] == second[:8]  # consecutive windows share `doc_stride` context tokens
    assert windows[0][0][0] == 0 and windows[-1][-1][1] == len(QA_CONTEXT)  # together they cover the context


def _boundary_answer(tokenizer, max_seq_length=32, doc_stride=8):
    """An answer whose tokens cross the end of the first window (and so sit whole in a later one)."""
    features = prepare_qa_features(tokenizer, [_qa_example("coffee")], max_seq_length, doc_stride, with_labels=False)
    last = _windows(features)[0][-1]
    for span in ("drinks coffee every morning", "coffee every morning", "football after school",
                 "after school. She drinks", "the park. The children play"):
        start = QA_CONTEXT.index(span)
        if start < last[0] and start + len(span) > last[1]:
            return span
    raise AssertionError("no candidate answer crosses the first window's end")


def test_answer_crossing_a_window_boundary_is_labelled_and_decoded_from_the_whole_window(bert_tokenizer):
    answer = _boundary_answer(bert_tokenizer)
    example = _qa_example(answer)
    features = prepare_qa_features(bert_tokenizer, [example], max_seq_length=32, doc_stride=8)
    start_char = example["answers"]["answer_start"][0]
    whole = [w for w, window in enumerate(_windows(features))
             if window[0][0] <= start_char and window[-1][1] >= start_char + len(answer)]
    assert whole and 0 not in whole  # the first window cuts it; a later one holds it whole
    assert (features.start_positions[0], features.end_positions[0]) == (0, 0)  # cut: labelled 'no answer'
    w = whole[0]
    s, e = features.start_positions[w], features.end_positions[w]
    assert QA_CONTEXT[features.offsets[w][s][0]:features.offsets[w][e][1]] == answer

    start, end = _gold_logits(features, example)
    # In the cutting window the start is there but the true end is not: give it a decoy end.
    last_context_token = max(t for t, o in enumerate(features.offsets[0]) if o is not None)
    end[0, last_context_token] = 5.0
    assert decode_answers(start, end, features, [example], max_answer_length=30) == {"q1": answer}
    best = nbest_spans(start, end, features, [example])[0]
    assert best[0].text == answer and best[0].window in whole and best[0].score == 20.0
    assert any(c.window == 0 and c.score == 15.0 for c in best)  # the cut window's best is worse


def test_nbest_skips_invalid_spans_and_ranks_the_rest(bert_tokenizer):
    example = _qa_example("coffee every morning")
    features = prepare_qa_features(bert_tokenizer, [example], max_seq_length=128, doc_stride=32, with_labels=False)
    assert len(features) == 1
    gold_start, gold_end = _gold_logits(features, example)  # the answer scores 10 + 10
    offsets = features.offsets[0]
    context = [t for t, o in enumerate(offsets) if o is not None]
    question = next(t for t, o in enumerate(offsets) if o is None and t > 0)
    s_true, e_true = int(np.argmax(gold_start[0])), int(np.argmax(gold_end[0]))

    def logits():
        start, end = np.full_like(gold_start, -20.0), np.full_like(gold_end, -20.0)
        start[0, s_true], end[0, e_true] = 10.0, 10.0
        return start, end

    start, end = logits()
    start[0, question], end[0, question] = 50.0, 50.0  # a 'span' inside the question is never an answer
    start[0, context[-1]], end[0, context[0]] = 30.0, 30.0  # a span ending before it starts is invalid
    spans = nbest_spans(start, end, features, [example], max_answer_length=30)[0]
    assert spans[0].text == "coffee every morning" and spans[0].score == 20.0
    assert all(c.score <= 10.0 for c in spans[1:])
    assert [c.score for c in spans] == sorted((c.score for c in spans), reverse=True)

    start, end = logits()
    start[0, context[0]], end[0, context[-1]] = 12.0, 12.0  # the whole context: 24, if long spans are allowed
    assert nbest_spans(start, end, features, [example], max_answer_length=10)[0][0].text == "coffee every morning"
    long = nbest_spans(start, end, features, [example], max_answer_length=len(context))[0]
    assert long[0].text == QA_CONTEXT and long[0].score == 24.0
    assert decode_answers(start, end, features, [example], max_answer_length=10) == {"q1": "coffee every morning"}


def test_qa_features_run_through_a_qa_model(tiny_xlmr_dir):
    from transformers import AutoModelForQuestionAnswering

    tokenizer = load_tokenizer(str(tiny_xlmr_dir))
    examples = [_qa_example("coffee every morning", "q1"), _qa_example("Paris", "q2")]
    features = prepare_qa_features(tokenizer, examples, max_seq_length=40, doc_stride=10)
    assert set(features.example_index) == {0, 1}
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_xlmr_dir).eval()
    with torch.no_grad():
        out = model(**features.inputs)
    assert out.start_logits.shape == features.inputs["input_ids"].shape and torch.isfinite(out.loss)
    answers = decode_answers(out.start_logits.numpy(), out.end_logits.numpy(), features, examples)
    assert set(answers) == {"q1", "q2"} and all(a in QA_CONTEXT for a in answers.values())
    start, end = _gold_logits(features, examples[0])
    assert decode_answers(start, end, features, examples)["q1"] == "coffee every morning"


# -- multiple choice ----------------------------------------------------------------------------------

COPA = [
    {"premise": "The glass broke.", "question": "cause", "choices": ["It fell.", "It was full."], "label": 0},
    {"premise": "It rained.", "question": "effect", "choices": ["The street was dry.", "The street got wet."],
     "label": 1},
]


def test_multiple_choice_is_shaped_batch_by_choice(tokenizer):
    batch = multiple_choice_collate(tokenizer, TASKS["xcopa"], ARGS)(COPA)
    assert batch["input_ids"].shape[:2] == (2, 2) and batch["attention_mask"].shape == batch["input_ids"].shape
    assert batch["labels"].tolist() == [0, 1]
    first = tokenizer.decode(batch["input_ids"][1, 1], skip_special_tokens=True)
    assert "rained" in first and "wet" in first


def test_choice_context():
    assert choice_context(COPA[0]) == "The glass broke. What was the cause?"
    siqa = {"premise": "Tracy gave Bob a gift.", "question": "How would Bob feel?", "choices": ["a", "b", "c"]}
    assert choice_context(siqa) == "Tracy gave Bob a gift. How would Bob feel?"


def test_multiple_choice_model_scores_each_choice(tiny_model_dir):
    from transformers import AutoModelForMultipleChoice

    tokenizer = load_tokenizer(str(tiny_model_dir))
    siqa = [{"premise": "Tom was late.", "question": "What will Tom do?", "choices": ["hurry", "sleep", "read"],
             "label": 0}]
    model = AutoModelForMultipleChoice.from_pretrained(tiny_model_dir).eval()
    for examples, n in ((COPA, 2), (siqa, 3)):
        batch = multiple_choice_collate(tokenizer, TASKS["xcopa"], ARGS)(examples)
        with torch.no_grad():
            out = model(**batch)
        assert out.logits.shape == (len(examples), n) and torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="same number of choices"):
        multiple_choice_collate(tokenizer, TASKS["xcopa"], ARGS)(COPA + siqa)


# -- retrieval ----------------------------------------------------------------------------------------


def test_embeddings_ignore_padding_and_retrieve_translations(tiny_xlmr_dir):
    from transformers import AutoModel

    tokenizer = load_tokenizer(str(tiny_xlmr_dir))
    model = AutoModel.from_pretrained(tiny_xlmr_dir)
    sentences = ["The cat sleeps.", "A man reads a book in the park.", "She drinks coffee every morning."]
    alone = sentence_embeddings(model, tokenizer, sentences[:1], layer=1)
    batched = sentence_embeddings(model, tokenizer, sentences, layer=1, batch_size=3)
    assert batched.shape == (3, model.config.hidden_size)
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)  # padding does not enter the mean
    assert not np.allclose(sentence_embeddings(model, tokenizer, sentences, layer=0), batched)
    order = [2, 0, 1]
    targets = sentence_embeddings(model, tokenizer, [sentences[i] for i in order], layer=1)
    assert rank_candidates(batched, targets, k=1)[:, 0].tolist() == [order.index(i) for i in range(3)]
    assert np.allclose(np.diag(cosine_similarity(batched, batched)), 1.0)


def test_top_k_ranking_equals_the_full_sort_and_keeps_ties_by_index():
    rng = np.random.default_rng(0)
    queries, pool = rng.normal(size=(7, 5)), rng.normal(size=(300, 5))
    pool[[10, 40, 200]] = pool[5]  # four candidates tie with candidate 5 on every query
    full = rank_candidates(queries, pool)
    np.testing.assert_array_equal(rank_candidates(queries, pool, k=20), full[:, :20])
    query_on_tie = pool[5:6] + 1e-9
    assert rank_candidates(query_on_tie, pool, k=3).tolist() == [[5, 10, 40]]  # cut inside the tie: lower ids
    assert rank_candidates(queries, pool, k=300).shape == (7, 300)
    assert rank_candidates(queries[:0], pool, k=3).shape == (0, 3)
