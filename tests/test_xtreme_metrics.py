"""xltlib.tasks.metrics against hand-computed values: seqeval chunk F1 (entities, and the POS tags XTREME
scores the same way), SQuAD v1.1 and MLQA exact match / F1 (articles, punctuation, Chinese characters),
mAP@20, and BUCC F1 with XTREME's threshold choice."""
import pytest

from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.metrics import (
    METRICS, average_precision_at_k, bucc_best_threshold, bucc_extract, bucc_f1, headline, map_at_k,
    mixed_segmentation, mlqa, mlqa_exact_match, mlqa_f1, mlqa_normalize, normalize_answer, seqeval_scores, squad,
    squad_exact_match, squad_f1,
)


def test_every_task_metric_is_registered():
    for name, spec in TASKS.items():
        assert spec.metric in METRICS, name
    assert METRICS["seqeval"] is seqeval_scores and METRICS["squad"] is squad and METRICS["mlqa"] is mlqa


# -- seqeval ------------------------------------------------------------------------------------------


def test_entity_f1_counts_whole_entities():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "O"]]  # PER right, LOC missed, ORG typed as LOC
    scores = seqeval_scores(pred, gold)
    # 3 gold entities, 2 predicted, 1 correct
    assert scores["precision"] == pytest.approx(1 / 2)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_token_accuracy_counts_tokens_not_chunks():
    """CCG's metric: the share of tokens tagged right, over all sentences (where seqeval above scores 0.0)."""
    from xltlib.tasks.metrics import token_accuracy

    assert METRICS["token_accuracy"] is token_accuracy
    assert token_accuracy([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]]) == pytest.approx(2 / 3)
    gold = [["NP/N", "N", "S\\NP"], ["NP"]]
    assert token_accuracy([["NP/N", "N", "<unk>"], ["NP"]], gold) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="token_accuracy: sentence 2 has 2 predicted tags for 1 gold tags"):
        token_accuracy([["NP/N", "N", "S\\NP"], ["NP", "N"]], gold)
    assert TASKS["ccg"].metric == "token_accuracy" and TASKS["udpos"].metric == "seqeval"


def test_entity_cut_short_is_wrong():
    assert seqeval_scores([["B-PER", "O"]], [["B-PER", "I-PER"]])["f1"] == 0.0


def test_pos_tags_are_chunked_as_xtreme_scores_them():
    # seqeval reads NOUN as chunk tag 'N' of type 'OUN': two NOUNs in a row are one chunk, so getting one of
    # them wrong loses the whole chunk (token accuracy here would be 2/3).
    assert seqeval_scores([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]])["f1"] == 0.0
    gold = [["PRON", "VERB", "PUNCT"], ["DET", "NOUN"]]
    scores = seqeval_scores([["PRON", "NOUN", "PUNCT"], ["DET", "NOUN"]], gold)  # 4 of 5 chunks
    assert scores == pytest.approx({"f1": 0.8, "precision": 0.8, "recall": 0.8})


def test_seqeval_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="sentence 1 has 1 predicted tags for 2 gold tags"):
        seqeval_scores([["O"]], [["O", "O"]])


# -- SQuAD v1.1 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, normalized", [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  a   cat,  an apple; the END.", "cat apple end"),
    ("Theater", "theater"),  # 'the' only as a whole word
    ("«Paris»", "«paris»"),  # SQuAD strips ASCII punctuation only
])
def test_squad_normalization(text, normalized):
    assert normalize_answer(text) == normalized


def test_squad_exact_match_and_f1():
    assert squad_exact_match("the Eiffel Tower.", "Eiffel tower") == 1.0
    assert squad_exact_match("Eiffel", "Eiffel tower") == 0.0
    # 'big red dog' vs 'red dog barked': 2 common tokens of 3 and 3
    assert squad_f1("the big red dog", "a red dog barked") == pytest.approx(2 / 3)
    assert squad_f1("in 1889 .", "1889") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert squad_f1("the", "a") == 0.0  # both normalise to nothing: the official scripts score 0


