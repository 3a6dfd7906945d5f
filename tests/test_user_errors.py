"""A user's run goes wrong in ways each of these used to let through (or report as a traceback): values out of range
or of the wrong YAML type, data files for a task the run never reads, BUCC predictions of another language, SQuAD
files of the wrong shape, model folders without a config or a tokenizer, an unreachable hub, one eval_langs list
for tasks with different languages, and data paths relative to the wrong folder. Each is a one-line error (or a
warning) naming the file, field or value.
"""
import json
import warnings
from pathlib import Path

import pytest

from xltlib.core.config import RunConfig, load_params_file
from xltlib.core.errors import ConfigError, DataError, HubError
from xltlib.run.experiment import load_task_data
from xltlib.run.plan import plan
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.files import squad_json, task_langs
from xltlib.tasks.hub import hub_reason
from xltlib.tasks.models import InitFrom, check_model_name, load_model, load_tokenizer
from xltlib.tasks.submission import FORMATS


def _from_yaml(tmp_path: Path, text: str) -> RunConfig:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return RunConfig.from_params(load_params_file(path), str(path))


# -- 1. values that used to be accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize("line, fragments", [
    ("weight_decay: -1", ["'weight_decay'", "-1.0"]),
    ("max_grad_norm: -0.5", ["'max_grad_norm'", "-0.5"]),
    ("max_train_samples: 0", ["'max_train_samples'", "at least 1", "0"]),
    ("max_eval_samples: -3", ["'max_eval_samples'", "-3"]),
    ("retrieval_layer: -1", ["'retrieval_layer'", "-1"]),
    ("seeds: [1, -2]", ["'seeds'", "non-negative", "-2"]),
    ("seeds: [1, 2, 1]", ["'seeds'", "seed 1 twice"]),
    ("eval_langs: []", ["'eval_langs'", "empty"]),
    ("report_to: wandb", ["'report_to'", "tensorboard", "'wandb'"]),
])
def test_out_of_range_values_are_refused_naming_file_field_and_value(tmp_path, line, fragments):
    with pytest.raises(ConfigError) as info:
        _from_yaml(tmp_path, line + "\n")
    message = str(info.value)
    assert str(tmp_path / "params.yaml") in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_a_negative_rate_in_a_task_override_is_refused_naming_the_task():
    with pytest.raises(ConfigError, match=r"task_overrides\['xnli'\].*'weight_decay'.*-0.1"):
        RunConfig(task_overrides={"xnli": {"weight_decay": -0.1}})


def test_zero_weight_decay_and_no_clipping_stay_allowed():
    cfg = RunConfig(weight_decay=0.0, max_grad_norm=0.0, seeds=[0])
    assert (cfg.weight_decay, cfg.max_grad_norm, cfg.seeds) == (0.0, 0.0, (0,))


def test_a_seed_that_yaml_reads_as_a_date_is_named_as_written(tmp_path):
    with pytest.raises(ConfigError) as info:
        _from_yaml(tmp_path, "seeds: [2024-01-01]\n")
    message = str(info.value)
    for fragment in ("'seeds[0]'", "must be an integer", "2024-01-01", "date"):
        assert fragment in message, message
    assert "datetime" not in message


def test_a_date_where_a_string_belongs_says_to_quote_it(tmp_path):
    with pytest.raises(ConfigError, match=r"'output_dir'.*string \(quote it in YAML\).*2024-01-01.*date"):
        _from_yaml(tmp_path, "output_dir: 2024-01-01\n")


def test_data_files_for_a_task_not_in_the_run_are_refused():
    cfg = RunConfig(tasks=["xnli"], data_files={"pawsx": {"test": {"de": "pawsx/test-de.tsv"}}})
    with pytest.raises(ConfigError) as info:
        plan(cfg)
    message = str(info.value)
    for fragment in ("data_files['pawsx']", "not in this run", "tasks: xnli", "never be read"):
        assert fragment in message, message


def test_data_files_for_a_stage_task_are_read_and_accepted():
    cfg = RunConfig(tasks=["xcopa"], stages={"xcopa": [{"tasks": ["siqa"]}, {"tasks": ["xcopa"], "init": "previous"}]},
                    data_files={"siqa": {"train": {"en": "siqa/train.jsonl"}}})
    assert set(plan(cfg)) == {"xcopa"}


