"""Robust methods and attacks beyond sentence pairs, through the one run path: `at` and `rs_da` train a tagger
(udpos) and a span-QA model (xquad) on the tiny world, and the embedding-PGD attack scores each under attack with
the task's own metric. And the word substitution rs_da trains with keeps the labels where they belong: a QA row's
answers at their answer_start, a tagging row's one token per tag.
"""
import functools
import json
import random
import re
from pathlib import Path

import pytest

from xltlib.core.config import RunConfig
from xltlib.methods.spec import MethodContext
from xltlib.methods.substitution import RandomSubstitution, Substitutions, make_rs_da
from xltlib.run.experiment import load_task_data, run_experiment
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.handlers.span_qa import substitute_outside_answers

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 0.05  # tagging and QA are scored at PGD's last iterate, which may by chance fix what the clean model missed


@pytest.fixture(scope="module")
def world(cached_tiny_world):
    return cached_tiny_world


@pytest.fixture(scope="module")
def records(world, tmp_path_factory):
    # The clean and the attacked scores are on the same test rows (max_eval_samples = max_robustness_samples), so
    # they can be compared.
    cfg = RunConfig(world_preset="tiny", tasks=["udpos", "xquad"], methods=["at", "rs_da"],
                    method_options={"at": {"steps": 1}}, attacks={"pgd": {"epsilon": 0.1}}, seeds=[1],
                    eval_langs=["en", "rlx"], generalized=False, max_train_samples=100, max_eval_samples=24,
                    max_robustness_samples=24, num_train_epochs=1.0, learning_rate=1e-3,
                    task_overrides={"xquad": {"max_seq_length": 96}})
    run_dir = tmp_path_factory.mktemp("robust-types")
    return run_experiment(cfg, run_dir, world), run_dir


@pytest.mark.parametrize("task, metric", [("udpos", "seqeval"), ("xquad", "squad")])
def test_robust_methods_run_and_are_scored_under_pgd(records, task, metric):
    frame, run_dir = records
    test = frame[(frame.task == task) & (frame.split == "test")]
    for method in ("at", "rs_da"):
        rows = test[test.method == method]
        clean = rows[rows.metric == metric].set_index("lang").value
        attacked = rows[rows.metric == f"{metric}_under_pgd"].set_index("lang").value
        assert set(clean.index) == set(attacked.index) == {"en", "rlx"}, rows
        assert attacked.between(0, 1).all() and clean.between(0, 1).all(), rows
        assert (attacked <= clean + TOLERANCE).all(), (method, clean.to_dict(), attacked.to_dict())
        # Tagging and QA have no one label per example, so no attack success rate.
        assert not rows.metric.str.startswith("attack_success_rate").any()
        dev = frame[(frame.task == task) & (frame.method == method) & (frame.split == "validation")]
        assert dev.metric.tolist() == [metric] and dev.value.between(0, 1).all()  # selected on English dev
        assert (run_dir / "predictions" / method / "seed1").is_dir()
    if task == "xquad":
        assert {"exact_match", "f1"} <= set(test.metric)


# A small synonym table whose alternatives differ in length from their words, so offsets have to move.
TABLE = {"cat": ["kitten"], "big": ["enormous", "huge"], "sat": ["rested"], "mat": ["rug"], "the": ["a"],
         "who": ["which one"]}


def qa_row() -> dict:
    context = "the big cat sat on the mat.  Then the  cat sat\non the big mat again."
    answers = ["the mat", "cat sat", "big mat"]
    starts = [context.index("the mat"), context.rindex("cat sat"), context.rindex("big mat")]
    return {"id": "q1", "question": "who sat on the mat", "context": context,
            "answers": {"text": answers, "answer_start": starts}}


def answers_in_place(row: dict) -> bool:
    context, answers = row["context"], row["answers"]
    return all(context[s:s + len(t)] == t for t, s in zip(answers["text"], answers["answer_start"]))


