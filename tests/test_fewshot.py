"""Few-shot target-language stages and non-English intermediate data on the tiny world: shot sets are a function of
their seed alone, balanced per class (k examples where there are no classes), disjoint from the evaluation rows and
nested over k; Zhao et al.'s bucket layout is read from a small fixture; translate-train TSVs are read by position;
k beyond the pool and a translate-train line with the wrong columns are one-line errors naming k, the class and the
pool, or the file, the line and the columns. One few-shot schedule and one German-intermediate schedule run through
`run_experiment`.
"""
import json
from collections import Counter
from pathlib import Path

import pytest

from xltlib.core.config import RunConfig
from xltlib.core.errors import DataError
from xltlib.run.experiment import load_shot_data, load_task_data, method_plan, run_experiment
from xltlib.run.plan import plan
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.shots import draw_shots, read_zhao_shots, row_key, zhao_path

XNLI, UDPOS = TASKS["xnli"], TASKS["udpos"]
LANG = "vfc"  # a far language of the tiny world
BUDGET = dict(world_preset="tiny", seeds=[3], generalized=False, max_train_samples=32, max_eval_samples=32,
              num_train_epochs=1.0, per_device_train_batch_size=16, per_device_eval_batch_size=64,
              learning_rate=1e-3, warmup_ratio=0.0, export_predictions=False)


@pytest.fixture(scope="module")
def world(cached_tiny_world):
    return cached_tiny_world


def rows_of(world, task: str, split: str, lang: str) -> list[dict]:
    spec = TASKS[task]
    return handler_for(spec).load_split(spec, split, lang, world.data_files(task), None)


@pytest.fixture(scope="module")
def pool(world) -> list[dict]:
    """The far language's XNLI rows: its first 32 are what a run with max_eval_samples 32 evaluates."""
    return rows_of(world, "xnli", "test", LANG)


def test_a_shot_set_is_its_seeds_balanced_per_class_and_never_an_evaluation_row(pool):
    evaluated = pool[:32]
    shots = draw_shots(XNLI, LANG, pool, 4, 0, evaluated)
    assert Counter(r["label"] for r in shots) == {0: 4, 1: 4, 2: 4}
    assert not {row_key(XNLI, r) for r in shots} & {row_key(XNLI, r) for r in evaluated}
    assert draw_shots(XNLI, LANG, pool, 4, 0, evaluated) == shots  # the same seed, the same shots
    other = draw_shots(XNLI, LANG, pool, 4, 1, evaluated)
    assert {row_key(XNLI, r) for r in other} != {row_key(XNLI, r) for r in shots}
    # Nested over k: the 2-shot set is the first 2 of each class of the 4-shot one.
    two = draw_shots(XNLI, LANG, pool, 2, 0, evaluated)
    assert two == [r for label in (0, 1, 2) for r in [s for s in shots if s["label"] == label][:2]]


def test_a_task_without_classes_gets_k_examples(world):
    rows = rows_of(world, "udpos", "test", LANG)
    shots = draw_shots(UDPOS, LANG, rows, 5, 0, rows[:10])
    assert len(shots) == 5 and not {row_key(UDPOS, r) for r in shots} & {row_key(UDPOS, r) for r in rows[:10]}


def test_k_beyond_a_class_or_the_pool_is_one_line_naming_k_the_class_and_the_pool(world, pool):
    sizes = Counter(r["label"] for r in pool[32:])
    k = min(sizes.values()) + 1
    with pytest.raises(DataError) as info:
        draw_shots(XNLI, LANG, pool, k, 0, pool[:32], where="shots")
    message = str(info.value)
    smallest = min(sizes, key=sizes.get)
    assert "\n" not in message and f"k = {k} per class" in message
    assert f"class {XNLI.labels[smallest]!r} has {sizes[smallest]} rows" in message
    assert f"pool of {len(pool)}" in message and "removing 32 that are also evaluation rows" in message
    rows = rows_of(world, "udpos", "test", LANG)
    with pytest.raises(DataError, match=rf"k = {len(rows) + 1}, but the pool has {len(rows)} rows"):
        draw_shots(UDPOS, LANG, rows, len(rows) + 1, 0)


