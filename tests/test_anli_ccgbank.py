"""ANLI+ (ANLI's three rounds + MNLI + SNLI in one NLI task) read through the hub-loading path from a local copy of
each hub repository in its real layout and schema; CCGbank's AUTO files read by path, with the tag inventory of the
training sections under the tagging head."""
import datasets
import pytest

from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError, DataError
from xltlib.tasks import ccgbank
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


# -- CCGbank ----------------------------------------------------------------------------------------------
# Derivations written for these tests in CCGbank's AUTO format (compared with the public sample of wsj_0001 in
# lambeq's CCGbank parser tests): an ID line, then one tree a line, leaves (<L CAT POS POS WORD PRED_ARG_CAT>).
SAW = ("(<T S[dcl] 0 2> (<T S[dcl] 1 2> (<T NP 0 1> (<L N NNP NNP John N>) ) (<T S[dcl]\\NP 0 2> "
       "(<L (S[dcl]\\NP)/NP VBD VBD saw (S[dcl]\\NP_1)/NP_2>) (<T NP 0 1> (<L N NNP NNP Mary N>) ) ) ) "
       "(<L . . . . .>) )")
MET = ("(<T S[dcl] 0 2> (<T S[dcl] 1 2> (<T NP 1 2> (<L NP[nb]/N DT DT The NP[nb]_1/N_1>) (<L N NN NN board N>) ) "
       "(<L S[dcl]\\NP VBD VBD met S[dcl]\\NP_5>) ) (<L . . . . .>) )")
FELL = ("(<T S[dcl] 0 2> (<T S[dcl] 1 2> (<T NP 0 1> (<T N 1 2> (<L N/N JJ JJ Old N_3/N_3>) "
        "(<L N NNS NNS prices N>) ) ) (<T S[dcl]\\NP 0 2> (<L S[dcl]\\NP VBD VBD fell S[dcl]\\NP_7>) "
        "(<L (S\\NP)\\(S\\NP) RB RB sharply (S_9\\NP_8)_9\\(S_9\\NP_8)_9>) ) ) (<L . . . . .>) )")
RAN = ("(<T S[dcl] 0 2> (<T S[dcl] 1 2> (<T NP 0 1> (<T N 0 2> (<L N NNS NNS Cats N>) (<T N[conj] 1 2> "
       "(<L conj CC CC and conj>) (<L N NNS NNS dogs N>) ) ) ) (<L S[dcl]\\NP VBP VBP run S[dcl]\\NP_4>) ) "
       "(<L . . . . .>) )")  # `conj` only here: seen once, a rare tag


def _auto(path, sentences) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"ID={sid} PARSER=GOLD NUMPARSE=1\n{tree}\n" for sid, tree in sentences))


@pytest.fixture
def ccgbank_root(tmp_path):
    """data/AUTO with the standard split's sections: 02-21 three sentences each (02 a fourth, with `conj`), 00 and
    23 for dev and test, 22 (in no split here)."""
    root = tmp_path / "ccgbank" / "data" / "AUTO"
    for n in range(2, 22):
        s = f"{n:02d}"
        _auto(root / s / f"wsj_{s}01.auto", [(f"wsj_{s}01.{i}", t) for i, t in enumerate((SAW, MET, FELL), 1)]
              + ([(f"wsj_{s}01.4", RAN)] if s == "02" else []))
    _auto(root / "00" / "wsj_0001.auto", [("wsj_0001.1", RAN), ("wsj_0001.2", SAW)])
    _auto(root / "22" / "wsj_2201.auto", [("wsj_2201.1", MET)])
    _auto(root / "23" / "wsj_2301.auto", [("wsj_2301.1", FELL)])
    return root


def test_an_auto_file_gives_each_sentence_its_words_and_supertags(ccgbank_root):
    rows = ccgbank.read_auto(ccgbank_root / "00" / "wsj_0001.auto", "train").to_list()
    assert rows[1] == {"id": "wsj_0001.2", "tokens": ["John", "saw", "Mary", "."],
                       "ccg_tags": ["N", "(S[dcl]\\NP)/NP", "N", "."]}
    assert rows[0]["tokens"] == ["Cats", "and", "dogs", "run", "."] and rows[0]["ccg_tags"][1] == "conj"


def test_the_auto_folder_gives_each_split_its_standard_sections(ccgbank_root):
    train = ccgbank.read_auto(ccgbank_root, "train")["id"]
    assert len(train) == 20 * 3 + 1 and {i[4:6] for i in train} == {f"{n:02d}" for n in range(2, 22)}
    assert ccgbank.read_auto(ccgbank_root, "validation")["id"] == ["wsj_0001.1", "wsj_0001.2"]
    assert ccgbank.read_auto(ccgbank_root, "test")["id"] == ["wsj_2301.1"]
    assert len(ccgbank.read_auto(ccgbank_root / "22", "train")) == 1  # a section folder is read whole
    (ccgbank_root / "23" / "wsj_2301.auto").unlink()
    (ccgbank_root / "23").rmdir()
    with pytest.raises(DataError, match=r"AUTO folder without section\(s\) 23, which the standard test split"):
        ccgbank.read_auto(ccgbank_root, "test")


