"""Phang et al.'s English intermediate tasks on the real path: each registered with its hub split and read by the
handler of its type, tested on small files in each source's own schema (as the hub serves them)."""
import json

import pytest

from xltlib.core.errors import DataError
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for


def _load(tmp_path, task, rows):
    path = tmp_path / f"{task}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = TASKS[task]
    return handler_for(spec).load_split(spec, "train", "en", {"train": {"en": str(path)}}, None)


def test_hub_ids_and_types_are_those_of_each_source():
    expected = {"mnli": ("nyu-mll/glue", "mnli", "pair_classification"),
                "qqp": ("nyu-mll/glue", "qqp", "pair_classification"),
                "squad": ("rajpurkar/squad", "plain_text", "span_qa"),
                "hellaswag": ("Rowan/hellaswag", "default", "multiple_choice"),
                "cosmosqa": ("allenai/cosmos_qa", "default", "multiple_choice"),
                "commonsenseqa": ("tau/commonsense_qa", "default", "multiple_choice"),
                "sst2": ("nyu-mll/glue", "sst2", "pair_classification")}
    for task, (path, config, kind) in expected.items():
        spec = TASKS[task]
        assert (spec.train.path, spec.train.config, spec.type) == (path, config, kind), task
        assert spec.group is None and spec.langs == ("en",)  # intermediate tasks: no benchmark group
    assert TASKS["mnli"].dev.split == "validation_matched"


def test_glue_pair_tasks_read_their_fields_and_label_ids(tmp_path):
    mnli = _load(tmp_path, "mnli", [{"premise": "A man sleeps.", "hypothesis": "A man rests.", "label": 0, "idx": 0},
                                    {"premise": "A man sleeps.", "hypothesis": "A man runs.", "label": 2, "idx": 1}])
    assert [r["label"] for r in mnli] == [0, 2] and mnli[1]["hypothesis"] == "A man runs."
    qqp = _load(tmp_path, "qqp", [{"question1": "How old?", "question2": "What age?", "label": 1, "idx": 0}])
    assert qqp[0]["question1"] == "How old?" and qqp[0]["label"] == 1


def test_squad_rows_keep_their_answer_spans(tmp_path):
    context = "The cat sat on the mat."
    rows = _load(tmp_path, "squad", [{"id": "q1", "title": "Cats", "context": context, "question": "Where?",
                                      "answers": {"text": ["on the mat"], "answer_start": [12]}}])
    answers = rows[0]["answers"]
    assert context[answers["answer_start"][0]:][:len(answers["text"][0])] == "on the mat"


def test_multiple_choice_sources_come_back_in_one_schema(tmp_path):
    hellaswag = _load(tmp_path, "hellaswag", [{"ind": 4, "activity_label": "Cooking", "ctx": "She cracks an egg",
                                               "ctx_a": "She", "ctx_b": "cracks an egg", "split": "train",
                                               "split_type": "indomain", "source_id": "x",
                                               "endings": ["into a bowl.", "at the moon.", "off a car.", "as a hat."],
                                               "label": "0"}])
    assert hellaswag[0] == {"premise": "She cracks an egg", "question": "",
                            "choices": ["into a bowl.", "at the moon.", "off a car.", "as a hat."], "label": 0}
    cosmos = _load(tmp_path, "cosmosqa", [{"id": "c1", "context": "It rained.", "question": "Why wet?",
                                           "answer0": "Rain.", "answer1": "Sun.", "answer2": "Wind.",
                                           "answer3": "None of the above choices.", "label": 0}])
    assert cosmos[0]["premise"] == "It rained." and cosmos[0]["question"] == "Why wet?" and len(cosmos[0]["choices"]) == 4
    csqa = _load(tmp_path, "commonsenseqa", [{"id": "k1", "question": "Where is a fish?", "question_concept": "fish",
                                              "choices": {"label": list("ABCDE"),
                                                          "text": ["sky", "sea", "desk", "car", "moon"]},
                                              "answerKey": "B"}])
    assert csqa[0] == {"premise": "Where is a fish?", "question": "", "choices": ["sky", "sea", "desk", "car", "moon"],
                       "label": 1}