def test_zhao_et_als_bucket_layout_is_read_by_path(pool, tmp_path):
    root = tmp_path / "zhao"
    for i in range(2):
        path = zhao_path(root, "xnli", 1, LANG, i)
        path.parent.mkdir(parents=True)
        rows = [{"premise": r["premise"], "hypothesis": r["hypothesis"], "label": XNLI.labels[r["label"]]}
                for r in draw_shots(XNLI, LANG, pool, 1, i, pool[:32])]
        path.write_text(json.dumps(rows, ensure_ascii=False))
    assert str(zhao_path(root, "xnli", 1, LANG, 1)).endswith(f"xnli/1-shots/{LANG}/1-th/sampled.json")
    read = read_zhao_shots(XNLI, root, 1, LANG, 1, pool[:32])
    assert read == draw_shots(XNLI, LANG, pool, 1, 1, pool[:32])  # label names read as the task's ids
    with pytest.raises(DataError, match=r"7-th/sampled.json: shot set not found.*this folder has 2: 0-th, 1-th"):
        read_zhao_shots(XNLI, root, 1, LANG, 7)
    with pytest.raises(DataError, match=r"sampled.json: row 1 is also an evaluation row"):
        read_zhao_shots(XNLI, root, 1, LANG, 0, pool)


def few_shot_config(world, pool_file: Path, **changes) -> RunConfig:
    return RunConfig(**{**BUDGET, "tasks": ["xnli"], "eval_langs": ["en", LANG],
                        "data_files": {"xnli": {"validation": {LANG: str(pool_file)}}}, **changes})


def test_a_few_shot_stage_trains_on_the_shots_of_each_target_language(world, tmp_path):
    pool_file = Path(world.data_files("xnli")["test"][LANG])  # the pool: the far language's rows, as a dev set
    method = "standard+fs2s1"
    cfg = few_shot_config(world, pool_file, methods=[method])
    task_plan = method_plan(plan(cfg)["xnli"], method, world)
    data = load_task_data(task_plan.cfg, "xnli", world)
    stage = task_plan.stages[-1]
    shots = load_shot_data(task_plan.cfg, stage, data, world, method).train
    assert shots == draw_shots(XNLI, LANG, rows_of(world, "xnli", "test", LANG), 2, 1, data.tests[LANG])
    root = tmp_path / "zhao"
    path = zhao_path(root, "xnli", 2, LANG, 1)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(shots[:3], ensure_ascii=False))
    zhao = few_shot_config(world, pool_file, methods=[method], method_options={method: {"shots_from": str(root)}})
    zhao_plan = method_plan(plan(zhao)["xnli"], method, world)
    assert load_shot_data(zhao_plan.cfg, zhao_plan.stages[-1], data, world, method).train == shots[:3]

    records = run_experiment(cfg, tmp_path / "run", world)
    assert set(records.method) == {method} and set(records[records.split == "test"].lang) == {"en", LANG}


def test_a_few_shot_pool_too_small_stops_the_run_before_training(world, tmp_path):
    pool_file = Path(world.data_files("xnli")["test"][LANG])
    cfg = few_shot_config(world, pool_file, methods=["standard+fs40"])
    with pytest.raises(DataError, match=r"method 'standard\+fs40': shot set 0 of xnli vfc \(validation\): k = 40 per "
                                        r"class, but class '\w+' has \d+ rows"):
        run_experiment(cfg, tmp_path / "run", world)
    assert not (tmp_path / "run" / "work").exists() or not any((tmp_path / "run" / "work").iterdir())


