"""The embedded world's XTREME-R-shaped tasks: labels and spans consistent with the text, deterministic files,
parallel test sets, no cheap surface shortcut to the labels, and the built world serving every task's files
through the same loader as real data."""
import filecmp
import random
from collections import Counter

import pytest

from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.world.build import FILED_WITH
from xltlib.world.grammar import (LADDER, LADDER_BY_CODE, FrameSampler, build_semantics, render_english_order,
                                  render_roles, translation_table)
from xltlib.world.presets import PRESETS
from xltlib.world.tasks.ranking import CANDIDATE_SET
from xltlib.world.tasks.qa import SENTENCE_SEPARATOR, answer_kind, qa_item, question_table, question_word
from xltlib.world.tasks.xtreme import (TASK_SPLITS, XTREME_WORLD_TASKS, copa_item, task_files, task_rows,
                                       write_xtreme_task_files)

PRESET = PRESETS["tiny"]


def load_xtreme_split(spec, split, lang, data_files, max_samples=None) -> list[dict]:
    """One split's rows, as the task's handler loads them."""
    return handler_for(spec).load_split(spec, split, lang, data_files, max_samples)


LANGS = PRESET.langs


@pytest.fixture(scope="module")
def rows():
    """{(task, split): {lang: rows}} for the tiny preset, generated in memory."""
    sampler = FrameSampler(build_semantics(PRESET.seed))
    tables = {c: translation_table(LADDER_BY_CODE[c], PRESET.seed) for c in LANGS}
    questions = {c: question_table(LADDER_BY_CODE[c], PRESET.seed) for c in LANGS}
    out = {}
    for task in XTREME_WORLD_TASKS:
        for split, paths in task_files(task, "unused", LANGS).items():
            out[task, split] = task_rows(task, split, PRESET, sampler, tables, questions, tuple(paths))
    return out


def test_roles_render_the_same_words_as_the_sentence():
    sampler, rng = FrameSampler(build_semantics(0)), random.Random("roles")
    for _ in range(300):
        frame = sampler.frame(rng)
        for lang in LADDER:
            assert [w for w, _ in render_roles(frame, lang)] == render_english_order(frame, lang)


# -- labels and spans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("task, field", [("udpos", "pos_tags"), ("panx", "ner_tags")])
def test_every_word_has_one_tag_from_the_label_set(rows, task, field):
    for split in TASK_SPLITS[task]:
        for lang, items in rows[task, split].items():
            for row in items:
                assert len(row["tokens"]) == len(row[field]), (task, split, lang, row)
                assert set(row[field]) <= set(TASKS[task].labels)
    tags = Counter(t for r in rows["panx", "train"]["en"] for t in r["ner_tags"])
    assert tags["B-PER"] > 20 and tags["B-LOC"] == tags["I-LOC"] > 20  # both entity types, LOC two words


def test_pos_tags_follow_word_classes_and_case_particles_only_in_verb_final_languages(rows):
    test = rows["udpos", "test"]
    en, vfc = test["en"][0], test["vfc"][0]
    assert en["pos_tags"].count("VERB") == vfc["pos_tags"].count("VERB") == 1
    assert "PART" not in {t for r in test["rlx"] for t in r["pos_tags"]}
    assert all(r["pos_tags"].count("PART") == 2 for r in test["vfc"])  # <subj> and <obj>


def test_every_answer_span_is_its_context_at_its_offset(rows):
    for split in TASK_SPLITS["xquad"]:
        for lang, items in rows["xquad", split].items():
            for row in items:
                (text,), (start,) = row["answers"]["text"], row["answers"]["answer_start"]
                assert row["context"][start:start + len(text)] == text, (lang, row)
                assert SENTENCE_SEPARATOR not in text.split()
                assert row["context"].count(SENTENCE_SEPARATOR) == 2  # three sentences


def test_the_question_is_one_sentence_of_its_context_with_the_answer_replaced(rows):
    for lang, items in rows["xquad", "test"].items():
        qwords = set(question_table(LADDER_BY_CODE[lang], PRESET.seed).values())
        for row in items:
            words = row["question"].split()
            assert len([w for w in words if w in qwords]) == 1, (lang, row)
            rest = Counter(w for w in words if w not in qwords)
            sentences = [Counter(s.split()) for s in row["context"].split(f" {SENTENCE_SEPARATOR} ")]
            matching = [i for i, s in enumerate(sentences) if not rest - s]
            assert len(matching) == 1, (lang, row)  # the question is about one sentence only
            answer_start = row["answers"]["answer_start"][0]
            sentence_starts = [0] + [i + 3 for i, ch in enumerate(row["context"]) if row["context"][i:i + 3]
                                     == f" {SENTENCE_SEPARATOR} "]
            assert max(i for i, s in enumerate(sentence_starts) if s <= answer_start) == matching[0]


