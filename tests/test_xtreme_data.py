"""xltlib.tasks.files with each XTREME handler's checks on small files in the real schemas (google/xtreme's udpos / PAN-X / QA / bucc18 / tatoeba
configs, SQuAD's original json, XCOPA, SIQA), the task registry's XTREME entries, and the errors: each a
DataError naming the file (or hub split) and the row."""
import json
from pathlib import Path

import datasets
import pytest

from xltlib.core.errors import ConfigError, DataError
from xltlib.core.languages import LANGUAGES
from xltlib.tasks import files
from xltlib.tasks.benchmarks import BENCHMARKS, PANX_TAGS, UPOS_TAGS, benchmark_langs
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.spec import TaskGroup


def load_xtreme_split(spec, split, lang, data_files=None, max_samples=None) -> datasets.Dataset:
    """One split as a Dataset: the shared loader with the task handler's checks and local layouts (what
    `handler.load_split` runs before it turns the rows into a list of dicts)."""
    handler = handler_for(spec)
    return files.load_split(spec, split, lang, data_files, max_samples,
                            validate=lambda ds, where: handler.validate(spec, ds, where, lang),
                            read_local=lambda path: handler.read_local(spec, path, lang))


def _jsonl(path: Path, rows) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _load(task, path, split="test", lang="de", **kwargs):
    return load_xtreme_split(TASKS[task], split, lang, {split: {lang: str(path)}}, **kwargs)


def _raises(task, path, *fragments, **kwargs):
    with pytest.raises(DataError) as info:
        _load(task, path, **kwargs)
    message = str(info.value)
    assert Path(path).name in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# -- registry -----------------------------------------------------------------------------------------


def test_benchmarks_list_each_task_once_with_registered_languages():
    xtreme, xtreme_r = BENCHMARKS["xtreme"], BENCHMARKS["xtreme-r"]
    assert len({l for langs in xtreme["tasks"].values() for l in langs}) == 40
    assert len({l for langs in xtreme_r["tasks"].values() for l in langs}) == 50
    assert set(xtreme["tasks"]) == {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018",
                                    "tatoeba"}
    assert set(xtreme_r["tasks"]) == {"xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba",
                                      "mewslix", "lareqa"}
    for bench in (xtreme, xtreme_r):
        grouped = [t for members in bench["groups"].values() for t in members]
        assert sorted(grouped) == sorted(bench["tasks"])  # every task in exactly one group
        assert set(bench["groups"]) == set(TaskGroup)
        for task, members in ((t, m) for m in bench["groups"].values() for t in m):
            group = next(g for g, m in bench["groups"].items() if task in m)
            assert TASKS[task].group is group, task
    for task in set(xtreme["tasks"]) | set(xtreme_r["tasks"]):
        spec = TASKS[task]
        assert spec.langs == benchmark_langs(task), task  # the registry's languages: the wider list
        assert all(LANGUAGES[code].world == "real" for code in spec.langs)
        assert set(xtreme["tasks"].get(task, ())) <= set(spec.langs)
        assert spec.submission_name == task


def test_xtreme_task_entries():
    assert TASKS["udpos"].labels == UPOS_TAGS and TASKS["panx"].labels == PANX_TAGS
    assert TASKS["udpos"].test.config_for("zh") == "udpos.Chinese"
    assert TASKS["panx"].test.config_for("qu") == "PAN-X.qu"
    assert TASKS["mlqa"].test.config_for("vi") == "MLQA.vi.vi"
    assert TASKS["tatoeba"].test.config_for("fa") == "tatoeba.pes"
    assert TASKS["tydiqa"].test.config_for("sw") == "tydiqa"
    assert TASKS["tydiqa"].test.id_prefix_for("sw") == "swahili-"
    xcopa = TASKS["xcopa"]
    assert xcopa.type == "multiple_choice" and xcopa.group is TaskGroup.CLASSIFICATION
    # XCOPA's intermediate task is now a task of its own, `siqa`, trained first by the stages recipe.
    siqa = TASKS["siqa"]
    assert siqa.type == "multiple_choice" and siqa.group is None
    assert siqa.train.path == "allenai/social_i_qa" and xcopa.train.config == "copa"
    assert "en" not in xcopa.langs  # English COPA trains; XCOPA's 11 languages test
    assert {TASKS[t].metric for t in ("xquad", "tydiqa")} == {"squad"} and TASKS["mlqa"].metric == "mlqa"
    assert TASKS["bucc2018"].metric == "bucc_f1" and TASKS["mewslix"].metric == "map_at_20"