def write_tsv(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_translate_train_tsvs_are_read_by_position(tmp_path):
    spec = TASKS["mnli"]
    handler = handler_for(spec)
    headerless = write_tsv(tmp_path / "en-de-translated.tsv", ["Der Mann schläft.\tEin Mann ruht.\tentailment",
                                                                 "Der Mann schläft.\tEin Mann rennt.\tcontradiction"])
    rows = handler.load_split(spec, "train", "de", {"train": {"de": str(headerless)}}, None)
    assert [(r["hypothesis"], r["label"]) for r in rows] == [("Ein Mann ruht.", 0), ("Ein Mann rennt.", 2)]
    xnli_mt = write_tsv(tmp_path / "multinli.train.de.tsv", ["premise\thypo\tlabel", "A\tB\tcontradictory",
                                                              "C\tD\tneutral"])
    rows = handler.load_split(spec, "train", "de", {"train": {"de": str(xnli_mt)}}, None)
    assert [(r["premise"], r["label"]) for r in rows] == [("A", 2), ("C", 1)]  # header skipped, XNLI-MT's spelling
    bad = write_tsv(tmp_path / "bad.tsv", ["A\tB\tneutral", "C\tD\textra\tneutral"])
    with pytest.raises(DataError) as info:
        handler.load_split(spec, "train", "de", {"train": {"de": str(bad)}}, None)
    message = str(info.value)
    assert "\n" not in message and str(bad) in message and "line 2 has 4 tab-separated fields" in message
    assert "expected 3: premise, hypothesis, label" in message
    named = write_tsv(tmp_path / "named.tsv", ["id\tpremise\thypothesis\tlabel", "1\tA\tB\tneutral"])
    assert handler.load_split(spec, "train", "de", {"train": {"de": str(named)}}, None)[0]["label"] == 1  # by name


def test_a_german_intermediate_stage_reads_translate_train_data(world, tmp_path):
    """seq:mnli@vfc: MNLI in the far language, a headerless translate-train TSV made from the world's XNLI rows."""
    rows = rows_of(world, "xnli", "test", LANG)[32:64]
    tsv = write_tsv(tmp_path / f"en-{LANG}-translated.tsv",
                    [f"{r['premise']}\t{r['hypothesis']}\t{XNLI.labels[r['label']]}" for r in rows])
    method = f"seq:mnli@{LANG}"
    english_dev = {"en": world.data_files("xnli")["validation"]["en"]}  # the MNLI stage selects on its English dev
    cfg = RunConfig(**{**BUDGET, "tasks": ["xnli"], "eval_langs": ["en"], "methods": [method],
                       "data_files": {"mnli": {"train": {LANG: str(tsv)}, "validation": english_dev}}})
    stages = method_plan(plan(cfg)["xnli"], method, world).stages
    assert stages[0].langs == (LANG,)
    records = run_experiment(cfg, tmp_path / "run", world)
    assert set(records.method) == {method}
    # @mix: English (the source language, from the hub or the world) and every language with training files: the
    # world writes its MNLI-like task in each of its languages, and a translate-train file adds (or replaces) one
    mix = RunConfig(**{**BUDGET, "tasks": ["xnli"], "methods": ["seq:mnli@mix"],
                       "data_files": {"mnli": {"train": {LANG: str(tsv)}}}})
    langs = method_plan(plan(mix)["xnli"], "seq:mnli@mix", world).stages[0].langs
    assert langs == ("en",) + tuple(sorted(set(world.langs) - {"en"})) and LANG in langs
    alone = RunConfig(**{**BUDGET, "tasks": ["xnli"], "methods": ["seq:mnli@mix"],
                         "data_files": {"mnli": {"train": {"en": "mnli-en.jsonl", LANG: str(tsv)}}}})
    assert method_plan(plan(alone)["xnli"], "seq:mnli@mix", None).stages[0].langs == ("en", LANG)


def test_a_few_shot_stage_may_be_written_in_stages_too():
    from xltlib.core.errors import ConfigError
    from xltlib.methods.recipes import parse_schedule

    raw = [{"tasks": ["mnli"]}, {"tasks": ["xnli"], "init": "previous_encoder"},
           {"tasks": ["xnli"], "init": "previous", "split": "validation", "langs": ["de"], "shots": {"k": 8}}]
    stages = parse_schedule("xnli", raw)
    assert len(stages) == 3 and stages[2].shots == {"k": 8, "shot_set": 0, "from": None}
    assert stages[2].record()["shots"] == stages[2].shots and "shots" not in stages[1].record()
    for shots, fragment in (({"k": 0}, "'k' must be an integer >= 1, got 0"), ({"n": 8}, "'shots' must map k"),
                            ({"k": 8, "shot_set": -1}, "'shot_set' must be an integer >= 0")):
        with pytest.raises(ConfigError, match=fragment):
            parse_schedule("xnli", raw[:2] + [{**raw[2], "shots": shots}])
    with pytest.raises(ConfigError, match=r"a few-shot stage trains the target 'xnli' alone"):
        parse_schedule("xnli", [{"tasks": ["mnli"], "shots": {"k": 8}}])
