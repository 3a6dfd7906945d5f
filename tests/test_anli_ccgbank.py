"""ANLI+ (ANLI's three rounds + MNLI + SNLI in one NLI task) read through the hub-loading path from a local copy of
each hub repository in its real layout and schema."""
import datasets
import pytest

from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError, DataError
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.files import source_rows
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.spec import HubSource

NLI = datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])  # each card's label feature


def _hub_repo(root, repo: str, config: str, splits: dict, features: datasets.Features) -> None:
    """A local copy of hub repository `repo` as the hub lays it out (parquet files, a README declaring the config's
    splits), which `datasets.load_dataset(repo, config, split=...)` reads from the working directory."""
    folder = root / repo
    lines = ["---", "configs:", f"- config_name: {config}", "  data_files:"]
    for split, rows in splits.items():
        (folder / config).mkdir(parents=True, exist_ok=True)
        columns = {name: [row[name] for row in rows] for name in features}
        datasets.Dataset.from_dict(columns, features=features).to_parquet(
            str(folder / config / f"{split}-00000-of-00001.parquet"))
        lines += [f"  - split: {split}", f"    path: {config}/{split}-*"]
    (folder / "README.md").write_text("\n".join(lines + ["---", ""]))


def _anli(uid, premise, hypothesis, label):
    return {"uid": uid, "premise": premise, "hypothesis": hypothesis, "label": label, "reason": ""}


@pytest.fixture
def nli_hub(tmp_path, monkeypatch):
    """facebook/anli, nyu-mll/glue (mnli) and stanfordnlp/snli, a few rows each, in their hub schemas."""
    anli = datasets.Features({"uid": datasets.Value("string"), "premise": datasets.Value("string"),
                              "hypothesis": datasets.Value("string"), "label": NLI,
                              "reason": datasets.Value("string")})
    _hub_repo(tmp_path, "facebook/anli", "plain_text", {
        "train_r1": [_anli("a1", "A dog barks.", "An animal makes noise.", 0),
                     _anli("a2", "A dog barks.", "The dog is asleep.", 2)],
        "train_r2": [_anli("b1", "Rain fell all day.", "It was a weekday.", 1)],
        "train_r3": [_anli("c1", "He sold his car.", "He owns no car now.", 0)],
        "dev_r1": [_anli("d1", "She sang.", "She was silent.", 2)],
        "dev_r2": [_anli("d2", "She sang.", "She sang well.", 1)],
        "dev_r3": [_anli("d3", "She sang.", "Someone sang.", 0), _anli("d4", "He ran.", "He moved.", 0)],
    }, anli)
    mnli = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                              "label": NLI, "idx": datasets.Value("int32")})
    _hub_repo(tmp_path, "nyu-mll/glue", "mnli", {"train": [
        {"premise": "The shop opens at nine.", "hypothesis": "The shop opens.", "label": 0, "idx": 0},
        {"premise": "The shop opens at nine.", "hypothesis": "The shop never opens.", "label": 2, "idx": 1}]}, mnli)
    snli = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                              "label": NLI})
    _hub_repo(tmp_path, "stanfordnlp/snli", "plain_text", {"train": [
        {"premise": "Two men fish.", "hypothesis": "Men are outside.", "label": 1},
        {"premise": "Two men fish.", "hypothesis": "Nobody fishes.", "label": -1},  # no gold label: dropped
        {"premise": "Two men fish.", "hypothesis": "People fish.", "label": 0}]}, snli)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    return tmp_path


def _hub_split(task, split):
    spec = TASKS[task]
    return handler_for(spec).load_split(spec, split, "en", {}, None)


