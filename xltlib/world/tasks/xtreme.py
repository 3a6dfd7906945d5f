"""XTREME-R-shaped tasks of the embedded world, drawn from the same frames as the pair tasks and written in the
hub schemas the task handlers (`xltlib.tasks.handlers`) read, so the world's files load like a user's local copy.

- udpos / panx: a frame's words with UD part-of-speech tags from their word classes, or BIO entity tags
  (names are PER; a place with its article is LOC, so entities have two words and boundaries matter).
- xquad: contexts of three frames, a question about one frame's subject, object or place (whose kind, the
  question word's, no other sentence holds), its answer span in the context (XQuAD-like: English train, tests
  parallel across languages under the same question ids).
- xcopa: a premise and two alternatives, the right one a cause or effect by the world's causal rules; an
  SIQA-like English intermediate split with three answers, as XTREME-R trains SIQA before COPA.
- tatoeba / bucc2018: parallel sentences (lang -> English) in groups that shared words cannot tell apart
  (`retrieval_frames`); BUCC-like sets hide the pairs among sentences with no translation on the other side,
  so a similarity threshold has something to reject.
Test sets are parallel across languages; every random draw comes from a string-seeded `random.Random`.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

from .qa import QA_SENTENCES, SENTENCE_SEPARATOR, qa_item, question_table, question_word, render_qa  # noqa: F401
from .ranking import ranking_rows, write_candidate_set
from ..grammar import (ADJECTIVE_DIMENSIONS, LADDER_BY_CODE, LEXICON, NAMES, NUMBERS, PLACES, PREPOSITIONS, TIMES,
                      VERB_DIMENSIONS,
                      Entity, Frame, FrameSampler, LanguageDef, _pseudo_word, build_semantics, render, render_roles,
                      translation_table)

XTREME_WORLD_TASKS = ("udpos", "panx", "xquad", "xcopa", "tatoeba", "bucc2018", "lareqa", "mewslix")
RETRIEVAL_TASKS = ("tatoeba", "bucc2018")  # scored lang -> English: English itself is no test language
TASK_SPLITS = {
    "udpos": ("train", "validation", "test"),
    "panx": ("train", "validation", "test"),
    "xquad": ("train", "validation", "test"),
    "xcopa": ("intermediate", "train", "validation", "test"),
    "tatoeba": ("test",),
    "bucc2018": ("validation", "test"),  # BUCC's threshold is chosen on the dev pairs
    "lareqa": ("train", "validation", "test"),  # dual encoders (world.ranking_tasks): English pairs, then tests
    "mewslix": ("train", "validation", "test"),
}

# -- tagging ------------------------------------------------------------------------------------------

_POS = {"the": "DET", **{w: "NUM" for w in NUMBERS}, **{w: "ADJ" for w in LEXICON.adjectives},
        **{w: "NOUN" for w in LEXICON.nouns + LEXICON.category_words + PLACES},
        **{w: "PROPN" for w in NAMES}, **{w: "VERB" for w in LEXICON.verbs},
        **{w: "ADP" for w in PREPOSITIONS}, **{w: "ADV" for w in TIMES},
        "<subj>": "PART", "<obj>": "PART"}


def pos_tags(roles: list[tuple[str, str]]) -> list[str]:
    """UD tags of a rendered frame's words, from each English word's class."""
    return [_POS[word] for word, _ in roles]


def ner_tags(roles: list[tuple[str, str]]) -> list[str]:
    """PAN-X tags: a name is B-PER; a place and its article are B-LOC I-LOC; everything else O."""
    tags, previous = [], None
    for word, role in roles:
        if word in NAMES:
            tags.append("B-PER")
        elif role == "place":
            tags.append("I-LOC" if previous == "place" else "B-LOC")
        else:
            tags.append("O")
        previous = role
    return tags


def tagging_row(frame: Frame, lang: LanguageDef, table: dict, task: str) -> dict:
    roles = render_roles(frame, lang)
    tokens = [table[word] for word, _ in roles]
    if task == "udpos":
        return {"tokens": tokens, "pos_tags": pos_tags(roles)}
    return {"tokens": tokens, "ner_tags": ner_tags(roles)}


# -- multiple choice ----------------------------------------------------------------------------------

# The world's causal rules, from a premise verb's dimension: (the outcome's verb dimension, whether the
# outcome's subject is the premise's object). Helping makes the helped love the helper; loving makes one
# follow whom one loves. Causes run the same rules backwards.
EFFECT_RULES = {"help": ("affection", True), "affection": ("attention", False)}
CAUSE_RULES = {outcome: (premise, swapped) for premise, (outcome, swapped) in EFFECT_RULES.items()}
POSITIVE, NEGATIVE = 0, 1  # the poles of a verb dimension ("helps" / "hurts")


@dataclass(frozen=True)
class ChoiceItem:
    premise: Frame
    question: str  # cause | effect
    choices: tuple[Frame, ...]
    label: int


def copa_item(rng: random.Random, sampler: FrameSampler, n_choices: int = 2) -> ChoiceItem:
    """A premise whose verb is from the positive pole of a rule's dimension; the right alternative follows
    by the rule (positive pole of the rule's other dimension), the wrong one has the opposite pole of the same
    dimension; with three choices (the SIQA-like split) the third is the negative pole of an unrelated
    dimension. Alternatives differ from each other in the verb alone, as in the pair tasks the label is carried
    by one word's meaning: which, in a target language, only an encoder that aligned it with English knows.

    The right alternative is always the positive one, so English is solved without reading the premise (as
    COPA's superficial cues let models do). Measured: with the premise's pole drawn at random and the right
    alternative agreeing with it, the task is an XOR of two words' poles, and English stayed at chance (51%)
    after 376 fine-tuning steps. Scratch models score any fixed preference among the target language's
    verbs, so their accuracy swings between seeds (0.1-0.9): read transfer as the gap over them, with seeds."""
    question = rng.choice(("cause", "effect"))
    rules = EFFECT_RULES if question == "effect" else CAUSE_RULES
    premise_dim = rng.choice(sorted(rules))
    outcome_dim, swapped = rules[premise_dim]
    frame = sampler.frame(rng)
    premise = replace(frame, verb=rng.choice(VERB_DIMENSIONS[premise_dim][POSITIVE]))
    subj, obj = (premise.obj, premise.subj) if swapped else (premise.subj, premise.obj)
    verbs = [rng.choice(VERB_DIMENSIONS[outcome_dim][POSITIVE]), rng.choice(VERB_DIMENSIONS[outcome_dim][NEGATIVE])]
    if n_choices == 3:
        others = sorted(d for d in VERB_DIMENSIONS if d not in (premise_dim, outcome_dim))
        verbs.append(rng.choice(VERB_DIMENSIONS[rng.choice(others)][NEGATIVE]))
    order = list(range(n_choices))
    rng.shuffle(order)
    choices = tuple(Frame(subj, verbs[i], obj) for i in order)
    return ChoiceItem(premise, question, choices, order.index(0))


def copa_row(item: ChoiceItem, lang: LanguageDef, table: dict, idx: int) -> dict:
    row = {"premise": render(item.premise, lang, table), "question": item.question}
    row.update({f"choice{i + 1}": render(c, lang, table) for i, c in enumerate(item.choices)})
    return {**row, "label": item.label, "idx": idx}


def siqa_row(item: ChoiceItem, lang: LanguageDef, table: dict) -> dict:
    """SIQA's schema: context, question (a sentence), answerA-C, label "1".."3"."""
    question = "what happens next" if item.question == "effect" else "why did this happen"
    row = {"context": render(item.premise, lang, table), "question": question}
    row.update({f"answer{'ABC'[i]}": render(c, lang, table) for i, c in enumerate(item.choices)})
    return {**row, "label": str(item.label + 1)}


# -- retrieval ----------------------------------------------------------------------------------------


RETRIEVAL_GROUP = 4  # sentences that only the words no ladder language shares with English tell apart


def _meanings(dimensions: dict) -> dict[str, tuple[str, int]]:
    """word -> (dimension, pole): synonyms share a meaning."""
    return {w: (dim, pole) for dim, poles in dimensions.items() for pole, words in enumerate(poles) for w in words}


_VERB_MEANING, _ADJECTIVE_MEANING = _meanings(VERB_DIMENSIONS), _meanings(ADJECTIVE_DIMENSIONS)


def _with_other_meaning(rng: random.Random, word: str, meanings: dict, taken: set) -> str:
    """A word whose meaning is not in `taken` (never a synonym, which no encoder should tell apart)."""
    return rng.choice(sorted(w for w, m in meanings.items() if m not in taken and m != meanings[word]))


def group_variant(rng: random.Random, frame: Frame, verb_meanings: set) -> Frame:
    """`frame` with a verb of a meaning not in `verb_meanings` and each adjective of another meaning."""
    def entity(e):
        return replace(e, adj=_with_other_meaning(rng, e.adj, _ADJECTIVE_MEANING, set())) if e.adj else e

    verb = _with_other_meaning(rng, frame.verb, _VERB_MEANING, verb_meanings)
    return replace(frame, verb=verb, subj=entity(frame.subj), obj=entity(frame.obj))


def retrieval_frames(rng: random.Random, sampler: FrameSampler, n: int, english: dict) -> list[Frame]:
    """`n` frames with distinct English sentences (each has one right match), in groups of RETRIEVAL_GROUP that
    share every word a ladder language may share with English (names, digits, nouns, places, function words)
    and differ in the meanings of the verb and the adjectives, which no language shares. Token identity
    (an untrained encoder, as the notes warn) finds a sentence's group; only an encoder that aligned the
    verbs and adjectives finds the sentence. A group's sentences stay together, so the first N rows (what
    `max_eval_samples` keeps) hold whole groups: spread through the set, a prefix of it kept about one
    sentence per group and the control matched 57% of `rlx` by token identity (measured)."""
    frames, seen = [], set()
    en = LADDER_BY_CODE["en"]
    while len(frames) < n:
        group = [sampler.frame(rng)]
        while len(group) < RETRIEVAL_GROUP:
            group.append(group_variant(rng, group[0], {_VERB_MEANING[f.verb] for f in group}))
        sentences = [render(f, en, english) for f in group]
        if len(set(sentences)) == len(sentences) and not seen.intersection(sentences):
            seen.update(sentences)
            frames += group
    return frames[:n]


def tatoeba_rows(frames: list[Frame], code: str, tables: dict) -> list[dict]:
    lang, en = LADDER_BY_CODE[code], LADDER_BY_CODE["en"]
    return [{"source_sentence": render(f, lang, tables[code]), "target_sentence": render(f, en, tables["en"]),
             "source_lang": code, "target_lang": "en"} for f in frames]


def bucc_rows(rng: random.Random, frames: list[Frame], code: str, tables: dict) -> list[dict]:
    """A third of the frames are gold pairs; a third appear only in `code`, a third only in English (no
    translation on the other side). Rows are shuffled; ids number each side in order of appearance."""
    lang, en = LADDER_BY_CODE[code], LADDER_BY_CODE["en"]
    n = len(frames) // 3
    kinds = ["pair"] * n + ["source"] * n + ["target"] * (len(frames) - 2 * n)
    rng.shuffle(kinds)
    rows, n_source, n_target = [], 0, 0
    for frame, kind in zip(frames, kinds):
        row = {"source_id": None, "source_sentence": None, "target_id": None, "target_sentence": None,
               "source_lang": code, "target_lang": "en"}
        if kind in ("pair", "source"):
            n_source += 1
            row.update(source_id=f"{code}-{n_source:06d}", source_sentence=render(frame, lang, tables[code]))
        if kind in ("pair", "target"):
            n_target += 1
            row.update(target_id=f"en-{n_target:06d}", target_sentence=render(frame, en, tables["en"]))
        rows.append(row)
    return rows


# -- files --------------------------------------------------------------------------------------------


def world_task_langs(task: str, langs: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(code for code in langs if code != "en") if task in RETRIEVAL_TASKS else tuple(langs)


def task_files(task: str, directory: Path, langs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """`{split: {lang: path}}`: English for the training splits, every test language for the rest."""
    root = Path(directory) / "tasks" / task
    out = {}
    for split in TASK_SPLITS[task]:
        split_langs = world_task_langs(task, langs) if split == "test" or task in RETRIEVAL_TASKS else ("en",)
        out[split] = {code: str(root / f"{split}-{code}.jsonl") for code in split_langs}
    return out


def _write_jsonl(path: str, rows: list[dict]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _split_size(preset, split: str) -> int:
    return {"intermediate": preset.n_train, "train": preset.n_train, "validation": preset.n_dev,
            "test": preset.n_test}[split]


# Each generator: (task, split, n, rng, preset, sampler, tables, questions, langs) -> {lang: rows} of one split;
# the items are drawn once, then rendered in each language (parallel test sets).


def _tagging_rows(task, split, n, rng, preset, sampler, tables, questions, langs):
    frames = [sampler.frame(rng) for _ in range(n)]
    return {c: [tagging_row(f, LADDER_BY_CODE[c], tables[c], task) for f in frames] for c in langs}


def _qa_rows(task, split, n, rng, preset, sampler, tables, questions, langs):
    items = [qa_item(rng, sampler) for _ in range(n)]
    return {c: [{"id": f"{split}-{i:05d}", **render_qa(item, LADDER_BY_CODE[c], tables[c], questions[c])}
                for i, item in enumerate(items)] for c in langs}


def _choice_rows(task, split, n, rng, preset, sampler, tables, questions, langs):
    if split == "intermediate":  # SIQA-like: three answers (read as the task `siqa`)
        items = [copa_item(rng, sampler, n_choices=3) for _ in range(n)]
        return {c: [siqa_row(item, LADDER_BY_CODE[c], tables[c]) for item in items] for c in langs}
    items = [copa_item(rng, sampler) for _ in range(n)]
    return {c: [copa_row(item, LADDER_BY_CODE[c], tables[c], i) for i, item in enumerate(items)] for c in langs}


def _tatoeba_rows(task, split, n, rng, preset, sampler, tables, questions, langs):
    frames = retrieval_frames(rng, sampler, n, tables["en"])
    return {c: tatoeba_rows(frames, c, tables) for c in langs}


def _bucc_rows(task, split, n, rng, preset, sampler, tables, questions, langs):
    frames = retrieval_frames(rng, sampler, n, tables["en"])
    return {c: bucc_rows(random.Random(f"{task}|{split}|{preset.seed}|{c}"), frames, c, tables) for c in langs}


ROW_GENERATORS = {"udpos": _tagging_rows, "panx": _tagging_rows, "xquad": _qa_rows, "xcopa": _choice_rows,
                  "tatoeba": _tatoeba_rows, "bucc2018": _bucc_rows, "lareqa": ranking_rows, "mewslix": ranking_rows}


def task_rows(task: str, split: str, preset, sampler: FrameSampler, tables: dict, questions: dict,
              langs: tuple[str, ...]) -> dict[str, list[dict]]:
    """{lang: rows} of one split of `task`, from its generator and a string-seeded random.Random."""
    rng = random.Random(f"{task}|{split}|{preset.seed}")
    return ROW_GENERATORS[task](task, split, _split_size(preset, split), rng, preset, sampler, tables, questions,
                                langs)


def write_xtreme_task_files(preset, directory: Path) -> None:
    """Every task of XTREME_WORLD_TASKS, every split, in the layout `task_files` names."""
    sampler = FrameSampler(build_semantics(preset.seed))
    tables = {c: translation_table(LADDER_BY_CODE[c], preset.seed) for c in preset.langs}
    questions = {c: question_table(LADDER_BY_CODE[c], preset.seed) for c in preset.langs}
    for task in XTREME_WORLD_TASKS:
        for split, paths in task_files(task, directory, preset.langs).items():
            rows = task_rows(task, split, preset, sampler, tables, questions, tuple(paths))
            for code, path in paths.items():
                _write_jsonl(path, rows[code])
    for task in XTREME_WORLD_TASKS:  # Mewsli-X's candidate set, beside its test files
        write_candidate_set(task, preset, Path(directory) / "tasks" / task, sampler, tables)
