"""The embedded world's LAReQA- and Mewsli-X-like tasks: parallel across languages, deterministic, in the files
the real loaders read, and not solvable by token identity (the shortcut the world's notes warn about)."""
import json
import random
from pathlib import Path

import pytest

from xltlib.core.config import RunConfig
from xltlib.tasks.dual_encoder import candidate_pool
from xltlib.run.experiment import load_task_data
from xltlib.tasks.handlers.dense_retrieval import relevant_sets
from xltlib.world.grammar import FrameSampler, LADDER_BY_CODE, build_semantics, translation_table
from xltlib.world.presets import PRESETS
from xltlib.world.tasks.ranking import CANDIDATE_SET, NAMES, VERB_MEANINGS, ranking_rows, sentence_breaks
from xltlib.world.tasks.qa import question_table


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def test_sentence_breaks():
    context = "a b . c d e . f"
    assert [context[a:b] for a, b in sentence_breaks(context)] == ["a b", "c d e", "f"]


def test_lareqa_tests_are_parallel(cached_tiny_world):
    files = cached_tiny_world.data_files("lareqa")
    assert set(files["test"]) == set(cached_tiny_world.langs) and set(files["train"]) == {"en"}
    by_lang = {lang: _rows(path) for lang, path in files["test"].items()}
    en = by_lang["en"]
    for lang, rows in by_lang.items():
        assert [r["id"] for r in rows] == [r["id"] for r in en]
        for row, english in zip(rows, en):
            breaks = row["sentence_breaks"]
            assert len(breaks) == len(english["sentence_breaks"])

            def answer_sentence(r):
                start = r["answers"]["answer_start"][0]
                return next(k for k, (a, b) in enumerate(r["sentence_breaks"]) if a <= start < b)

            assert answer_sentence(row) == answer_sentence(english)


def test_mewslix_tests_are_parallel_and_test_entities_are_new(cached_tiny_world):
    files = cached_tiny_world.data_files("mewslix")
    folder = Path(files["test"]["en"]).parent
    entities = _rows(folder / CANDIDATE_SET)
    assert len(entities) == len(NAMES) * len(VERB_MEANINGS) == len({e["entity_id"] for e in entities})
    by_lang = {lang: _rows(path) for lang, path in files["test"].items()}
    gold = [r["mentions"][0]["entity_id"] for r in by_lang["en"]]
    for lang, rows in by_lang.items():
        assert [r["mentions"][0]["entity_id"] for r in rows] == gold
        assert all(r["context"]["language"] == lang for r in rows)
    train = {r["entity"]["entity_id"] for r in _rows(files["train"]["en"])}
    assert train and not train & set(gold)  # new entities at test time
    titles = {e["entity_id"]: e["title"] for e in entities}
    assert {titles[e] for e in train} == {titles[e] for e in gold} == set(NAMES)  # every name in both


@pytest.mark.parametrize("task", ["lareqa", "mewslix"])
def test_the_same_seed_gives_the_same_rows(task):
    preset = PRESETS["tiny"]
    sampler = FrameSampler(build_semantics(preset.seed))
    tables = {c: translation_table(LADDER_BY_CODE[c], preset.seed) for c in preset.langs}
    questions = {c: question_table(LADDER_BY_CODE[c], preset.seed) for c in preset.langs}

    def draw():
        return ranking_rows(task, "test", 20, random.Random(f"{task}|test|{preset.seed}"), preset, sampler, tables,
                            questions, preset.langs)

    assert draw() == draw()


@pytest.mark.parametrize("task", ["lareqa", "mewslix"])
def test_token_identity_does_not_find_the_gold_candidate(cached_tiny_world, task):
    """Rank the pool by the number of words shared with the query (what an untrained encoder can see): the
    gold candidate is rarely the single best, in every language. Mewsli-X-like: several entities share each
    name; LAReQA-like: the question restates its sentence with synonyms."""
    cfg = RunConfig(world_preset="tiny", tasks=[task])
    data = load_task_data(cfg, task, cached_tiny_world)
    pool = candidate_pool([r for rows in data.tests.values() for r in rows], data.extra["candidates"])
    relevant = relevant_sets(data.tests)
    ids = list(pool)
    vocabulary: dict[str, int] = {}
    candidates = _bags([pool[cid].split() for cid in ids], vocabulary)
    for lang, rows in data.tests.items():
        queries = _bags([row["query"].replace("{", " ").replace("}", " ").replace(":", " ").split() for row in rows],
                        vocabulary, grow=False)
        overlap = (queries @ candidates.T).toarray()  # words shared, query x candidate
        is_best = overlap == overlap.max(axis=1, keepdims=True)
        singled_out = 0
        for row, best in zip(rows, is_best):
            (best_ids,) = best.nonzero()
            singled_out += len(best_ids) == 1 and ids[best_ids[0]] in relevant[row["id"]]
        assert singled_out / len(rows) < 0.15, (lang, singled_out)


def _bags(texts: list[list[str]], vocabulary: dict, grow: bool = True):
    """0/1 word-presence rows (a sparse matrix over `vocabulary`), so shared-word counts are one product. Words
    outside a fixed vocabulary can't be shared with any candidate, so they are left out."""
    from scipy.sparse import csr_matrix

    cells = set()
    for i, words in enumerate(texts):
        for word in words:
            if grow:
                vocabulary.setdefault(word, len(vocabulary))
            if word in vocabulary:
                cells.add((i, vocabulary[word]))
    rows, cols = zip(*cells) if cells else ((), ())
    shape = (len(texts), len(vocabulary))
    return csr_matrix(([1] * len(cells), (rows, cols)), shape=shape, dtype="int32")
