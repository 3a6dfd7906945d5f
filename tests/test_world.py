"""The embedded world's generator: deterministic, shortcut-free pair tasks, languages on the ladder."""
import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.world import grammar
from xltlib.world.build import get_world, pretraining_corpus
from xltlib.world.grammar import LADDER, LEXICON, FrameSampler, build_semantics, render, translation_table
from xltlib.world.tasks.pairs import nli_pair, paraphrase_pair, relational_nli_pair, relational_paraphrase_pair
from xltlib.world.presets import PRESETS


def test_translation_tables_are_injective_and_stable():
    for lang in LADDER:
        table = translation_table(lang, 0)
        assert len(set(table.values())) == len(table), lang.code
        assert table == translation_table(lang, 0)  # CRC32, not Python's per-process hash()
    assert translation_table(grammar.LADDER_BY_CODE["rlx"], 0) != translation_table(grammar.LADDER_BY_CODE["rlx"], 1)


def test_shared_anchors_and_classes_follow_the_ladder():
    rlx, vfx = (translation_table(grammar.LADDER_BY_CODE[c], 0) for c in ("rlx", "vfx"))
    assert rlx["anna"] == "anna" and rlx["dog"] == "dog" and rlx["loves"] != "loves"
    assert vfx["anna"] != "anna" and vfx["2"] != "2" and vfx["dog"] != "dog"
    assert [lang.rung for lang in LADDER] == sorted(lang.rung for lang in LADDER)


@pytest.mark.parametrize("make_pair, n_labels", [(nli_pair, 3), (paraphrase_pair, 2)])
def test_pairs_differ_in_one_word_and_labels_are_balanced(make_pair, n_labels):
    sampler, rng = FrameSampler(build_semantics(0)), random.Random(0)
    english = grammar.LADDER_BY_CODE["en"]
    table = translation_table(english, 0)
    labels = Counter()
    for _ in range(600):
        first, second, label = make_pair(rng, sampler)
        a, b = render(first, english, table).split(), render(second, english, table).split()
        assert len(a) == len(b)  # length never leaks the label
        assert len(Counter(a) - Counter(b)) == 1  # exactly one word replaced (fronting only reorders)
        labels[label] += 1
    assert set(labels) == set(range(n_labels))
    assert max(labels.values()) - min(labels.values()) < 0.15 * 600


def test_pair_relations_match_the_lexicon():
    sampler, rng = FrameSampler(build_semantics(0)), random.Random(1)
    for _ in range(300):
        first, second, label = nli_pair(rng, sampler)
        assert replace(second, obj=first.obj) == first  # only the object's adjective differs
        old, new = first.obj.adj, second.obj.adj
        if label == 0:
            assert new in LEXICON.synonyms[old]
        elif label == 2:
            assert new in LEXICON.antonyms[old]
        else:
            assert LEXICON.dimension[new] != LEXICON.dimension[old]


def test_corpus_is_deterministic_and_glosses_near_languages_more():
    preset = PRESETS["tiny"]
    docs, counts = pretraining_corpus(preset)
    again, _ = pretraining_corpus(preset)
    assert docs == again
    assert counts["low"] == int(preset.pretrain_docs * preset.low_resource_share)
    english_words = set(LEXICON.verbs) | set(LEXICON.adjectives)

    def english_share(code):
        rows = [d for d in docs if d["lang"] == code]
        words = [w for d in rows for w in (d["text"] + " " + d["text_pair"]).split()]
        return sum(w in english_words for w in words) / len(words)

    assert english_share("rlx") > english_share("vfc") > english_share("vfx") > 0