def test_the_inventory_keeps_frequent_categories_most_frequent_first_and_one_unknown_tag(ccgbank_root):
    inventory = ccgbank.tag_inventory(ccgbank_root)  # MIN_TAG_COUNT = 10: everything but `conj` (seen once)
    assert inventory[:3] == ("N", ".", "S[dcl]\\NP") and inventory[-1] == ccgbank.UNKNOWN_TAG
    assert "conj" not in inventory and len(inventory) == 7 + 1
    assert ccgbank.tag_inventory(ccgbank_root, min_count=42) == ("N", ".", ccgbank.UNKNOWN_TAG)  # seen 82, 61, 41 times


def test_ccg_on_auto_files_is_tagged_on_the_training_inventory(ccgbank_root):
    spec, handler = TASKS["ccg"], handler_for(TASKS["ccg"])
    files = {split: {"en": str(ccgbank_root)} for split in ("train", "validation", "test")}
    real = handler.spec_for(spec, files)
    assert real.labels == ccgbank.tag_inventory(ccgbank_root) and real.unknown_label == ccgbank.UNKNOWN_TAG
    dev = handler.load_split(real, "validation", "en", files, None)
    assert [real.labels[t] for t in dev[0]["tags"]] == ["N", ccgbank.UNKNOWN_TAG, "N", "S[dcl]\\NP", "."]
    assert len(handler.load_split(real, "train", "en", files, None)) == 61
    # JSON lines, as the embedded world writes them, keep the world's fixed inventory
    assert handler.spec_for(spec, {"train": {"en": "ccg-train.jsonl"}}) is spec
    with pytest.raises(DataError, match=r"row 1: tag 1 \('Cats'\) is 'N', not a ccg tag; allowed: DET/subj"):
        handler.load_split(spec, "validation", "en", files, None)  # CCGbank's tags against the world's inventory


@pytest.mark.parametrize("line, problem", [
    ("(<T S[dcl] 0 2> (<L N NNP John N>) (<L . . . . .>) )", r"leaf '\(<L N NNP John N>\)' has 4 fields"),
    ("(<T S[dcl] 0 2> (<L N NNP NNP John N>) (<L . . . . .>)", r"1 node\(s\) left open"),
    ("(<L N NNP NNP John N>) )", r"unbalanced '\)' at character 24"),
    ("(<T S[dcl] 0 2> John )", r"unexpected text at character 17: 'John \)'"),
    ("John saw Mary .", r"neither an ID= line nor a derivation"),
])
def test_a_malformed_auto_line_names_the_file_and_line(tmp_path, line, problem):
    path = tmp_path / "wsj_0101.auto"
    path.write_text(f"ID=wsj_0101.1 PARSER=GOLD NUMPARSE=1\n{SAW}\nID=wsj_0101.2 PARSER=GOLD NUMPARSE=1\n{line}\n")
    with pytest.raises(DataError, match=rf"^{path}: line 4: .*{problem}") as error:
        ccgbank.read_auto(path, "train")
    assert "\n" not in str(error.value)


def test_seq_ccg_on_the_real_path_builds_its_head_on_the_auto_inventory(ccgbank_root, tiny_model_dir, xnli_files,
                                                                        tmp_path, monkeypatch):
    import xltlib.run.stages as stages
    from xltlib.run.experiment import run_experiment

    heads = []
    load_model = stages.load_model

    def spy(path, spec, *args, **kwargs):
        model = load_model(path, spec, *args, **kwargs)
        heads.append((spec.name, model.config.num_labels))
        return model

    monkeypatch.setattr(stages, "load_model", spy)
    files = {split: {"en": str(ccgbank_root)} for split in ("train", "validation")}
    cfg = RunConfig(world="real", tasks=["xnli"], model_name_or_path=str(tiny_model_dir), methods=["seq:ccg"],
                    seeds=[1], eval_langs=["en"], data_files={"xnli": xnli_files, "ccg": files},
                    num_train_epochs=1.0, per_device_train_batch_size=8, per_device_eval_batch_size=8,
                    learning_rate=1e-3, generalized=False)
    records = run_experiment(cfg, tmp_path / "run")
    assert heads == [("ccg", len(ccgbank.tag_inventory(ccgbank_root)))]
    test = records[(records.split == "test") & (records.method == "seq:ccg")]
    assert list(test.lang) == ["en"] and test.value.between(0, 1).all()


def test_an_encoder_moves_between_token_and_sentence_heads_with_the_pooler_dropped_or_started_fresh(tiny_model_dir):
    import torch

    from xltlib.tasks.models import InitFrom, fresh_head_model, load_model

    nli = load_model(str(tiny_model_dir), TASKS["mnli"], InitFrom.PRETRAINED_ENCODER, seed=0)  # BERT with a pooler
    tagger = fresh_head_model(nli, TASKS["ccg"], seed=0)  # token classification: no pooler
    back = fresh_head_model(tagger, TASKS["xnli"], seed=0)  # a pooler again, seeded
    assert tagger.bert.pooler is None and back.bert.pooler is not None
    for model in (tagger, back):
        assert torch.equal(model.bert.embeddings.word_embeddings.weight, nli.bert.embeddings.word_embeddings.weight)
    assert tagger.config.num_labels == len(TASKS["ccg"].labels) and back.config.num_labels == 3
