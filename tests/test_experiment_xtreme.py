"""run_experiment for every task type beyond sentence pairs, on the real path (small files in the hub schemas, a
locally built tiny model) and on the tiny embedded world; the exported submission folder, scored by `xlt score`'s
scorer, gives the numbers recorded in the run."""
import json
from pathlib import Path

import pytest

from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError
from xltlib.report.scorer import score_task, score_tasks
from xltlib.run.experiment import run_experiment
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.submission import FORMATS

COLUMNS = ["task", "lang", "method", "seed", "split", "metric", "value"]
# XCOPA's recipe (XTREME-R's): SIQA first, then COPA from the SIQA-trained model, head included.
XCOPA_STAGES = {"xcopa": [{"tasks": ["siqa"]}, {"tasks": ["xcopa"], "init": "previous"}]}
# The scorer's metric (x100) for the number a run records under the task's metric name.
SCORER_METRIC = {"udpos": "f1", "panx": "f1", "xcopa": "accuracy", "tatoeba": "accuracy", "bucc2018": "f1",
                 "lareqa": "map@20", "mewslix": "map@20"}


def _jsonl(path: Path, rows) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


SENTENCES = {
    "en": ["The cat sleeps on the sofa .", "A man reads a book in the park .", "She drinks coffee every morning .",
           "The children play football after school ."],
    "de": ["Die Katze schläft auf dem Sofa .", "Ein Mann liest ein Buch im Park .", "Sie trinkt jeden Morgen Kaffee .",
           "Die Kinder spielen nach der Schule Fußball ."],
}
POS = {"en": [["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"],
              ["DET", "NOUN", "VERB", "DET", "NOUN", "ADP", "DET", "NOUN", "PUNCT"],
              ["PRON", "VERB", "NOUN", "DET", "NOUN", "PUNCT"],
              ["DET", "NOUN", "VERB", "NOUN", "ADP", "NOUN", "PUNCT"]],
       "de": [["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "PUNCT"],
              ["DET", "NOUN", "VERB", "DET", "NOUN", "ADP", "NOUN", "PUNCT"],
              ["PRON", "VERB", "DET", "NOUN", "NOUN", "PUNCT"],
              ["DET", "NOUN", "VERB", "ADP", "DET", "NOUN", "NOUN", "PUNCT"]]}


def _ner(tags):
    return ["B-LOC" if t == "NOUN" and i == len(tags) - 2 else "O" for i, t in enumerate(tags)]


def _qa(lang):
    context = " ".join(SENTENCES[lang])
    rows = []
    for i, sentence in enumerate(SENTENCES[lang]):
        answer = sentence.split()[1]
        start = context.index(sentence) + sentence.index(answer)
        rows.append({"id": f"q{i}", "title": "t", "context": context, "question": sentence.replace(answer, "?"),
                     "answers": {"text": [answer], "answer_start": [start]}})
    return rows


def _copa(lang):
    s = SENTENCES[lang]
    return [{"premise": s[i], "choice1": s[(i + 1) % 4], "choice2": s[(i + 2) % 4], "question": ("cause", "effect")[i % 2],
             "label": i % 2, "idx": i} for i in range(4)]


def real_files(root: Path) -> dict:
    """{task: {split: {lang: path}}} in the hub schemas, English training splits and small test sets."""
    tags = {lang: [{"tokens": s.split(), "pos_tags": p} for s, p in zip(SENTENCES[lang], POS[lang])]
            for lang in SENTENCES}
    ner = {lang: [{"tokens": r["tokens"], "ner_tags": _ner(r["pos_tags"])} for r in rows] for lang, rows in tags.items()}
    siqa = [{"context": s, "question": "What happens next?", "answerA": s, "answerB": "No.", "answerC": "Yes.",
             "label": "1"} for s in SENTENCES["en"]]
    pairs = [{"source_sentence": d, "target_sentence": e, "source_lang": "deu", "target_lang": "eng"}
             for d, e in zip(SENTENCES["de"], SENTENCES["en"])]
    bucc = [dict(p, source_id=f"de-{i}", target_id=f"en-{i}") for i, p in enumerate(pairs[:2])]
    bucc += [{"source_id": "de-8", "source_sentence": SENTENCES["de"][2], "target_sentence": None},
             {"target_id": "en-9", "source_sentence": None, "target_sentence": SENTENCES["en"][3]}]
    out = {}
    for task, by_lang in (("udpos", tags), ("panx", ner), ("xquad", {l: _qa(l) for l in SENTENCES})):
        train = [dict(r, id=f"{r['id']}-{k}") if task == "xquad" else r for k in range(4) for r in by_lang["en"]]
        out[task] = {"train": {"en": _jsonl(root / task / "train-en.jsonl", train)},
                     "validation": {"en": _jsonl(root / task / "dev-en.jsonl", by_lang["en"])},
                     "test": {l: _jsonl(root / task / f"test-{l}.jsonl", rows) for l, rows in by_lang.items()}}
    out["siqa"] = {"train": {"en": _jsonl(root / "siqa.jsonl", siqa)}}  # XCOPA's intermediate task
    out["xcopa"] = {"train": {"en": _jsonl(root / "copa-train.jsonl", _copa("en") * 2)},
                    "validation": {"en": _jsonl(root / "copa-dev.jsonl", _copa("en"))},
                    "test": {"et": _jsonl(root / "xcopa-et.jsonl", _copa("de"))}}
    out["tatoeba"] = {"test": {"de": _jsonl(root / "tatoeba-de.jsonl", pairs)}}
    out["bucc2018"] = {"validation": {"de": _jsonl(root / "bucc-dev.jsonl", bucc)},
                       "test": {"de": _jsonl(root / "bucc-test.jsonl", bucc)}}
    return out


EVAL_LANGS = {"udpos": ["en", "de"], "panx": ["en", "de"], "xquad": ["en", "de"], "xcopa": ["et"], "tatoeba": ["de"],
              "bucc2018": ["de"]}


def assert_scorer_agrees(records, run_dir: Path, task_langs: dict, method: str, seed: int) -> None:
    predictions = run_dir / "predictions" / method / f"seed{seed}"
    for task, langs in task_langs.items():
        scored = score_task(predictions, run_dir / "labels", task, langs)
        rows = records[(records.task == task) & (records.method == method) & (records.split == "test")]
        for lang in langs:
            recorded = rows[rows.lang == lang].set_index("metric").value
            if task == "xquad":
                assert scored["exact_match"][lang] == pytest.approx(100 * recorded["exact_match"], abs=1e-9)
                assert scored["f1"][lang] == pytest.approx(100 * recorded["f1"], abs=1e-9)
            else:
                assert scored[SCORER_METRIC[task]][lang] == pytest.approx(100 * recorded.iloc[0], abs=1e-9), (task, lang)
        assert scored["avg_metric"] == pytest.approx(
            100 * rows[rows.metric == rows.metric.iloc[-1]].value.mean(), abs=1e-9)  # task score over languages


@pytest.mark.parametrize("task", sorted(EVAL_LANGS))
def test_real_path_runs_every_task_type_and_the_scorer_agrees(task, tiny_model_dir, tmp_path):
    files = real_files(tmp_path / "data")
    # xcopa trains on its intermediate task (siqa) first: the stages recipe, with siqa's own data files.
    stages, data_files = (XCOPA_STAGES, {t: files[t] for t in ("siqa", "xcopa")}) if task == "xcopa" else \
        ({}, {task: files[task]})
    cfg = RunConfig(world="real", tasks=[task], model_name_or_path=str(tiny_model_dir), methods=["standard"],
                    seeds=[1], eval_langs=EVAL_LANGS[task], data_files=data_files, stages=stages,
                    num_train_epochs=1.0, per_device_train_batch_size=4, per_device_eval_batch_size=4,
                    learning_rate=1e-3, max_seq_length=32)  # QA contexts are longer: cut into windows with a stride
    records = run_experiment(cfg, tmp_path / "run")
    assert list(records.columns) == COLUMNS
    test = records[records.split == "test"]
    assert sorted(set(test.lang)) == sorted(EVAL_LANGS[task]) and test.value.between(0, 1).all()
    if task == "xquad":
        assert set(test.metric) == {"exact_match", "f1", "squad"}
    dev = records[records.split == "validation"]
    assert len(dev) == (0 if task in ("tatoeba", "bucc2018") else 1)  # retrieval is not fine-tuned
    suffix = FORMATS[TASKS[task].submission_format].suffix
    for lang in EVAL_LANGS[task]:
        assert (tmp_path / "run/predictions/standard/seed1" / task / f"test-{lang}.{suffix}").is_file()
    assert_scorer_agrees(records, tmp_path / "run", {task: EVAL_LANGS[task]}, "standard", 1)


def test_robust_methods_are_refused_where_their_task_type_does_not_define_them(tiny_model_dir, tmp_path):
    # Robust methods now run on every task type whose handler supports what they need (tagging: perturbed
    # embeddings, PGD, substitution); what a type does not support is refused before anything loads, naming the
    # method, the task and its type. Tagging has no majority vote, so rs_rp's smoothed prediction is refused.
    files = real_files(tmp_path / "data")
    cfg = RunConfig(world="real", tasks=["udpos"], model_name_or_path=str(tiny_model_dir), methods=["rs_rp"],
                    method_options={"rs_rp": {"smooth_predictions": True}},
                    seeds=[1], eval_langs=["en"], data_files={"udpos": files["udpos"]}, num_train_epochs=1.0)
    with pytest.raises(ConfigError, match=r"method 'rs_rp' is not defined for task 'udpos' \(tagging\)"):
        run_experiment(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything ran
    # A retrieval task is not fine-tuned: no method perturbs its training.
    cfg = RunConfig(world="real", tasks=["tatoeba"], model_name_or_path=str(tiny_model_dir), methods=["rs_rp"],
                    seeds=[1], eval_langs=["de"], data_files={"tatoeba": files["tatoeba"]})
    with pytest.raises(ConfigError, match="method 'rs_rp' is not defined for task 'tatoeba'"):
        run_experiment(cfg, tmp_path / "run")


def test_embedded_world_runs_every_task_and_the_scorer_agrees(cached_tiny_world, tmp_path):
    """Through `load_world`, as a notebook gets the world: here it finds the tests' shared tiny build."""
    from xltlib.app.notebook import load_world
    from xltlib.world.tasks.xtreme import XTREME_WORLD_TASKS

    cfg = RunConfig(world_preset="tiny", tasks=list(XTREME_WORLD_TASKS), methods=["standard", "scratch"], seeds=[1],
                    num_train_epochs=1.0, learning_rate=1e-3, max_seq_length=64, max_train_samples=96,
                    max_eval_samples=48, stages=XCOPA_STAGES)  # xcopa after the world's SIQA-like task
    world = load_world(cfg)
    records = run_experiment(cfg, tmp_path / "run", world)
    task_langs = {task: world.langs_for(task) for task in XTREME_WORLD_TASKS}
    for task, langs in task_langs.items():
        got = records[(records.task == task) & (records.split == "test")]
        assert set(got.lang) == set(langs) and set(got.method) == {"standard", "scratch"}
    for method in ("standard", "scratch"):
        assert_scorer_agrees(records, tmp_path / "run", task_langs, method, 1)
    scores = score_tasks(tmp_path / "run/predictions/standard/seed1", tmp_path / "run/labels", task_langs)
    assert set(scores["groups"]) == {"classification", "structured_prediction", "qa", "retrieval"}
    assert 0 <= scores["group_mean"] <= 100


@pytest.mark.parametrize("task", ["lareqa", "mewslix"])
def test_real_path_fine_tunes_a_dual_encoder_and_the_scorer_agrees(task, tiny_model_dir, tmp_path):
    """LAReQA from SQuAD-shaped English pairs to XQuAD-R-shaped tests (the pool: every language's sentences),
    Mewsli-X from its release files (the pool: the candidate set beside the mentions): the export, scored by
    `xlt score`'s scorer, gives the recorded mAP@20; English dev selects the checkpoint."""
    from test_ranking_data import lareqa_files, mewslix_files

    files = (lareqa_files if task == "lareqa" else mewslix_files)(tmp_path / "data")
    langs = ["en", "de"]
    cfg = RunConfig(world="real", tasks=[task], model_name_or_path=str(tiny_model_dir), methods=["standard"],
                    seeds=[1], eval_langs=langs, data_files={task: files}, num_train_epochs=2.0,
                    per_device_train_batch_size=2, per_device_eval_batch_size=4, learning_rate=1e-3, max_seq_length=32)
    records = run_experiment(cfg, tmp_path / "run")
    assert len(records[records.split == "validation"]) == 1
    test = records[records.split == "test"]
    assert sorted(test.lang) == sorted(langs) and test.value.between(0, 1).all() and set(test.metric) == {"map_at_20"}
    gold = json.loads((tmp_path / "run/labels" / task / "test-de.json").read_text())
    if task == "lareqa":  # a question's relevant sentences: its answer's sentence in every language
        assert sorted(gold["q1"]) == ["de_1_0", "en_1_0"]
    else:
        assert gold == {"m2": ["Q33"], "m3": ["Q64"]}
    predictions = json.loads((tmp_path / "run/predictions/standard/seed1" / task / "test-de.json").read_text())
    assert set(predictions) == set(gold) and all(len(ids) == len(set(ids)) <= 20 for ids in predictions.values())
    assert_scorer_agrees(records, tmp_path / "run", {task: langs}, "standard", 1)