def test_tiny_world_builds_once_and_serves_hub_schema_files(tiny_world):
    assert (tiny_world.directory / "world.json").is_file()
    assert get_world("tiny").directory == tiny_world.directory  # cached, not rebuilt
    files = tiny_world.data_files("xnli")
    xnli, pawsx = TASKS["xnli"], TASKS["pawsx"]
    test_en = handler_for(xnli).load_split(xnli, "test", "en", files, None)
    test_vfx = handler_for(xnli).load_split(xnli, "test", "vfx", files, None)
    assert all(list(row) == ["premise", "hypothesis", "label"] for row in test_en + test_vfx)
    assert len(test_en) == len(test_vfx) == PRESETS["tiny"].n_test
    assert [r["label"] for r in test_en] == [r["label"] for r in test_vfx]  # parallel across languages
    paws = handler_for(pawsx).load_split(pawsx, "train", "en", tiny_world.data_files("pawsx"), None)
    assert {r["label"] for r in paws} == {0, 1}
    manifest = json.loads((tiny_world.directory / "world.json").read_text())
    assert set(manifest["alignment"]) == set(PRESETS["tiny"].langs)
    assert tiny_world.synonyms("rlx") and all(isinstance(v, list) for v in tiny_world.synonyms("rlx").values())


@pytest.fixture(scope="module")
def built_side_by_side(tmp_path_factory):
    """Two new processes asking for the tiny world at once in a new cache, as `xlt batch --jobs` starts them: their
    return codes and what each printed (the world's folder, how many builds it ran itself)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLT_WORLD_CACHE": str(tmp_path_factory.mktemp("side-by-side")), "OMP_NUM_THREADS": "1"}
    code = ("import xltlib.world.build as b; calls = []; real = b._build\n"
            "b._build = lambda *a: (calls.append(1), real(*a))\n"
            "w = b.get_world('tiny'); print(w.directory, len(calls))")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate()[0].split() for p in procs]
    return [p.returncode for p in procs], outputs


def test_two_builds_in_separate_processes_are_identical(tiny_world, built_side_by_side):
    """The whole world (tokenizer ids, pretrained weights, task files) repeats exactly from its seed: the module's
    own fresh build (`tiny_world`, built in this test process into a new cache) and the fresh build a new process
    ran (`built_side_by_side`, into another new cache)."""
    import hashlib

    returncodes, outputs = built_side_by_side
    assert returncodes == [0, 0]
    first, second = tiny_world.directory, Path(outputs[0][-2])
    for name in ("encoder/tokenizer.json", "encoder/model.safetensors", "tasks/xnli/test-vfx.jsonl"):
        digest = [hashlib.sha256((root / name).read_bytes()).hexdigest() for root in (first, second)]
        assert digest[0] == digest[1], name


def test_word_translation_precision_is_one_for_english_and_a_share_elsewhere(tiny_world):
    from xltlib.world.meters import word_translation_precision

    meter = word_translation_precision(tiny_world, langs=["en", "rlx", "vfx"], n_frames=600)
    layers = tiny_world.preset.num_hidden_layers + 1  # the embeddings and every layer
    assert len(meter) == 3 * 2 * layers
    assert (meter[meter.lang == "en"].precision == 1.0).all()  # every word is nearest to itself
    assert meter.precision.between(0, 1).all()
    again = word_translation_precision(tiny_world, langs=["rlx"], n_frames=600)
    assert again.precision.tolist() == meter[meter.lang == "rlx"].precision.tolist()


def test_the_translation_meter_reads_any_encoder_of_the_world(tiny_world, tmp_path):
    """Given the world's encoder as a folder or as a task model over it, the meter reads the same numbers as by
    default; after the encoder's weights change, it reads that encoder, not the pretrained one."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from xltlib.world.meters import word_translation_precision

    default = word_translation_precision(tiny_world, langs=["rlx"], n_frames=600).precision.tolist()
    assert word_translation_precision(tiny_world, langs=["rlx"], n_frames=600,
                                      encoder=tiny_world.encoder_dir).precision.tolist() == default
    model = AutoModelForSequenceClassification.from_pretrained(tiny_world.encoder_dir, num_labels=3)
    model.train()
    assert word_translation_precision(tiny_world, langs=["rlx"], n_frames=600,
                                      encoder=model).precision.tolist() == default
    assert model.training and model.base_model.training  # the caller's mode is left as it was
    with torch.no_grad():
        torch.manual_seed(0)
        for p in model.base_model.embeddings.parameters():
            p.add_(torch.randn_like(p))
    changed = word_translation_precision(tiny_world, langs=["rlx"], n_frames=600, encoder=model)
    assert changed.precision.tolist() != default


