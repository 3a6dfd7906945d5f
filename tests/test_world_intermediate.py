"""The embedded world's intermediate tasks (`xltlib.world.tasks.intermediate`) and target-language pools
(`xltlib.world.tasks.target_pools`) on the tiny world: each task's files load through its catalogue entry and
handler in every language with the documented sizes, repeat exactly, are parallel across languages; the pools of
the target tasks exist in every language, are the English split's items and never hold a test row; and `seq:mnli`,
`seq:mnli@rlx`, `seq:mnli@mix` and `seq:mnli+fs2` run end to end on the world's own files."""
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from xltlib.core.config import RunConfig
from xltlib.run.experiment import load_stage_data, run_experiment
from xltlib.tasks.catalogue import CCG_TAGS, TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.shots import draw_shots, row_key
from xltlib.world.build import get_world
from xltlib.world.presets import PRESETS
from xltlib.world.tasks.intermediate import (INTERMEDIATE_WORLD_TASKS, MNLI_PHENOMENA, TRAIN_SCALE,
                                             write_intermediate_files)
from xltlib.world.tasks.target_pools import POOL_SPLITS, POOL_TASKS, _pair_rows

TINY = PRESETS["tiny"]
CONFIG = RunConfig(world_preset="tiny", seeds=[0], eval_langs=["en"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny world built once for this module, in its own cache."""
    before = os.environ.get("XLT_WORLD_CACHE")
    os.environ["XLT_WORLD_CACHE"] = str(tmp_path_factory.mktemp("worlds"))
    try:
        yield get_world("tiny")
    finally:
        if before is None:
            del os.environ["XLT_WORLD_CACHE"]
        else:
            os.environ["XLT_WORLD_CACHE"] = before


def _load(world, task, split, lang):
    spec = TASKS[task]
    return handler_for(spec).load_split(spec, split, lang, world.data_files(task), None)


def _tag_counts(row) -> Counter:
    return Counter(t for t in (CCG_TAGS[i] for i in row["tags"]) if not t.startswith("CASE/"))


def test_every_intermediate_task_loads_through_its_entry_in_every_language_with_its_sizes(world):
    assert set(INTERMEDIATE_WORLD_TASKS) <= set(world.generated_tasks)
    for task in INTERMEDIATE_WORLD_TASKS:
        files = world.data_files(task)
        assert set(files) == {"train", "validation"} and all(set(f) == set(world.langs) for f in files.values())
        english = load_stage_data(CONFIG, task, "train", ("en",), world, with_dev=True)
        assert len(english.train) == TRAIN_SCALE * TINY.n_train and len(english.dev) == TINY.n_dev, task
        for lang in world.langs[1:]:
            assert len(_load(world, task, "train", lang)) == TINY.n_train, (task, lang)
            assert len(_load(world, task, "validation", lang)) == TINY.n_dev, (task, lang)


def test_intermediate_files_repeat_exactly_from_the_seed(world, tmp_path):
    write_intermediate_files(TINY, tmp_path)
    for task in INTERMEDIATE_WORLD_TASKS:
        for by_lang in world.data_files(task).values():
            for lang, path in by_lang.items():
                again = tmp_path / Path(path).relative_to(world.directory)
                assert again.read_bytes() == Path(path).read_bytes(), (task, lang)


def test_intermediate_tasks_are_parallel_across_languages(world):
    for task in INTERMEDIATE_WORLD_TASKS:
        by_lang = {lang: _load(world, task, "validation", lang) for lang in world.langs}
        english = by_lang["en"]
        for lang, rows in by_lang.items():
            if task == "ccg":  # tags follow each language's word order (and verb-final ones add case particles)
                assert [_tag_counts(r) for r in rows] == [_tag_counts(r) for r in english], lang
            elif task == "squad":
                assert [r["id"] for r in rows] == [r["id"] for r in english], lang
            else:
                assert [r["label"] for r in rows] == [r["label"] for r in english], (task, lang)
        # a target-language train file is the first n_train English items
        train_rlx, train_en = _load(world, task, "train", "rlx"), _load(world, task, "train", "en")
        if task not in ("ccg", "squad"):
            assert [r["label"] for r in train_rlx] == [r["label"] for r in train_en[:TINY.n_train]], task


def test_mnli_like_labels_are_balanced_and_each_phenomenon_occurs(world):
    rows = [json.loads(line) for line in Path(world.data_files("mnli")["train"]["en"]).read_text().splitlines()]
    counts = Counter(r["label"] for r in rows)
    assert set(counts) == {0, 1, 2} and min(counts.values()) > 0.28 * len(rows)
    assert all(r["premise"] != r["hypothesis"] for r in rows)  # every phenomenon changes the sentence
    assert sum(len(p) for p in MNLI_PHENOMENA.values()) == 10


def test_answers_and_tags_are_what_the_handlers_need(world):
    for lang in world.langs:
        for row in _load(world, "squad", "validation", lang):
            start, text = row["answers"]["answer_start"][0], row["answers"]["text"][0]
            assert row["context"][start:start + len(text)] == text
        tags = {TASKS["ccg"].labels[t] for row in _load(world, "ccg", "validation", lang) for t in row["tags"]}
        assert tags <= set(CCG_TAGS) and {"N/subj", "N/obj", "V"} <= tags
        assert {len(r["choices"]) for r in _load(world, "commonsenseqa", "validation", lang)} == {5}
        assert {len(r["choices"]) for r in _load(world, "hellaswag", "validation", lang)} == {4}
    sst2 = _load(world, "sst2", "train", "en")
    assert {r["label"] for r in sst2} == {0, 1} and set(sst2[0]) == {"sentence", "label"}


def test_target_tasks_have_pools_in_every_language_disjoint_from_their_test_rows(world):
    for task in POOL_TASKS:
        spec = TASKS[task]
        files = world.data_files(task)
        assert set(files["test"]) == set(world.langs_for(task))
        for split in POOL_SPLITS[task]:
            assert set(files[split]) == set(world.langs), (task, split)
            english = _load(world, task, split, "en")
            pools = {lang: _load(world, task, split, lang) for lang in world.langs if lang != "en"}
            sizes = {len(rows) for rows in pools.values()}
            assert len(sizes) == 1 and 0.9 * len(english) <= sizes.pop() <= len(english), (task, split)
            for lang, rows in pools.items():
                tests = {row_key(spec, r) for r in _load(world, task, "test", lang)}
                assert not tests & {row_key(spec, r) for r in rows}, (task, split, lang)
    shots = draw_shots(TASKS["xnli"], "vfx", _load(world, "xnli", "validation", "vfx"), 4, 0,
                       _load(world, "xnli", "test", "vfx"))
    assert Counter(r["label"] for r in shots) == {0: 4, 1: 4, 2: 4}


def test_pair_pools_are_the_english_splits_items_and_english_files_are_untouched(world):
    from xltlib.world.grammar import FrameSampler, build_semantics, translation_table, LADDER_BY_CODE

    sampler = FrameSampler(build_semantics(TINY.seed))
    tables = {c: translation_table(LADDER_BY_CODE[c], TINY.seed) for c in TINY.langs}
    for task in ("xnli", "pawsx"):
        rows = _pair_rows(task, "validation", TINY, sampler, tables, ("en",))["en"]
        written = Path(world.data_files(task)["validation"]["en"]).read_text(encoding="utf-8")
        assert "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) == written


def test_sequential_mixed_and_few_shot_schedules_run_end_to_end_on_the_worlds_files(world, tmp_path, monkeypatch):
    from xltlib.run import experiment

    loaded, shots = [], []

    def spy(cfg, task, split, langs, world=None, with_dev=False):
        data = load_stage_data(cfg, task, split, langs, world, with_dev)
        loaded.append((task, langs, data.train[0]["premise"]))
        return data

    def shot_spy(*args, **kwargs):
        data = load_shot_data(*args, **kwargs)
        shots.extend(data.train)
        return data

    load_shot_data = experiment.load_shot_data
    monkeypatch.setattr(experiment, "load_stage_data", spy)
    monkeypatch.setattr(experiment, "load_shot_data", shot_spy)
    methods = ["seq:mnli", "seq:mnli@rlx", "seq:mnli@mix", "seq:mnli+fs2"]
    cfg = RunConfig(world_preset="tiny", tasks=["xnli"], methods=methods, seeds=[1], eval_langs=["en", "rlx"],
                    generalized=False, max_train_samples=32, max_eval_samples=32, num_train_epochs=1.0,
                    per_device_train_batch_size=16, per_device_eval_batch_size=64, learning_rate=1e-3,
                    warmup_ratio=0.0, export_predictions=False)
    records = run_experiment(cfg, tmp_path / "run", world)
    test = records[(records.split == "test") & (records.metric == "accuracy")]
    assert set(records.method) == set(methods) and len(test) == 8 and test.value.between(0, 1).all()
    first = {langs: premise for _, langs, premise in loaded}  # each stage read the world's MNLI-like files
    english, relexified = (_load(world, "mnli", "train", lang)[0]["premise"] for lang in ("en", "rlx"))
    assert first[()] == english and first[("rlx",)] == relexified and english != relexified
    assert set(next(langs for langs in first if len(langs) > 1)) == set(world.langs)  # @mix: every language
    pool = {row_key(TASKS["xnli"], r) for r in _load(world, "xnli", "validation", "rlx")}
    assert len(shots) == 6 and all(row_key(TASKS["xnli"], r) in pool for r in shots)  # 2 per class, rlx's dev pool