# -- 2. BUCC predictions of another language ----------------------------------------------------------------------


def _bucc_files(tmp_path: Path, predicted: str) -> tuple[Path, Path]:
    gold, pred = tmp_path / "gold.tsv", tmp_path / "pred.tsv"
    gold.write_text("de-000001\ten-000007\nde-000002\ten-000003\n", encoding="utf-8")
    pred.write_text(predicted, encoding="utf-8")
    return pred, gold


def test_bucc_predictions_whose_ids_match_no_gold_id_are_warned_about(tmp_path):
    pred, gold = _bucc_files(tmp_path, "fr-000001\ten-000007\nfr-000002\ten-000003\n")
    with pytest.warns(UserWarning) as caught:
        scores = FORMATS["id_pairs"].score(pred, gold, TASKS["bucc2018"], "de")
    assert scores["f1"] == 0.0
    message = str(caught[0].message)
    for fragment in (str(pred), "2 of 2 predicted source ids match none of the gold ids", str(gold),
                     "'fr-000001'", "gold 'de-000001'", "another language"):
        assert fragment in message, message


@pytest.mark.parametrize("predicted, precision", [
    ("de-000001\ten-000007\nde-000099\ten-000098\n", 50.0),
    # A weak model's few pairs may all use sentences without a gold pair: the ids are still of the gold's kind.
    ("de-000021\ten-000022\n", 0.0),
])
def test_bucc_predictions_with_unmatched_ids_of_the_gold_language_are_scored_quietly(tmp_path, predicted, precision):
    pred, gold = _bucc_files(tmp_path, predicted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = FORMATS["id_pairs"].score(pred, gold, TASKS["bucc2018"], "de")
    assert scores["precision"] == precision


# -- 3. SQuAD files of the wrong shape ----------------------------------------------------------------------------


SQUAD_ARTICLE = {"title": "t", "paragraphs": [{"context": "A cat sleeps.", "qas": [
    {"id": "q1", "question": "Who sleeps?", "answers": [{"text": "A cat", "answer_start": 0}]}]}]}


@pytest.mark.parametrize("data, field", [
    (["an article as a string"], "data[0]"),
    ([{"title": "t", "paragraphs": "one paragraph as a string"}], "data[0].paragraphs"),
    ([{"title": "t", "paragraphs": [{"context": "A cat.", "qas": ["q1"]}]}], "data[0].paragraphs[0].qas[0]"),
])
def test_squad_gold_of_the_wrong_shape_is_an_error_naming_file_and_field(tmp_path, data, field):
    gold, pred = tmp_path / "test-en.json", tmp_path / "pred.json"
    gold.write_text(json.dumps({"data": [SQUAD_ARTICLE] + data}), encoding="utf-8")
    pred.write_text(json.dumps({"q1": "A cat"}), encoding="utf-8")
    field = field.replace("data[0]", "data[1]", 1)
    with pytest.raises(DataError) as info:
        FORMATS["squad"].score(pred, gold, TASKS["xquad"], "en")
    message = str(info.value)
    assert str(gold) in message and f"field {field} is a" in message, message
    with pytest.raises(DataError) as info:  # the same file given as a task's data file
        squad_json(gold)
    assert str(gold) in str(info.value) and f"field {field} is a" in str(info.value)


def test_a_well_formed_squad_gold_file_still_scores(tmp_path):
    gold, pred = tmp_path / "test-en.json", tmp_path / "pred.json"
    gold.write_text(json.dumps({"data": [SQUAD_ARTICLE]}), encoding="utf-8")
    pred.write_text(json.dumps({"q1": "A cat"}), encoding="utf-8")
    assert FORMATS["squad"].score(pred, gold, TASKS["xquad"], "en")["exact_match"] == 100.0


# -- 4. model folders without a config or a tokenizer -------------------------------------------------------------


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"word{i}" for i in range(195)]


