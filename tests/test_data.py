"""xltlib.tasks.files with the pair handler's checks: every local format loads to the task's columns with int labels; every bad input is a
DataError naming the file and the row or field; the hub path fails offline with a usable message."""
import dataclasses
import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from xltlib.core.errors import ConfigError, DataError, UnknownNameError
from xltlib.tasks import files
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.files import task_langs
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.spec import HubSplit

XNLI = TASKS["xnli"]
PAWSX = TASKS["pawsx"]


def load_split(spec, split, lang, data_files=None, max_samples=None) -> datasets.Dataset:
    """One split as a Dataset: the shared loader with the task handler's checks (what `handler.load_split` runs
    before it turns the rows into a list of dicts)."""
    handler = handler_for(spec)
    return files.load_split(spec, split, lang, data_files, max_samples,
                            validate=lambda ds, where: handler.validate(spec, ds, where, lang),
                            read_local=lambda path: handler.read_local(spec, path, lang))


def _jsonl(path: Path, rows) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _load_one(spec, path, split="test", lang="de", **kwargs):
    return load_split(spec, split, lang, {split: {lang: str(path)}}, **kwargs)


def _raises(path, *fragments, spec=XNLI, **kwargs):
    """Load `path` expecting a DataError whose message has the file name and every fragment."""
    with pytest.raises(DataError) as info:
        _load_one(spec, path, **kwargs)
    message = str(info.value)
    assert Path(path).name in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# -- formats ----------------------------------------------------------------------------------------


def test_xnli_jsonl_hub_schema_loads_in_file_order(xnli_files, xnli_rows):
    for lang in ("en", "de", "el"):
        ds = load_split(XNLI, "test", lang, xnli_files)
        assert ds.column_names == ["premise", "hypothesis", "label"]
        assert ds.features["label"].dtype == "int64"
        assert ds["premise"][:] == [r["premise"] for r in xnli_rows[lang]]
        assert ds["label"][:] == [r["label"] for r in xnli_rows[lang]]
        assert handler_for(XNLI).load_split(XNLI, "test", lang, xnli_files, None) == ds.to_list()


def test_train_and_validation_come_from_data_files(xnli_files):
    assert len(load_split(XNLI, "train", "en", xnli_files)) == 12
    assert len(load_split(XNLI, "validation", "en", xnli_files)) == 12


def test_pawsx_original_tsv_keeps_quotes_and_drops_id(pawsx_files, pawsx_rows):
    ds = load_split(PAWSX, "test", "fr", pawsx_files)
    assert ds.column_names == ["sentence1", "sentence2", "label"]
    assert ds["sentence1"][:] == [a for a, _, _ in pawsx_rows["fr"]]
    assert ds["sentence2"][2] == 'Sorti en 1994, le film "Blue Sky.'  # an unbalanced quote, verbatim
    assert ds["label"][:] == [label for _, _, label in pawsx_rows["fr"]]
    assert ds.features["label"].dtype == "int64"


def test_tsv_reads_numbers_and_NA_as_text(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("id\tsentence1\tsentence2\tlabel\n1\t1990\tNA\t1\n2\tnull\t1.5\t0\n", encoding="utf-8")
    ds = _load_one(PAWSX, path)
    assert ds["sentence1"][:] == ["1990", "null"]
    assert ds["sentence2"][:] == ["NA", "1.5"]
    assert ds["label"][:] == [1, 0]


def test_csv_with_label_names(tmp_path, xnli_rows):
    rows = [dict(r, label=["entailment", "neutral", "contradiction"][r["label"]]) for r in xnli_rows["fr"]]
    path = tmp_path / "test-fr.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    ds = _load_one(XNLI, path, lang="fr")
    assert ds.column_names == ["premise", "hypothesis", "label"]
    assert ds["label"][:] == [r["label"] for r in xnli_rows["fr"]]
    assert ds["hypothesis"][1] == "Le chat est vieux."


def test_parquet_with_extra_columns(tmp_path, xnli_rows):
    frame = pd.DataFrame(xnli_rows["el"]).assign(genre="fiction", pairID=range(12))
    path = tmp_path / "test-el.parquet"
    frame.to_parquet(path)
    ds = _load_one(XNLI, path, lang="el")
    assert ds.column_names == ["premise", "hypothesis", "label"]
    assert ds["premise"][0] == "Η γάτα κοιμάται στον καναπέ."
    assert ds["label"][:] == [r["label"] for r in xnli_rows["el"]]


def test_json_array_file(tmp_path, xnli_rows):
    path = tmp_path / "test.json"
    path.write_text(json.dumps(xnli_rows["en"]), encoding="utf-8")
    assert _load_one(XNLI, path)["label"][:] == [r["label"] for r in xnli_rows["en"]]


def test_parquet_written_by_datasets_keeps_classlabel_names(tmp_path):
    # A ClassLabel ordered differently from the task maps by name, not by position.
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["contradiction", "entailment", "neutral"])})
    path = tmp_path / "hub-export.parquet"
    datasets.Dataset.from_dict({"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [0, 1, 2]},
                               features=features).to_parquet(path)
    assert _load_one(XNLI, path)["label"][:] == [2, 0, 1]


def test_hub_schema_unlabeled_minus_one(tmp_path):
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(XNLI.labels))})
    path = tmp_path / "mnli-unlabeled.parquet"
    datasets.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["x", "y"], "label": [0, -1]},
                               features=features).to_parquet(path)
    _raises(path, "row 2", "unknown label -1", "unlabeled")