def test_the_question_word_names_a_kind_one_sentence_of_the_context_holds():
    sampler, rng = FrameSampler(build_semantics(0)), random.Random("qa-kinds")
    words, asked = Counter(), Counter()
    for _ in range(500):
        item = qa_item(rng, sampler)
        word = question_word(item)
        holders = [i for i, f in enumerate(item.frames) if (f.place is not None if word == "where"
                                                            else word in (answer_kind(f.subj), answer_kind(f.obj)))]
        assert holders == [item.asked], item
        assert len({f.verb for f in item.frames}) == len(item.frames)
        words[word] += 1
        asked[item.asked] += 1
    assert set(words) == {"who", "what", "where"} and min(asked.values()) > 120  # every kind, every position


def test_copa_alternatives_differ_in_the_verb_only_and_follow_the_rules():
    sampler, rng = FrameSampler(build_semantics(0)), random.Random("copa")
    labels = Counter()
    for _ in range(400):
        item = copa_item(rng, sampler)
        right, wrong = item.choices[item.label], item.choices[1 - item.label]
        assert (right.subj, right.obj) == (wrong.subj, wrong.obj) and right.verb != wrong.verb
        assert {item.premise.subj, item.premise.obj} == {right.subj, right.obj}
        labels[item.label] += 1
    assert abs(labels[0] - labels[1]) < 0.15 * 400


def test_bucc_hides_pairs_among_sentences_without_translation(rows):
    for split in TASK_SPLITS["bucc2018"]:
        for lang, items in rows["bucc2018", split].items():
            pairs = [r for r in items if r["source_sentence"] and r["target_sentence"]]
            alone = [r for r in items if not (r["source_sentence"] and r["target_sentence"])]
            assert len(pairs) == len(items) // 3 and len(alone) == len(items) - len(pairs)
            assert {bool(r["source_sentence"]) for r in alone} == {True, False}  # distractors on both sides
            for side in ("source", "target"):
                ids = [r[f"{side}_id"] for r in items if r[f"{side}_sentence"]]
                assert len(set(ids)) == len(ids)


# -- determinism and parallel test sets ---------------------------------------------------------------


def test_same_seed_writes_identical_files(tmp_path):
    write_xtreme_task_files(PRESET, tmp_path / "a")
    write_xtreme_task_files(PRESET, tmp_path / "b")
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jsonl"))
    candidate_sets = [n for n in names if n.name == CANDIDATE_SET]  # Mewsli-X's, beside its test files
    assert len(names) - len(candidate_sets) == sum(len(langs) for task in XTREME_WORLD_TASKS
                                                   for langs in task_files(task, tmp_path, LANGS).values())
    assert len(candidate_sets) == 1
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", [str(n) for n in names],
                                               shallow=False)
    assert not mismatch and not errors and len(match) == len(names)


def test_test_sets_are_parallel_across_languages(rows):
    # The same frames in every language: the same tags, in each language's order (case particles aside).
    tag_counts = lambda r, field: Counter(t for t in r[field] if t not in ("PART", "O"))
    for task, field in (("udpos", "pos_tags"), ("panx", "ner_tags")):
        test = rows[task, "test"]
        for lang in LANGS:
            assert [tag_counts(r, field) for r in test[lang]] == [tag_counts(r, field) for r in test["en"]]
    qa = rows["xquad", "test"]
    assert all([r["id"] for r in qa[lang]] == [r["id"] for r in qa["en"]] for lang in LANGS)
    copa = rows["xcopa", "test"]
    assert all([r["label"] for r in copa[lang]] == [r["label"] for r in copa["en"]] for lang in LANGS)
    tatoeba = rows["tatoeba", "test"]
    assert "en" not in tatoeba
    assert all([r["target_sentence"] for r in tatoeba[lang]] == [r["target_sentence"] for r in tatoeba["rlx"]]
               for lang in tatoeba)


# -- no surface shortcut ------------------------------------------------------------------------------