def _tiny_bert(directory: Path, vocab_size: int = len(VOCAB), tokenizer_vocab=VOCAB) -> Path:
    """A 1-layer BERT saved with save_pretrained; its WordPiece tokenizer saved beside it unless `tokenizer_vocab`
    is None."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    BertForMaskedLM(config).save_pretrained(directory)
    if tokenizer_vocab is not None:
        vocab_file = directory / "vocab.txt"
        vocab_file.write_text("".join(t + "\n" for t in tokenizer_vocab), encoding="utf-8")
        BertTokenizer(str(vocab_file)).save_pretrained(directory)
    return directory


def test_a_model_folder_without_config_json_is_refused_naming_folder_and_file(tmp_path):
    folder = _tiny_bert(tmp_path / "my-model")
    (folder / "config.json").unlink()
    for check in (lambda: check_model_name(str(folder), "real"), lambda: load_tokenizer(str(folder))):
        with pytest.raises(ConfigError) as info:
            check()
        message = str(info.value)
        for fragment in (str(folder), "no config.json", "model.safetensors", "save_pretrained"):
            assert fragment in message, message
    with pytest.raises(ConfigError, match="no config.json"):  # before any model or data loads
        plan(RunConfig(world="real", tasks=["xnli"], model_name_or_path=str(folder)))


def test_a_model_folder_without_its_tokenizer_is_refused(tmp_path):
    folder = _tiny_bert(tmp_path / "no-tokenizer", tokenizer_vocab=None)
    with pytest.raises(ConfigError) as info:
        load_tokenizer(str(folder))
    message = str(info.value)
    for fragment in (str(folder), "has 5 tokens", "vocab_size is 200", "tokenizer files found: none",
                     "unknown token", "tokenizer.save_pretrained"):
        assert fragment in message, message


def test_a_tokenizer_of_another_model_is_refused(tmp_path):
    small = _tiny_bert(tmp_path / "small-vocab", vocab_size=1000)  # 200 of 1000 tokens: another model's
    with pytest.raises(ConfigError, match=r"has 200 tokens but the model's vocab_size is 1000"):
        load_tokenizer(str(small))
    large = _tiny_bert(tmp_path / "large-vocab", vocab_size=150)  # ids 150..199 have no embedding
    with pytest.raises(ConfigError, match=r"has 200 tokens .* vocab_size is 150, so token ids 150 and above"):
        load_tokenizer(str(large))


def test_a_model_folder_with_its_tokenizer_loads(tmp_path):
    folder = _tiny_bert(tmp_path / "whole", vocab_size=208)  # a few padding rows beyond the tokenizer: fine
    assert len(load_tokenizer(str(folder))) == len(VOCAB)


# -- 5. the hub unreachable ---------------------------------------------------------------------------------------


def test_a_model_not_cached_while_offline_is_one_line_saying_so():
    name = "xlt-tests/not-a-cached-model"
    for load, what in ((lambda: load_tokenizer(name), "the tokenizer of"),
                       (lambda: load_model(name, TASKS["xnli"], InitFrom.PRETRAINED_ENCODER, seed=1), "model")):
        with pytest.raises(HubError) as info:
            load()
        message = str(info.value)
        assert "\n" not in message
        for fragment in (f"could not load {what} {name!r}", "offline (HF_HUB_OFFLINE=1)", "not in the local cache",
                         "model_name_or_path: /path/to/folder"):
            assert fragment in message, message


def test_a_data_set_not_cached_while_offline_says_offline_and_how_to_give_a_local_copy():
    import dataclasses

    from xltlib.tasks.files import load_split
    from xltlib.tasks.spec import HubSplit

    spec = dataclasses.replace(TASKS["xnli"], test=HubSplit("xlt-tests/no-such-dataset", "{lang}", "test"))
    with pytest.raises(DataError) as info:
        load_split(spec, "test", "de", None, None, validate=lambda ds, where: ds)
    message = str(info.value)
    assert "\n" not in message and isinstance(info.value, HubError)
    assert "offline (HF_HUB_OFFLINE=1)" in message and "data_files: {xnli: {test: {de: <path>}}}" in message


def test_an_unreachable_hub_is_told_apart_from_a_missing_repository(monkeypatch):
    import httpx
    from huggingface_hub.errors import RepositoryNotFoundError

    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    try:
        raise OSError("We couldn't connect to 'https://huggingface.co'") from ConnectionError("Network unreachable")
    except OSError as e:
        assert hub_reason(e).startswith("the hub is unreachable") and "HF_HUB_OFFLINE=1" in hub_reason(e)
    response = httpx.Response(404, request=httpx.Request("GET", "https://huggingface.co/api/models/org/typo"))
    assert "no such repository" in hub_reason(RepositoryNotFoundError("404 Client Error", response=response))
    assert hub_reason(ValueError("a bad config value")) is None  # not the hub's: passed through unchanged


# -- 7. eval_langs for tasks with different languages -------------------------------------------------------------


def test_eval_langs_may_be_set_per_task():
    cfg = RunConfig(tasks=["xnli", "tatoeba"], eval_langs=["en", "de"],
                    task_overrides={"tatoeba": {"eval_langs": ["de", "fr"]}})
    assert cfg.for_task("tatoeba").eval_langs == ("de", "fr") and cfg.for_task("xnli").eval_langs == ("en", "de")


def test_a_language_a_task_lacks_is_skipped_with_a_warning_naming_task_and_languages():
    with pytest.warns(UserWarning) as caught:
        langs = task_langs(TASKS["tatoeba"], eval_langs=["en", "de", "fr"], strict=False)
    assert langs == ("de", "fr")
    message = str(caught[0].message)
    for fragment in ("task 'tatoeba'", "has no en", "task_overrides: {tatoeba: {eval_langs: [...]}}"):
        assert fragment in message, message


def test_a_list_that_leaves_a_task_no_language_or_has_an_unknown_code_is_still_an_error():
    with pytest.raises(ConfigError, match=r"task 'tatoeba' has none of en"):
        task_langs(TASKS["tatoeba"], eval_langs=["en"], strict=False)
    with pytest.raises(ConfigError, match=r"unknown language 'xx'"):
        task_langs(TASKS["tatoeba"], eval_langs=["de", "xx"], strict=False)
    with pytest.raises(ConfigError, match=r"unknown language 'en' in eval_langs for task 'tatoeba'"):
        task_langs(TASKS["tatoeba"], eval_langs=["en", "de"], strict=True)  # the task's own list: as written


def test_one_eval_langs_list_serves_a_task_without_english_tests(cached_tiny_world):
    cfg = RunConfig(world_preset="tiny", tasks=["xnli", "tatoeba"], eval_langs=["en", "rlx"], max_eval_samples=4,
                    max_train_samples=4)
    with pytest.warns(UserWarning, match="task 'tatoeba' has no en"):
        tatoeba = load_task_data(cfg.for_task("tatoeba"), "tatoeba", cached_tiny_world)
    assert list(tatoeba.tests) == ["rlx"]
    assert list(load_task_data(cfg.for_task("xnli"), "xnli", cached_tiny_world).tests) == ["en", "rlx"]


# -- 8. relative data paths ---------------------------------------------------------------------------------------


def test_relative_data_files_in_a_params_file_resolve_against_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "params" / "mine"
    folder.mkdir(parents=True)
    absolute = tmp_path / "elsewhere" / "test-fr.jsonl"
    (folder / "run.yaml").write_text(f"tasks: [xnli]\ndata_files:\n  xnli:\n    test: {{de: data/test-de.jsonl, "
                                     f"fr: {absolute}, el: ../shared/test-el.jsonl}}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # not the folder the paths are relative to
    files = load_params_file("params/mine/run.yaml")["data_files"]["xnli"]["test"]
    assert files == {"de": str(folder / "data" / "test-de.jsonl"), "fr": str(absolute),
                     "el": str(tmp_path / "params" / "shared" / "test-el.jsonl")}


def test_command_line_data_files_resolve_against_the_working_directory(tmp_path, monkeypatch):
    """`-p data_files {...}` names paths as a shell does: relative to where the command runs, not the checkout."""
    from xltlib.app.runner import plan_run

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dev.jsonl").write_text("")
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "01_zero_shot_baseline.ipynb"
    plan = plan_run(notebook, None,
                    {"data_files": {"xnli": {"validation": {"en": "dev.jsonl"}}}, "world_preset": "tiny"})
    assert plan.params["data_files"]["xnli"]["validation"]["en"] == str(tmp_path / "dev.jsonl")