def test_an_empty_world_cache_variable_counts_as_unset(monkeypatch):
    from xltlib.core.paths import outputs_dir, world_cache_dir

    monkeypatch.setenv("XLT_WORLD_CACHE", "")
    assert world_cache_dir() == outputs_dir() / "world"  # not Path(""): the world in the working directory
    monkeypatch.setenv("XLT_WORLD_CACHE", "/tmp/worlds")
    assert world_cache_dir() == Path("/tmp/worlds")


def test_processes_asking_for_one_world_at_once_build_it_once(built_side_by_side):
    """Side by side (`xlt batch --jobs`), the second process waits for the first one's build."""
    returncodes, outputs = built_side_by_side
    assert all(code == 0 for code in returncodes)
    assert outputs[0][-2] == outputs[1][-2]  # the same directory
    assert sorted(int(o[-1]) for o in outputs) == [0, 1]  # built by one of them only


@pytest.mark.parametrize("make_pair, n_labels", [(relational_nli_pair, 3), (relational_paraphrase_pair, 2)])
def test_relational_pairs_change_three_words_by_one_relation(make_pair, n_labels):
    sampler, rng = FrameSampler(build_semantics(0)), random.Random(2)
    labels = Counter()
    for _ in range(600):
        first, second, label = make_pair(rng, sampler)
        assert replace(second, verb=first.verb, time_first=first.time_first,
                       subj=replace(second.subj, adj=first.subj.adj),
                       obj=replace(second.obj, adj=first.obj.adj)) == first  # nothing else differs
        relations = set()
        for old, new in ((first.verb, second.verb), (first.subj.adj, second.subj.adj), (first.obj.adj, second.obj.adj)):
            relations.add("synonym" if new in LEXICON.synonyms[old] else "antonym" if new in LEXICON.antonyms[old]
                          else "other" if LEXICON.dimension[new] != LEXICON.dimension[old] else "same")
        assert len(relations) == 1 and "same" not in relations  # the three pairs say one thing
        relation = relations.pop()
        if n_labels == 3:
            assert relation == ("synonym", "other", "antonym")[label]
        else:
            assert (relation == "synonym") == (label == 1)
        labels[label] += 1
    assert max(labels.values()) - min(labels.values()) < 0.15 * 600


def test_relational_hypotheses_alone_do_not_tell_the_label():
    """Each hypothesis word is uniform over its class whatever the label: the share of every adjective among
    each label's hypotheses is the same within sampling noise (a hypothesis-only model is at chance)."""
    sampler, rng = FrameSampler(build_semantics(0)), random.Random(3)
    by_label = {label: Counter() for label in range(3)}
    for _ in range(6000):
        _, second, label = relational_nli_pair(rng, sampler)
        by_label[label].update([second.subj.adj, second.obj.adj, second.verb])
    for label, counts in by_label.items():
        total = sum(counts.values())
        for word in LEXICON.adjectives:
            share = counts[word] / total
            assert abs(share - 2 / 3 / len(LEXICON.adjectives)) < 0.012, (label, word, share)


def test_discourse_documents_open_with_their_connective_in_every_language():
    preset = replace(PRESETS["tiny"], discourse_share=0.5)
    docs, _ = pretraining_corpus(preset)
    assert docs == pretraining_corpus(preset)[0]
    for code in ("en", "vfx"):
        connectives = {translation_table(grammar.LADDER_BY_CODE[code], preset.seed)[w]
                       for w in grammar.CONNECTIVES.values()}
        rows = [d for d in docs if d["lang"] == code]
        opened = Counter(d["text_pair"].split()[0] for d in rows if d["text_pair"].split()[0] in connectives)
        assert set(opened) == connectives
        assert 0.4 < sum(opened.values()) / len(rows) < 0.6
    assert pretraining_corpus(PRESETS["tiny"])[0] != docs