def test_tag_position_alone_does_not_give_the_tags(rows):
    """The best a model reading only positions can do (each position's most frequent English tag) stays far
    from what knowing the words gives, and falls where word order differs."""
    by_position = {}
    for row in rows["udpos", "train"]["en"]:
        for i, tag in enumerate(row["pos_tags"]):
            by_position.setdefault(i, Counter())[tag] += 1
    guess = {i: c.most_common(1)[0][0] for i, c in by_position.items()}

    def accuracy(lang):
        pairs = [(guess.get(i), t) for r in rows["udpos", "test"][lang] for i, t in enumerate(r["pos_tags"])]
        return sum(g == t for g, t in pairs) / len(pairs)

    assert accuracy("en") < 0.5 and accuracy("vfc") < accuracy("en")


def test_answer_position_alone_does_not_give_the_answer(rows):
    train, test = rows["xquad", "train"]["en"], rows["xquad", "test"]["en"]
    start = Counter(r["answers"]["answer_start"][0] for r in train).most_common(1)[0][0]
    assert sum(r["answers"]["answer_start"][0] == start for r in test) / len(test) < 0.2


def test_target_language_alternatives_differ_in_words_english_never_shows(rows):
    """In every language but English the alternatives' differing word (the verb) is not an English word, so a
    model without pretraining cannot carry what it learnt on English to it."""
    english_words = {w for r in rows["xcopa", "train"]["en"] for k in ("premise", "choice1", "choice2")
                     for w in r[k].split()}
    for lang, items in rows["xcopa", "test"].items():
        if lang == "en":
            continue
        for row in items:
            differing = set(row["choice1"].split()) ^ set(row["choice2"].split())
            assert len(differing) == 2 and not differing & english_words, (lang, row)


def test_sentence_length_alone_does_not_retrieve_the_translation(rows):
    """Sentences take about ten lengths, so length alone finds about one in ten among ties, whatever the
    language; retrieving more needs the words."""
    for lang, items in rows["tatoeba", "test"].items():
        lengths = [len(r["target_sentence"].split()) for r in items]
        hits = 0
        for i, row in enumerate(items):
            n = len(row["source_sentence"].split())
            hits += min(range(len(items)), key=lambda j: (abs(lengths[j] - n), j)) == i
        assert hits / len(items) < 0.15, lang


def test_shared_words_alone_do_not_retrieve_the_translation(rows):
    """The trap of the notes: an untrained encoder matches sentences by the words both languages write alike
    (names, digits, nouns, places). Retrieval sets come in groups that those words cannot tell apart, so a
    retriever that counts shared tokens (ties broken at random) finds about one in RETRIEVAL_GROUP."""
    from xltlib.world.tasks.xtreme import RETRIEVAL_GROUP

    for lang, all_items in rows["tatoeba", "test"].items():
        items = all_items[:30]  # what a run with max_eval_samples 30 keeps: whole groups still
        targets = [Counter(r["target_sentence"].split()) for r in items]
        expected_hits = 0.0
        for i, row in enumerate(items):
            source = Counter(row["source_sentence"].split())
            overlaps = [sum((source & t).values()) for t in targets]
            best = [j for j, o in enumerate(overlaps) if o == max(overlaps)]
            expected_hits += (i in best) / len(best)
        assert expected_hits / len(items) < 1.5 / RETRIEVAL_GROUP, lang


# -- the built world ----------------------------------------------------------------------------------


def test_the_world_serves_every_task_through_the_hub_schema_loader(cached_tiny_world):
    for task in XTREME_WORLD_TASKS:
        files = cached_tiny_world.data_files(task)
        # A split written in this task's folder for another task (xcopa's `intermediate`: siqa's train) is that
        # task's, not this one's.
        lodged = {written for home, splits in FILED_WITH.values() if home == task for written in splits.values()}
        assert set(files) == set(TASK_SPLITS[task]) - lodged
        assert tuple(files["test"]) == cached_tiny_world.langs_for(task)
        for split, by_lang in files.items():
            for lang in by_lang:
                ds = load_xtreme_split(TASKS[task], split, lang, files)
                assert len(ds) > 0
    assert "en" not in cached_tiny_world.langs_for("tatoeba") and "en" in cached_tiny_world.langs_for("udpos")
    # SIQA-like rows: the task `siqa`'s training set, written in xcopa's folder as its `intermediate` split.
    intermediate = cached_tiny_world.directory / "tasks" / "xcopa" / "intermediate-en.jsonl"
    assert cached_tiny_world.data_files("siqa") == {"train": {"en": str(intermediate)}}
    siqa = load_xtreme_split(TASKS["siqa"], "train", "en", cached_tiny_world.data_files("siqa"))
    assert len(siqa[0]["choices"]) == 3