@pytest.mark.parametrize("labels, expected", [
    (["entailment", "neutral", "contradiction"], [0, 1, 2]),
    (["0", "1", "2"], [0, 1, 2]),
    ([" contradiction", "2", 1], [2, 2, 1]),  # mixed JSON types; surrounding spaces ignored
])
def test_string_labels_map_to_indices(tmp_path, labels, expected):
    path = _jsonl(tmp_path / "labels.jsonl", [{"premise": "a", "hypothesis": "b", "label": label}
                                              for label in labels])
    assert _load_one(XNLI, path)["label"][:] == expected


def test_pawsx_string_labels(tmp_path):
    path = _jsonl(tmp_path / "p.jsonl", [{"sentence1": "a", "sentence2": "b", "label": v} for v in ("1", "0")])
    assert _load_one(PAWSX, path)["label"][:] == [1, 0]


def test_max_samples_keeps_the_first_rows_and_checks_only_those(tmp_path, xnli_rows):
    rows = xnli_rows["en"] + [{"premise": "", "hypothesis": "b", "label": 7}]  # bad row 13, never kept
    path = _jsonl(tmp_path / "long.jsonl", rows)
    ds = _load_one(XNLI, path, max_samples=5)
    assert ds["premise"][:] == [r["premise"] for r in xnli_rows["en"][:5]]
    _raises(path, "row 13")
    with pytest.raises(ConfigError, match="max_samples"):
        _load_one(XNLI, path, max_samples=0)


# -- bad input ----------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    _raises(tmp_path / "nope.jsonl", "not found", "data_files: {xnli: {test: {de: <path>}}}")


@pytest.mark.parametrize("name, text", [
    ("zero.jsonl", ""),
    ("zero.tsv", ""),
    ("header-only.csv", "premise,hypothesis,label\n"),
    ("header-only.tsv", "premise\thypothesis\tlabel\n"),
])
def test_empty_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    _raises(path, "empty", "zero rows")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "test.txt"
    path.write_text("premise\thypothesis\tlabel\n", encoding="utf-8")
    _raises(path, ".txt", ".jsonl", ".tsv", ".parquet")


def test_missing_field_names_it_and_lists_columns(tmp_path):
    # The original XNLI release's column names, not the hub's: the usual mistake.
    path = tmp_path / "xnli.test.tsv"
    path.write_text("language\tgold_label\tsentence1\tsentence2\nde\tneutral\ta\tb\n", encoding="utf-8")
    _raises(path, "missing required field 'premise'", "language, gold_label, sentence1, sentence2")


def test_missing_label_field(tmp_path):
    path = _jsonl(tmp_path / "nolabel.jsonl", [{"premise": "a", "hypothesis": "b"}])
    _raises(path, "'label'", "columns found: premise, hypothesis")


@pytest.mark.parametrize("bad", [None, "", "   "])
def test_empty_text_names_row_and_field(tmp_path, xnli_rows, bad):
    rows = [dict(r) for r in xnli_rows["en"]]
    rows[6]["hypothesis"] = bad
    _raises(_jsonl(tmp_path / "empty-text.jsonl", rows), "row 7", "'hypothesis'", "empty")


def test_text_field_absent_from_one_row(tmp_path, xnli_rows):
    rows = [dict(r) for r in xnli_rows["en"]]
    del rows[2]["premise"]
    _raises(_jsonl(tmp_path / "gap.jsonl", rows), "row 3", "'premise'")