def test_anli_plus_trains_on_every_round_then_mnli_then_snli_without_unlabelled_pairs(nli_hub):
    spec = TASKS["anli_plus"]
    assert (spec.type, spec.labels, spec.includes) == ("pair_classification", TASKS["mnli"].labels, ("mnli",))
    rows = _hub_split("anli_plus", "train")
    # 2 + 1 + 1 ANLI rows, 2 MNLI rows, 3 SNLI rows of which one is -1: 8, in the sources' order
    assert len(rows) == 8
    assert [r["hypothesis"] for r in rows] == [
        "An animal makes noise.", "The dog is asleep.", "It was a weekday.", "He owns no car now.",
        "The shop opens.", "The shop never opens.", "Men are outside.", "People fish."]
    assert [spec.labels[r["label"]] for r in rows] == [
        "entailment", "contradiction", "neutral", "entailment", "entailment", "contradiction", "neutral",
        "entailment"]
    assert set(rows[0]) == {"premise", "hypothesis", "label"}  # uid, reason and idx are not the task's fields


def test_anli_plus_selects_on_the_three_anli_dev_rounds(nli_hub):
    dev = _hub_split("anli_plus", "validation")
    assert [r["hypothesis"] for r in dev] == ["She was silent.", "She sang well.", "Someone sang.", "He moved."]
    assert [r["label"] for r in dev] == [2, 1, 0, 0]
    spec = TASKS["anli_plus"]
    assert [s.split for s in spec.dev.sources] == ["dev_r1", "dev_r2", "dev_r3"]
    assert [s.path for s in spec.train.sources] == ["facebook/anli"] * 3 + ["nyu-mll/glue", "stanfordnlp/snli"]


def test_a_source_is_mapped_onto_the_task_labels_by_name_and_a_bad_id_names_its_row():
    spec = TASKS["anli_plus"]
    reordered = datasets.ClassLabel(names=["contradiction", "entailment", "neutral"])
    ds = datasets.Dataset.from_dict({"premise": ["p", "p", "p"], "hypothesis": ["a", "b", "c"], "label": [0, 1, -1]},
                                    features=datasets.Features({"premise": datasets.Value("string"),
                                                                "hypothesis": datasets.Value("string"),
                                                                "label": reordered}))
    rows = source_rows(spec, HubSource("x/y", "default", "train", ()), ds, "x").to_list()
    assert [spec.labels[r["label"]] for r in rows] == ["contradiction", "entailment"]
    plain = datasets.Dataset.from_dict({"premise": ["p", "p"], "hypothesis": ["a", "b"], "label": [2, 5]})
    source = HubSource("facebook/anli", "plain_text", "train_r1", spec.labels)
    with pytest.raises(DataError, match=r"^where: row 2: label 5 is none of 3 label ids \(entailment, neutral, "
                                        r"contradiction\) nor -1"):
        source_rows(spec, source, plain, "where")
    with pytest.raises(DataError, match=r"label 'e' is not one of task 'anli_plus''s labels"):
        source_rows(spec, HubSource("x/y", "default", "train", ("e", "n", "c")), plain, "where")


def test_anli_plus_is_a_schedule_and_multi_all_trains_mnli_once():
    from xltlib.methods.schedules import intermediate_tasks, parse_schedule_name, schedule_stages
    from xltlib.methods.schedules import SCHEDULE_OPTIONS

    stages = schedule_stages(parse_schedule_name("seq:anli_plus"), "xnli", dict(SCHEDULE_OPTIONS))
    assert [s.tasks for s in stages] == [("anli_plus",), ("xnli",)]
    assert "mnli" in intermediate_tasks() and "anli_plus" not in intermediate_tasks()


def test_an_embedded_world_run_of_seq_anli_plus_is_refused_naming_the_world_tasks():
    from pathlib import Path

    from xltlib.run.experiment import plan_methods
    from xltlib.run.plan import plan
    from xltlib.world.build import World
    from xltlib.world.presets import PRESETS

    cfg = RunConfig(world_preset="tiny", tasks=["xnli"], methods=["seq:anli_plus"], seeds=[1])
    world = World(PRESETS["tiny"], Path("worlds/not-built"))  # only its file names are read: nothing is built
    with pytest.raises(ConfigError) as error:
        plan_methods(plan(cfg), cfg.methods, world)
    message = str(error.value)
    assert "\n" not in message and message.startswith(
        "method 'seq:anli_plus': task 'anli_plus': the embedded world does not generate it (it generates xnli, ")
    assert "mnli" in message and "give its files in data_files" in message