def test_squad_takes_the_best_gold_answer_and_zero_for_unanswered():
    references = {"q1": ["Denver Broncos", "the Broncos"], "q2": ["1889"], "q3": ["Paris"]}
    predictions = {"q1": "Broncos", "q2": "in 1889"}  # q3 unanswered
    scores = squad(predictions, references)
    assert scores["exact_match"] == pytest.approx(1 / 3)  # q1 matches 'the Broncos'
    assert scores["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


# -- MLQA ---------------------------------------------------------------------------------------------


def test_mlqa_chinese_is_scored_by_characters():
    assert mixed_segmentation("我爱 New York 市") == ["我", "爱", "New", "York", "市"]
    # 电池 vs 电化电池: 2 common characters, precision 2/2, recall 2/4
    assert mlqa_f1("电池", "电化电池", "zh") == pytest.approx(2 / 3)
    assert squad_f1("电池", "电化电池") == 0.0  # one whitespace token each: SQuAD sees no overlap
    assert mlqa_exact_match("电池。", "电池", "zh") == 1.0


def test_mlqa_articles_are_per_language():
    assert mlqa_exact_match("el gato", "gato", "es") == 1.0
    assert mlqa_exact_match("el gato", "gato", "en") == 0.0
    assert mlqa_exact_match("der Hund", "Hund", "de") == 1.0
    assert mlqa_exact_match("الكتاب", "كتاب", "ar") == 1.0  # the article ال is dropped
    assert mlqa_normalize("The Cat", "hi") == "the cat"  # Hindi has no articles to drop


def test_mlqa_strips_unicode_punctuation():
    assert mlqa_exact_match("«Paris»", "Paris", "en") == 1.0
    assert squad_exact_match("«Paris»", "Paris") == 0.0


def test_mlqa_aggregate_and_unknown_language():
    scores = mlqa({"a": "电池", "b": "y"}, {"a": ["电化电池"], "b": ["x"]}, "zh")
    assert scores == pytest.approx({"exact_match": 0.0, "f1": (2 / 3) / 2})
    with pytest.raises(ValueError, match="no rules for language 'fr'"):
        mlqa_normalize("le chat", "fr")


# -- retrieval ----------------------------------------------------------------------------------------


def test_average_precision_at_k():
    assert average_precision_at_k({"a", "b"}, ["x", "a", "y", "b"]) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert average_precision_at_k({"a", "b"}, ["a", "a"]) == pytest.approx(1 / 2)  # a repeat is no new hit
    ranked = [f"x{i}" for i in range(20)] + ["a"]
    assert average_precision_at_k({"a"}, ranked) == 0.0  # rank 21 is past the cut-off
    relevant = [f"r{i}" for i in range(25)]
    assert average_precision_at_k(relevant, relevant) == 1.0  # divided by min(25, 20)
    assert average_precision_at_k({"q7"}, ["q1", "q2", "q7"]) == pytest.approx(1 / 3)  # one gold: 1 / rank


def test_map_at_20_over_queries():
    references = {"q1": ["a", "b"], "q2": ["c"], "q3": ["d"]}
    predictions = {"q1": ["x", "a", "y", "b"], "q2": ["c"]}  # q3 has no prediction: 0
    assert map_at_k(predictions, references, 20) == pytest.approx((0.5 + 1 + 0) / 3)
    assert METRICS["map_at_20"](predictions, references) == pytest.approx(0.5)


def test_bucc_f1():
    gold = {("s1", "t1"), ("s2", "t2"), ("s4", "t4"), ("s5", "t5")}
    predicted = [("s1", "t1"), ("s2", "t2"), ("s3", "t9")]
    scores = bucc_f1(predicted, gold)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(4 / 7)
    assert bucc_f1([("s9", "t9")], gold) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_bucc_threshold_is_where_f1_peaks_on_the_gold_pairs():
    candidates = {("a", "1"): 0.9, ("b", "2"): 0.8, ("c", "3"): 0.7, ("d", "4"): 0.6, ("e", "5"): 0.5}
    gold = {("a", "1"), ("b", "2"), ("d", "4")}
    # F1 down the list: 0.5, 0.8, 0.667, 0.857 (peak, after 'd'), 0.75 -> halfway between 0.6 and 0.5
    threshold = bucc_best_threshold(candidates, gold)
    assert threshold == pytest.approx(0.55)
    kept = bucc_extract(candidates, threshold)
    assert kept == {("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")}
    assert bucc_f1(kept, gold)["f1"] == pytest.approx(6 / 7)
    # the peak at the last candidate: its own score
    assert bucc_best_threshold({("a", "1"): 0.4, ("b", "2"): 0.3}, {("a", "1"), ("b", "2")}) == 0.3


def test_headline_is_the_tasks_one_number():
    assert headline("squad", {"exact_match": 0.5, "f1": 0.7}) == pytest.approx(0.6)
    assert headline("seqeval", {"f1": 0.8, "precision": 1.0, "recall": 0.6}) == 0.8
    assert headline("accuracy", 0.25) == 0.25