def test_non_text_value(tmp_path):
    path = _jsonl(tmp_path / "num.jsonl", [{"premise": "a", "hypothesis": "b", "label": 0},
                                           {"premise": 12, "hypothesis": "b", "label": 0}])
    _raises(path, "row 2", "'premise'", "not text")


@pytest.mark.parametrize("bad, shown", [
    ("-", "'-'"), (5, "5"), ("maybe", "'maybe'"), (-1, "-1"), (True, "True"), (1.5, "1.5"), (None, "None"),
    ("3", "3"),  # datasets stores a JSON column of mixed types as text, so "3" comes back as 3
])
def test_unknown_label_names_row_value_and_allowed(tmp_path, xnli_rows, bad, shown):
    rows = [dict(r) for r in xnli_rows["en"]]
    rows[9]["label"] = bad
    message = _raises(_jsonl(tmp_path / "bad-label.jsonl", rows), "row 10", f"unknown label {shown}",
                      "'entailment', 'neutral', 'contradiction'", "0..2")
    if bad == -1:
        assert "unlabeled" in message


def test_unknown_label_in_tsv(tmp_path):
    path = tmp_path / "test_2k.tsv"
    path.write_text("id\tsentence1\tsentence2\tlabel\n1\ta\tb\t1\n2\tc\td\tyes\n", encoding="utf-8")
    _raises(path, "row 2", "'yes'", spec=PAWSX)


def test_short_tsv_row_has_no_label(tmp_path):
    path = tmp_path / "short.tsv"
    path.write_text("id\tsentence1\tsentence2\tlabel\n1\ta\tb\t1\n2\tc\td\n", encoding="utf-8")
    _raises(path, "row 2", "unknown label", spec=PAWSX)


def test_out_of_range_int_label_in_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    pd.DataFrame({"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [0, 2, 3]}).to_parquet(path)
    _raises(path, "row 3", "3")


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"premise": "a", "hypothesis": "b", "label": 0}\n{"premise": "a", hypothesis: 1}\n',
                    encoding="utf-8")
    _raises(path, "line 2")


def test_whole_run_config_data_files_is_rejected(xnli_files):
    with pytest.raises(ConfigError, match=r"unknown split 'xnli'.*data_files\['xnli'\]"):
        load_split(XNLI, "test", "de", {"xnli": xnli_files})


def test_unknown_split():
    with pytest.raises(ConfigError, match="unknown split 'dev'.*train, validation, test"):
        load_split(XNLI, "dev", "en")


# -- hub ------------------------------------------------------------------------------------------------


def test_hub_failure_offline_says_how_to_give_a_local_copy():
    spec = dataclasses.replace(XNLI, test=HubSplit("xlt-tests/no-such-dataset", "{lang}", "test"))
    with pytest.raises(DataError) as info:
        load_split(spec, "test", "de")
    message = str(info.value)
    for fragment in ("'xlt-tests/no-such-dataset'", "config 'de'", "split 'test'",
                     "data_files: {xnli: {test: {de: <path>}}}"):
        assert fragment in message


def test_hub_train_is_english_only():
    with pytest.raises(DataError, match=r"no hub train split in 'de'.*data_files: \{xnli: \{train: \{de:"):
        load_split(XNLI, "train", "de")


def test_hub_language_must_be_a_task_language():
    with pytest.raises(UnknownNameError, match="'sv'"):
        load_split(PAWSX, "test", "sv")


# -- task_langs -------------------------------------------------------------------------------------------


def test_task_langs_defaults_to_every_language():
    assert task_langs(XNLI) == XNLI.langs
    assert task_langs(PAWSX, world_langs=("en", "rlx")) == ("en", "rlx")


def test_task_langs_picks_eval_langs():
    assert task_langs(PAWSX, eval_langs=["de", "ja"]) == ("de", "ja")


def test_task_langs_rejects_unknown_language():
    with pytest.raises(UnknownNameError) as info:
        task_langs(PAWSX, eval_langs=("de", "sw"))
    assert "'sw'" in str(info.value) and "de, en, es, fr, ja, ko, zh" in str(info.value)
    with pytest.raises(UnknownNameError, match="'de'.*allowed: en, rlx"):
        task_langs(XNLI, world_langs=("en", "rlx"), eval_langs=["de"])