# -- tagging ------------------------------------------------------------------------------------------

UDPOS_ROWS = [
    {"tokens": ["Die", "Katze", "schläft", "."], "pos_tags": ["DET", "NOUN", "VERB", "PUNCT"]},
    {"tokens": ["Sie", "trinkt", "Kaffee"], "pos_tags": ["PRON", "VERB", "NOUN"]},
]


def test_udpos_tag_names_and_hub_indices_load_alike(tmp_path):
    by_name = _load("udpos", _jsonl(tmp_path / "names.jsonl", UDPOS_ROWS))
    indices = [{"tokens": r["tokens"], "pos_tags": [UPOS_TAGS.index(t) for t in r["pos_tags"]]} for r in UDPOS_ROWS]
    by_index = _load("udpos", _jsonl(tmp_path / "ids.jsonl", indices))
    assert by_name.column_names == ["tokens", "tags"]
    assert by_name["tokens"][:] == [r["tokens"] for r in UDPOS_ROWS]
    assert by_name["tags"][:] == by_index["tags"][:] == [r["pos_tags"] for r in indices]
    assert by_name.features["tags"].feature.names == list(UPOS_TAGS)


def test_panx_hub_parquet_with_its_classlabel_and_langs(tmp_path):
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(PANX_TAGS))),
        "langs": datasets.Sequence(datasets.Value("string")),
    })
    rows = {"tokens": [["Marie", "Curie", "lebte", "in", "Paris"]], "ner_tags": [[1, 2, 0, 0, 5]],
            "langs": [["de"] * 5]}
    path = tmp_path / "test-de.parquet"
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))
    ds = _load("panx", path)
    assert ds["tags"][:] == [[1, 2, 0, 0, 5]]
    assert [ds.features["tags"].feature.int2str(i) for i in ds["tags"][0]] == ["B-PER", "I-PER", "O", "O", "B-LOC"]


def test_classlabel_in_another_order_goes_through_the_names(tmp_path):
    names = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    path = tmp_path / "test-de.parquet"
    datasets.Dataset.from_dict({"tokens": [["Paris"]], "ner_tags": [[1]]}, features=features).to_parquet(str(path))
    assert _load("panx", path)["tags"][:] == [[PANX_TAGS.index("B-LOC")]]


def test_tag_outside_the_label_set_names_row_and_token(tmp_path):
    rows = [UDPOS_ROWS[0], {"tokens": ["Sie", "trinkt"], "pos_tags": ["PRON", "VB"]}]
    _raises("udpos", _jsonl(tmp_path / "test-de.jsonl", rows), "row 2", "tag 2 ('trinkt')", "'VB'", "allowed: ADJ")
    rows = [{"tokens": ["Paris"], "ner_tags": [7]}]
    _raises("panx", _jsonl(tmp_path / "panx.jsonl", rows), "row 1", "is 7")


def test_tokens_and_tags_of_different_lengths(tmp_path):
    rows = [UDPOS_ROWS[0], {"tokens": ["Sie", "trinkt", "Kaffee"], "pos_tags": ["PRON", "VERB"]}]
    _raises("udpos", _jsonl(tmp_path / "test-de.jsonl", rows), "row 2", "3 tokens but 2 tags")


def test_missing_tag_field_lists_the_columns(tmp_path):
    rows = [{"tokens": ["a"], "ner_tags": ["O"]}]
    _raises("udpos", _jsonl(tmp_path / "test-de.jsonl", rows), "missing required field 'pos_tags'",
            "columns found: tokens, ner_tags")


# -- span QA ------------------------------------------------------------------------------------------

CONTEXT = "Die Eiffel-Turm wurde 1889 in Paris eröffnet."
QA_ROWS = [
    {"id": "q1", "title": "Paris", "context": CONTEXT, "question": "Wann?",
     "answers": {"text": ["1889"], "answer_start": [22]}},
    {"id": "q2", "title": "Paris", "context": CONTEXT, "question": "Wo?",
     "answers": {"text": ["Paris", "in Paris"], "answer_start": [30, 27]}},
]