def test_span_qa_substitution_keeps_every_answer_at_its_answer_start():
    row = qa_row()
    assert answers_in_place(row)
    substitutions = Substitutions(TABLE)
    contexts, questions = set(), set()
    for seed in range(40):
        out = substitute_outside_answers(row, substitutions, random.Random(seed))
        assert answers_in_place(out), out
        assert out["answers"]["text"] == row["answers"]["text"] and out["id"] == "q1"
        # Only words change: the whitespace between them is the original's (two spaces, a newline).
        assert re.findall(r"\s+", out["context"]) == re.findall(r"\s+", row["context"])
        contexts.add(out["context"])
        questions.add(out["question"])
    assert row == qa_row()  # the input row is left alone
    assert len(contexts) > 5 and len(questions) > 1  # words outside the answers and in the question do change
    assert any("kitten" in c or "enormous" in c or "huge" in c for c in contexts)
    # "Then" is capitalised: the lower-only policy leaves it (and the table has no entry for it anyway).
    assert all("Then" in c for c in contexts)


def test_span_qa_substitution_moves_offsets_by_the_change_before_them():
    row = {"id": "q", "question": "where", "context": "the cat sat on the mat",
           "answers": {"text": ["mat"], "answer_start": [19]}}
    always = Substitutions({"the": ["a"], "cat": ["kitten"], "sat": ["rested"]})

    class First(random.Random):
        def randrange(self, n):  # always the first alternative, never the word itself
            return 1 if n > 1 else 0

    out = substitute_outside_answers(row, always, First())
    assert out["context"] == "a kitten rested on a mat" and out["answers"]["answer_start"] == [21]
    assert answers_in_place(out)


def test_rs_da_on_span_qa_moves_the_answers_with_the_words(world, tmp_path):
    """rs_da as a run builds it (the task's own substitution from its handler), on the tiny world's XQuAD-like
    training rows with its synonyms, and on the real path's neighbours file."""
    spec = TASKS["xquad"]
    handler = handler_for(spec)
    rows = load_task_data(RunConfig(world_preset="tiny", tasks=["xquad"], max_train_samples=40, max_eval_samples=1,
                                    eval_langs=["en"]), "xquad", world).train
    assert all(answers_in_place(r) for r in rows)
    neighbours = tmp_path / "neighbours.json"
    neighbours.write_text(json.dumps(TABLE | world.synonyms("en")))
    for options in ({}, {"neighbors": str(neighbours), "copies": 2}):
        context = MethodContext(text_fields=handler.text_fields(spec), world=world,
                                substitute=functools.partial(handler.substitute, spec))
        rs_da = make_rs_da(context, **options)
        out = rs_da.perturb_examples(rows, random.Random(0))
        assert len(out) == len(rows) * options.get("copies", 1)
        assert all(answers_in_place(r) for r in out)
        changed = [o for o in out if o["context"] != next(r for r in rows if r["id"] == o["id"])["context"]]
        assert len(changed) > len(out) // 2  # most contexts have a word with a synonym outside the answer


def test_tagging_substitution_keeps_one_token_per_tag(world):
    spec = TASKS["udpos"]
    handler = handler_for(spec)
    assert handler.substitute is None and handler.text_fields(spec) == ("tokens",)
    rows = load_task_data(RunConfig(world_preset="tiny", tasks=["udpos"], max_train_samples=40, max_eval_samples=1,
                                    eval_langs=["en"]), "udpos", world).train
    rs_da = make_rs_da(MethodContext(text_fields=handler.text_fields(spec), world=world))
    hand = RandomSubstitution(Substitutions({"the": ["a"], "tom": ["thomas"], "in": ["inside"]}), ("tokens",))
    for substitution in (rs_da, hand):
        changed = 0
        for seed in range(3):
            out = substitution.perturb_examples(rows, random.Random(seed))
            assert len(out) == len(rows)
            for before, after in zip(rows, out):
                assert len(after["tokens"]) == len(after["tags"]) == len(before["tokens"])
                assert after["tags"] == before["tags"]
                assert all(token and not re.search(r"\s", token) for token in after["tokens"])  # one word each
                changed += after["tokens"] != before["tokens"]
        assert changed > 0
    row = {"tokens": ["the", "Tom", "sat", "in", "the", "park"], "tags": [5, 11, 15, 1, 5, 7]}
    out = hand.substitute(row, random.Random(1))
    assert out["tags"] == row["tags"] and len(out["tokens"]) == 6 and out["tokens"][1:3] == ["Tom", "sat"]
