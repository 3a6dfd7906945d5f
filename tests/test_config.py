"""RunConfig and papermill parameter files: defaults are valid; unknown keys, wrong types and unknown names
are errors naming the field (and the file, with its line for malformed YAML) and what is allowed."""
import pytest
import yaml

from xltlib.app.notebook import load_world
from xltlib.core.config import RunConfig, load_params_file
from xltlib.core.errors import ConfigError, UnknownNameError
from xltlib.run.plan import plan


def _check_names(cfg: RunConfig) -> None:
    """The name checks a run goes through before anything loads: the plan (tasks, methods, model, data_files),
    then the world preset (load_world checks it before any build)."""
    plan(cfg)
    load_world(cfg)


def _from_yaml(text: str, source: str = "params/run.yaml") -> RunConfig:
    return RunConfig.from_params(yaml.safe_load(text), source)


def test_defaults_are_valid():
    cfg = RunConfig()
    assert cfg.world == "embedded" and cfg.tasks == ("xnli", "pawsx") and cfg.eval_langs is None


def test_yaml_lists_become_tuples_and_round_trip():
    cfg = _from_yaml("tasks: [pawsx]\nseeds: [4, 5]\neval_langs: [en, de]\nlearning_rate: 3\n")
    assert cfg.tasks == ("pawsx",) and cfg.seeds == (4, 5) and cfg.eval_langs == ("en", "de")
    assert cfg.learning_rate == 3.0 and isinstance(cfg.learning_rate, float)
    assert RunConfig.from_params(cfg.to_dict()) == cfg


def test_unknown_key_names_it_and_the_source():
    with pytest.raises(ConfigError) as info:
        _from_yaml("learning_rate: 1.0e-5\nlearnig_rate: 2.0e-5\n", source="params/smoke.yaml")
    message = str(info.value)
    assert "params/smoke.yaml" in message and "'learnig_rate'" in message and "learning_rate" in message


@pytest.mark.parametrize("text, fragments", [
    ("per_device_train_batch_size: '32'", ["'per_device_train_batch_size'", "integer", "'32'"]),
    ("seeds: [1, 2.5]", ["'seeds[1]'", "integer"]),
    ("num_train_epochs: true", ["'num_train_epochs'", "number"]),
    ("tasks: xnli", ["'tasks'", "must be a list", "'xnli'"]),  # a bare string, not a list
    ("eval_langs: en", ["'eval_langs'", "must be a list"]),
    ("generalized: 'yes'", ["'generalized'", "true or false"]),
    ("data_files: [a.jsonl]", ["'data_files'", "mapping"]),
    ("max_generalized_samples: 0", ["'max_generalized_samples'", "at least 1", "0"]),
])
def test_wrong_type_names_the_field(text, fragments):
    with pytest.raises(ConfigError) as info:
        _from_yaml(text)
    message = str(info.value)
    assert "params/run.yaml" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_yaml_no_read_as_false_suggests_quoting():
    assert yaml.safe_load("eval_langs: [en, no]") == {"eval_langs": ["en", False]}
    with pytest.raises(ConfigError, match=r"'eval_langs\[1\]'.*False.*quote"):
        _from_yaml("eval_langs: [en, no]")
    assert _from_yaml("eval_langs: [en, 'no']").eval_langs == ("en", "no")  # quoted: a string again


@pytest.mark.parametrize("params, name, allowed", [
    ({"tasks": ["xnli", "paws-x"]}, "'paws-x'", ["xnli", "pawsx"]),
    ({"methods": ["standard", "adversarial-typo"]}, "'adversarial-typo'", ["standard", "scratch"]),
    ({"world_preset": "huge"}, "'huge'", ["default", "tiny"]),
    ({"world": "real", "model_name_or_path": "xlmr-base"}, "'xlmr-base'",
     ["xlm-roberta-base", "bert-base-multilingual-cased"]),
    ({"data_files": {"sqaud": {}}}, "'sqaud'", ["xnli", "pawsx"]),  # a typo of a task name
])
def test_unknown_names_list_the_allowed_ones(params, name, allowed):
    # RunConfig checks types and ranges only; names are checked by the plan (and the preset by load_world).
    with pytest.raises(UnknownNameError) as info:
        _check_names(RunConfig(**params))
    with pytest.raises(ConfigError) as from_file:
        _check_names(RunConfig.from_params(params, "params/run.yaml"))
    for message in (str(info.value), str(from_file.value)):
        assert name in message
        for known in allowed:
            assert known in message


def test_unknown_world():
    with pytest.raises(ConfigError, match="'world' must be 'embedded' or 'real', got 'fake'"):
        RunConfig(world="fake")


def test_out_of_range_values():
    with pytest.raises(ConfigError, match="'learning_rate' must be a positive number"):
        RunConfig(learning_rate=0)
    with pytest.raises(ConfigError, match=r"'warmup_ratio' must be in \[0, 1\)"):
        RunConfig(warmup_ratio=1.0)
    with pytest.raises(ConfigError, match="'seeds' must list at least one seed"):
        RunConfig(seeds=[])


def test_data_files_unknown_split():
    with pytest.raises(ConfigError) as info:
        RunConfig(data_files={"xnli": {"dev": {"en": "dev.jsonl"}}})
    message = str(info.value)
    assert "'dev'" in message and "train, validation, test" in message


def test_data_files_must_map_languages_to_paths():
    with pytest.raises(ConfigError, match=r"data_files\['xnli'\]\['test'\] must map language codes"):
        RunConfig(data_files={"xnli": {"test": ["test-de.jsonl"]}})
    cfg = RunConfig(data_files={"xnli": {"test": {"de": "test-de.jsonl"}}})
    assert cfg.data_files["xnli"]["test"]["de"] == "test-de.jsonl"


def test_params_file_round_trip(tmp_path):
    path = tmp_path / "smoke.yaml"
    path.write_text("world_preset: tiny\nseeds: [1]\neval_langs: [en, 'no']\n", encoding="utf-8")
    params = load_params_file(path)
    assert RunConfig.from_params(params, str(path)).seeds == (1,)
    (tmp_path / "blank.yaml").write_text("# nothing set\n", encoding="utf-8")
    assert load_params_file(tmp_path / "blank.yaml") == {}


@pytest.mark.parametrize("text, line", [
    ("learning_rate: 2.0e-5\ntasks: [xnli\nseeds: [1, 2]\n", "line 3"),
    ("seeds: [1]\n\ntasks: xnli\n  world: real\n", "line 4"),
])
def test_malformed_yaml_reports_file_and_line(tmp_path, text, line):
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_params_file(path)
    message = str(info.value)
    assert "broken.yaml" in message and line in message and "malformed YAML" in message


@pytest.mark.parametrize("text, kind", [("- xnli\n- pawsx\n", "list"), ("just a string\n", "str")])
def test_non_mapping_yaml_is_an_error(tmp_path, text, kind):
    path = tmp_path / "list.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"list.yaml: expected a mapping.*got {kind}"):
        load_params_file(path)


def test_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.yaml: parameter file not found"):
        load_params_file(tmp_path / "nowhere.yaml")


def test_non_string_yaml_key(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("1: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="keys.yaml: parameter names must be strings, got 1"):
        load_params_file(path)