def test_bad_multiple_choice_rows_name_the_row_and_what_was_expected(tmp_path):
    short = {"question": "Where?", "question_concept": "x", "choices": {"label": list("ABCD"),
                                                                         "text": ["a", "b", "c", "d"]}, "answerKey": "A"}
    with pytest.raises(DataError, match=r"row 1: field 'choices' .* expects a list of 5 choices"):
        _load(tmp_path, "commonsenseqa", [short])
    wrong_key = {**short, "choices": {"label": list("ABCDE"), "text": list("abcde")}, "answerKey": "F"}
    with pytest.raises(DataError, match=r"row 1: label 'F' is not one of the 5 choices; allowed: A, B, C, D, E"):
        _load(tmp_path, "commonsenseqa", [wrong_key])
    with pytest.raises(DataError, match=r"task 'hellaswag' reads multiple-choice rows in one of these schemas: .*"
                                        r"HellaSwag \(ctx, endings, label\).*; columns found: ctx, label"):
        _load(tmp_path, "hellaswag", [{"ctx": "x", "label": "0"}])


def test_a_task_the_embedded_world_does_not_generate_is_refused_unless_its_files_are_given(tmp_path):
    from xltlib.core.config import RunConfig
    from xltlib.core.errors import ConfigError
    from xltlib.run.experiment import task_data_files

    class World:  # the one attribute asked of the world, and its data files
        generated_tasks = ("xnli", "pawsx")

        def data_files(self, task):
            return {"train": {"en": f"{task}.jsonl"}}

    with pytest.raises(ConfigError, match=r"task 'mnli': the embedded world does not generate it \(it generates "
                                          r"xnli, pawsx\); give its files in data_files"):
        task_data_files(RunConfig(world="embedded", tasks=["mnli"]), "mnli", World())
    mine = {"mnli": {"train": {"en": str(tmp_path / "mnli.jsonl")}}}
    files = task_data_files(RunConfig(world="embedded", tasks=["mnli"], data_files=mine), "mnli", World())
    assert files == {"train": {"en": str(tmp_path / "mnli.jsonl")}}


def test_sst2_reads_glue_rows_and_encodes_one_segment(tmp_path):
    from transformers import BertTokenizerFast

    from xltlib.core.config import TrainArgs
    from xltlib.tasks.handlers.pair import pair_collate

    rows = _load(tmp_path, "sst2", [{"sentence": "a gripping film ", "label": 1, "idx": 0},
                                    {"sentence": "dull and slow", "label": 0, "idx": 1}])
    assert rows == [{"sentence": "a gripping film ", "label": 1}, {"sentence": "dull and slow", "label": 0}]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "gripping", "film", "dull", "and",
                                "slow"]) + "\n")
    tokenizer = BertTokenizerFast(str(vocab))
    batch = pair_collate(tokenizer, TASKS["sst2"], TrainArgs(max_seq_length=16)).collate(rows)
    assert batch["input_ids"][0].tolist()[:5] == [2, 5, 6, 7, 3]  # [CLS] a gripping film [SEP]: one segment
    assert batch["token_type_ids"].sum() == 0 and batch["labels"].tolist() == [1, 0]


def test_ccg_reads_token_tag_lines_by_path_and_names_an_unknown_tag(tmp_path):
    spec = TASKS["ccg"]
    assert spec.type == "tagging" and spec.train.path == "" and spec.label_field == "ccg_tags"
    rows = _load(tmp_path, "ccg", [{"tokens": ["the", "dog", "runs"], "ccg_tags": ["DET/subj", "N/subj", "V"]}])
    assert [spec.labels[t] for t in rows[0]["tags"]] == ["DET/subj", "N/subj", "V"]
    with pytest.raises(DataError, match=r"row 1: tag 2 \('dog'\) is 'N', not a ccg tag; allowed: DET/subj"):
        _load(tmp_path, "ccg", [{"tokens": ["the", "dog"], "ccg_tags": ["DET/subj", "N"]}])