def test_hub_qa_schema_loads(tmp_path):
    ds = _load("xquad", _jsonl(tmp_path / "test-de.jsonl", QA_ROWS))
    assert ds.column_names == ["id", "question", "context", "answers"]
    assert ds["answers"][:] == [r["answers"] for r in QA_ROWS]
    assert ds["id"][:] == ["q1", "q2"]


def test_squad_original_nested_json_loads(tmp_path):
    nested = {"version": "1.1", "data": [{"title": "Paris", "paragraphs": [{"context": CONTEXT, "qas": [
        {"id": r["id"], "question": r["question"],
         "answers": [{"text": t, "answer_start": s}
                     for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"])]}
        for r in QA_ROWS]}]}]}
    path = tmp_path / "test-de.json"
    path.write_text(json.dumps(nested, ensure_ascii=False), encoding="utf-8")
    ds = _load("mlqa", path)
    assert ds["question"][:] == ["Wann?", "Wo?"]
    assert ds["answers"][1] == {"text": ["Paris", "in Paris"], "answer_start": [30, 27]}


def test_answer_not_in_its_context(tmp_path):
    rows = [QA_ROWS[0], dict(QA_ROWS[1], answers={"text": ["Berlin"], "answer_start": [30]})]
    _raises("tydiqa", _jsonl(tmp_path / "test-de.jsonl", rows), "row 2 (id 'q2')", "'Berlin' does not appear")


def test_answer_not_at_its_offset(tmp_path):
    rows = [dict(QA_ROWS[0], answers={"text": ["1889"], "answer_start": [21]}), QA_ROWS[1]]
    _raises("xquad", _jsonl(tmp_path / "test-de.jsonl", rows), "row 1 (id 'q1')", "not at answer_start 21",
            "first occurs at 22")


def test_repeated_question_id(tmp_path):
    rows = [QA_ROWS[0], dict(QA_ROWS[1], id="q1")]
    _raises("xquad", _jsonl(tmp_path / "test-de.jsonl", rows), "row 2", "repeats row 1")


# -- multiple choice ----------------------------------------------------------------------------------

XCOPA_ROWS = [
    {"premise": "Das Glas zerbrach.", "choice1": "Es fiel herunter.", "choice2": "Es war voll.",
     "question": "cause", "label": 0, "idx": 1, "changed": False},
    {"premise": "Es regnete.", "choice1": "Die Straße war trocken.", "choice2": "Die Straße wurde nass.",
     "question": "effect", "label": 1, "idx": 2, "changed": True},
]


def test_xcopa_schema_loads_to_choices(tmp_path):
    ds = _load("xcopa", _jsonl(tmp_path / "test-qu.jsonl", XCOPA_ROWS), lang="qu")
    assert ds.column_names == ["premise", "question", "choices", "label"]
    assert ds["choices"][:] == [["Es fiel herunter.", "Es war voll."],
                                ["Die Straße war trocken.", "Die Straße wurde nass."]]
    assert ds["label"][:] == [0, 1] and ds["question"][:] == ["cause", "effect"]


def test_siqa_train_split_loads_with_zero_based_labels(tmp_path):
    rows = [{"context": "Tracy gave Bob a gift.", "question": "How would Bob feel?", "answerA": "happy",
             "answerB": "angry", "answerC": "bored", "label": "1"},
            {"context": "Kai ran late.", "question": "What will Kai do next?", "answerA": "sleep",
             "answerB": "read", "answerC": "hurry", "label": "3"}]
    ds = _load("siqa", _jsonl(tmp_path / "siqa-train.jsonl", rows), split="train", lang="en")
    assert ds["label"][:] == [0, 2] and ds["choices"][1] == ["sleep", "read", "hurry"]
    assert ds["premise"][:] == ["Tracy gave Bob a gift.", "Kai ran late."]


def test_copa_question_and_label_are_checked(tmp_path):
    rows = [XCOPA_ROWS[0], dict(XCOPA_ROWS[1], question="why")]
    _raises("xcopa", _jsonl(tmp_path / "test-qu.jsonl", rows), "row 2", "'why'", lang="qu")
    rows = [XCOPA_ROWS[0], dict(XCOPA_ROWS[1], label=2)]
    _raises("xcopa", _jsonl(tmp_path / "test-et.jsonl", rows), "row 2", "label 2", "allowed: 0, 1", lang="et")


# -- retrieval ----------------------------------------------------------------------------------------

PAIRS = [  # google/xtreme's tatoeba.<lang3> and bucc18.<lang> schema
    {"source_sentence": "Ich habe Hunger.", "target_sentence": "I am hungry.", "source_lang": "deu",
     "target_lang": "eng"},
    {"source_sentence": "Wo ist Tom?", "target_sentence": "Where is Tom?", "source_lang": "deu",
     "target_lang": "eng"},
]


def test_sentence_pairs_load(tmp_path):
    ds = _load("tatoeba", _jsonl(tmp_path / "pairs.jsonl", PAIRS))
    assert ds.column_names == ["source_sentence", "target_sentence"]
    assert ds["target_sentence"][:] == ["I am hungry.", "Where is Tom?"]


def test_bucc_rows_are_pairs_or_sentences_without_translation(tmp_path):
    rows = PAIRS + [{"source_id": "de-9", "source_sentence": "Es regnet.", "target_sentence": None},
                    {"target_id": "en-9", "source_sentence": None, "target_sentence": "It is late."}]
    ds = _load("bucc2018", _jsonl(tmp_path / "pairs.jsonl", rows))
    assert ds.column_names == ["source_id", "source_sentence", "target_id", "target_sentence"]
    assert ds["source_id"][:] == ["source-1", "source-2", "de-9", None]  # ids from the row when not given
    assert ds["target_id"][:] == ["target-1", "target-2", None, "en-9"]
    _raises("bucc2018", _jsonl(tmp_path / "both.jsonl", [dict(PAIRS[0], target_sentence=None, source_sentence=None)]),
            "row 1", "both 'source_sentence' and 'target_sentence' are empty")
    repeated = [dict(PAIRS[0], source_id="de-1"), dict(PAIRS[1], source_id="de-1")]
    _raises("bucc2018", _jsonl(tmp_path / "ids.jsonl", repeated), "row 2", "source_id 'de-1' repeats row 1")


def test_empty_target_sentence(tmp_path):
    rows = [PAIRS[0], dict(PAIRS[1], target_sentence=" ")]
    _raises("tatoeba", _jsonl(tmp_path / "pairs.jsonl", rows), "row 2", "'target_sentence' is not text")


# -- splits, hub and files ----------------------------------------------------------------------------


def test_max_samples_keeps_the_first_rows(tmp_path):
    ds = _load("udpos", _jsonl(tmp_path / "test-de.jsonl", UDPOS_ROWS + [{"tokens": ["x"], "pos_tags": ["BAD"]}]),
               max_samples=2)
    assert len(ds) == 2  # the bad third row is not read


def test_hub_offline_names_the_config_and_the_local_key():
    with pytest.raises(DataError) as info:
        load_xtreme_split(TASKS["udpos"], "test", "de")
    message = str(info.value)
    assert "'google/xtreme' config 'udpos.German'" in message
    assert "data_files: {udpos: {test: {de: <path>}}}" in message


def test_no_hub_copy_and_wrong_language_and_split():
    with pytest.raises(DataError, match="task 'mewslix' has no hub test split"):
        load_xtreme_split(TASKS["mewslix"], "test", "de")
    with pytest.raises(DataError, match="task 'tatoeba' has no hub train split"):
        load_xtreme_split(TASKS["tatoeba"], "train", "en")
    with pytest.raises(DataError, match="no hub train split in 'de'"):
        load_xtreme_split(TASKS["panx"], "train", "de")
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        load_xtreme_split(TASKS["panx"], "dev", "de")
    with pytest.raises(ConfigError, match="unknown split 'valid'"):
        load_xtreme_split(TASKS["panx"], "test", "de", {"valid": {"de": "x.jsonl"}})


def test_missing_file_names_the_path(tmp_path):
    _raises("panx", tmp_path / "nowhere.jsonl", "data file not found")
