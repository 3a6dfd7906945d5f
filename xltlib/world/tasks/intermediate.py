"""Phang et al.'s (AACL 2020) intermediate tasks in the embedded world: one task shaped like each family, drawn from
the world's frames and written in the hub schema of its real task (GLUE's MNLI, QQP and SST-2; SQuAD; HellaSwag;
Cosmos QA; CommonsenseQA; CCG supertags as token/tag lines), so the catalogue entry and handler of the real task read
it unchanged. Every task is written in every language of the world: English train has TRAIN_SCALE times the target
tasks' `n_train` rows; each other language's train holds the first `n_train` English items rendered in it (so
`max_train_samples: n_train` compares English with a target language on the same items); validation has `n_dev`
items in every language, parallel. Each task's docstring says which skills it shares with which target task:
whether it helps is what the notebooks measure, and nothing here is tuned towards a result.
"""
from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

from ..grammar import (ADJECTIVE_DIMENSIONS, LADDER_BY_CODE, LEXICON, NAMES, NOUN_CATEGORIES, NUMBERS, PLACES,
                       VERB_DIMENSIONS, Frame, FrameSampler, build_semantics, render, render_roles,
                       translation_table)
from .pairs import CONTRADICTION, ENTAILMENT, NEUTRAL, reword, substitute
from .qa import QAItem, _question, qa_item, question_table, question_word, render_qa

INTERMEDIATE_WORLD_TASKS = ("mnli", "qqp", "squad", "hellaswag", "cosmosqa", "commonsenseqa", "sst2", "ccg")
SPLITS = ("train", "validation")
TRAIN_SCALE = 3  # English intermediate train rows per target-task train row (Phang et al.'s: MNLI 393k, ~1x-50x)


def intermediate_files(task: str, directory: Path, langs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    root = Path(directory) / "tasks" / task
    return {split: {code: str(root / f"{split}-{code}.jsonl") for code in langs} for split in SPLITS}


def split_size(preset, split: str, code: str) -> int:
    if split == "validation":
        return preset.n_dev
    return preset.n_train * (TRAIN_SCALE if LADDER_BY_CODE[code].is_source else 1)


def _meaning(word: str, table: dict) -> tuple[str, int]:
    """(dimension, pole) of an adjective or verb: synonyms share a meaning."""
    return next((d, p) for d, poles in table.items() for p, words in enumerate(poles) if word in words)


# -- mnli ------------------------------------------------------------------------------------------------------
# Phenomena by label. Entailment: a synonym for an adjective or the verb; a noun replaced by its hypernym (dog ->
# animal); a number dropped; an adjective dropped. Neutral: an adjective of another dimension; a category word
# replaced by one of its members (hyponym: animal -> dog); subject and object swapped (every verb of the world is
# asymmetric: "anna helps tom" says nothing of "tom helps anna"); an adjective added. Contradiction: an antonym for an
# adjective or the verb; a number changed.
MNLI_PHENOMENA = {ENTAILMENT: ("synonym", "hypernym", "number_drop", "adjective_drop"),
                  NEUTRAL: ("other_dimension", "hyponym", "role_swap", "adjective_add"),
                  CONTRADICTION: ("antonym", "number_change")}


def _mnli_premise(rng, sampler, phenomenon: str) -> Frame:
    """A frame with what `phenomenon` changes: a common noun subject with a number and an adjective, and (for
    hyponym) a category word; an object without an adjective for adjective_add."""
    frame = sampler.frame(rng)
    subj = sampler.entity(rng, rng.choice(tuple(NOUN_CATEGORIES)), allow_name=False)
    noun = subj.noun
    if phenomenon == "hyponym":
        noun = LEXICON.hypernym.get(noun, noun)
    elif phenomenon == "hypernym" and noun in NOUN_CATEGORIES:
        noun = rng.choice(rng.choice(NOUN_CATEGORIES[noun]))
    subj = replace(subj, noun=noun, num=subj.num or rng.choice(NUMBERS), adj=subj.adj or rng.choice(LEXICON.adjectives))
    obj = replace(frame.obj, adj=None) if phenomenon == "adjective_add" else frame.obj
    return replace(frame, subj=subj, obj=obj)


def mnli_pair(rng: random.Random, sampler: FrameSampler) -> tuple[Frame, Frame, int, str]:
    """MNLI-like: a large NLI task whose hypothesis differs from the premise by one of ten phenomena
    (MNLI_PHENOMENA), the label uniform, then the phenomenon uniform within it. Shares with XNLI-like its labels and
    the synonym / antonym / other-dimension substitutions of adjectives that the lexical XNLI design asks about (and
    of verbs, as the relational one does), and adds phenomena no target asks about (hypernyms, numbers, roles).
    Like MNLI's (Gururangan et al., NAACL 2018), some hypotheses alone hint at their label: premises' subjects have a
    number and an adjective (but in adjective_add, whose hypothesis then gains one), so a hypothesis whose subject
    lacks either comes from number_drop, adjective_drop (entailment) or role_swap (neutral)."""
    label = rng.randrange(3)
    phenomenon = rng.choice(MNLI_PHENOMENA[label])
    first = _mnli_premise(rng, sampler, phenomenon)
    subj, obj = first.subj, first.obj
    if phenomenon in ("synonym", "antonym", "other_dimension"):
        how = {"synonym": ENTAILMENT, "antonym": CONTRADICTION, "other_dimension": NEUTRAL}[phenomenon]
        if rng.random() < 0.5:
            second = replace(first, subj=replace(subj, adj=substitute(rng, subj.adj, how, ADJECTIVE_DIMENSIONS)))
        else:
            second = replace(first, verb=substitute(rng, first.verb, how, VERB_DIMENSIONS))
    elif phenomenon in ("hypernym", "hyponym"):
        noun = (LEXICON.hypernym[subj.noun] if phenomenon == "hypernym"
                else rng.choice(rng.choice(NOUN_CATEGORIES[subj.noun])))
        second = replace(first, subj=replace(subj, noun=noun))
    elif phenomenon == "number_drop":
        second = replace(first, subj=replace(subj, num=None))
    elif phenomenon == "number_change":
        second = replace(first, subj=replace(subj, num=rng.choice([n for n in NUMBERS if n != subj.num])))
    elif phenomenon == "adjective_drop":
        second = replace(first, subj=replace(subj, adj=None))
    elif phenomenon == "adjective_add":
        if obj.noun:
            second = replace(first, obj=replace(obj, adj=rng.choice(LEXICON.adjectives)))
        else:  # a name takes no adjective: the subject gains one instead
            first = replace(first, subj=replace(subj, adj=None))
            second = replace(first, subj=subj)
    else:  # role_swap
        second = replace(first, subj=obj, obj=subj)
    return first, second, label, phenomenon


def _mnli_row(item, code, table, questions, i):
    first, second, label, _ = item
    lang = LADDER_BY_CODE[code]
    return {"premise": render(first, lang, table), "hypothesis": render(second, lang, table), "label": label, "idx": i}


# -- qqp --------------------------------------------------------------------------------------------------------

def qqp_pair(rng: random.Random, sampler: FrameSampler) -> tuple[Frame, Frame, str, str, int]:
    """QQP-like: two questions about frames (a role replaced by its question word, as the XQuAD-like questions are),
    duplicates (1) when the second restates the first with its verb and adjectives replaced by synonyms (and the
    time adverb perhaps fronted); not duplicates (0) when one of those words becomes an antonym or a word of another
    dimension, or the second asks about another role of the same frame. Shares with PAWS-X-like the synonym-or-not
    decision over two sentences, and with XQuAD-like its question words; its sentences are questions, which no
    target's training sentences are."""
    frame = sampler.frame(rng)
    roles = ("subj", "obj") + (("place",) if frame.place else ())
    asked = rng.choice(roles)
    label = rng.randrange(2)

    def reworded(how_first: int) -> Frame:
        slots = [r for r in ("subj", "obj") if getattr(frame, r).adj] + ["verb"]
        rng.shuffle(slots)
        return reword(rng, frame, slots, how_first)

    second, asked_second = frame, asked
    if label:
        second = reworded(ENTAILMENT)
        if second.time and rng.random() < 0.5:
            second = replace(second, time_first=not second.time_first)
    elif rng.random() < 0.25 and len(roles) > 1:
        asked_second = rng.choice([r for r in roles if r != asked])
    else:
        second = reworded(rng.choice((NEUTRAL, CONTRADICTION)))
    return frame, second, asked, asked_second, label


def _qa_question(frame: Frame, role: str, code: str, table: dict, questions: dict) -> str:
    word = question_word(QAItem((frame,), 0, role))
    return _question(render_roles(frame, LADDER_BY_CODE[code]), role, questions[word], table)


def _qqp_row(item, code, table, questions, i):
    first, second, asked, asked_second, label = item
    return {"id": i, "qid1": 2 * i + 1, "qid2": 2 * i + 2,
            "question1": _qa_question(first, asked, code, table, questions),
            "question2": _qa_question(second, asked_second, code, table, questions), "label": label, "idx": i}


# -- squad ------------------------------------------------------------------------------------------------------

def squad_item(rng: random.Random, sampler: FrameSampler):
    """SQuAD-like: XQuAD-like items (the same question and answer design, `qa.qa_item`) over contexts of two or three
    frames, drawn apart from XQuAD-like's (another seed). SQuAD is what XQuAD, MLQA and TyDiQA train on in reality, and
    this task shares everything with the XQuAD-like target but context length: it is more of the target's own data."""
    return qa_item(rng, sampler, n_sentences=rng.choice((2, 3)))


def _squad_row(item, code, table, questions, i):
    return {"id": f"squad-{i:06d}", "title": "world", **render_qa(item, LADDER_BY_CODE[code], table, questions)}


# -- hellaswag --------------------------------------------------------------------------------------------------
_VERB_MEANINGS = [(d, p) for d in VERB_DIMENSIONS for p in (0, 1)]
_HEADS = [synset[0] for synsets in NOUN_CATEGORIES.values() for synset in synsets]


def hellaswag_item(rng: random.Random, sampler: FrameSampler):
    """HellaSwag-like: a frame's words up to its object (in the language's order: subject and verb, or a verb-final
    language's subject and case particle), and four endings that differ in the object; the right one is the verb's
    collocated object (`Semantics.verb_objects`, the noun MLM pretraining saw with that verb 80% of the time), the
    others nouns of other synsets. Shares with XCOPA-like the multiple-choice head, and tests the selectional
    preferences MLM pretraining teaches; no target task asks about them."""
    frame = sampler.frame(rng)
    meaning = _meaning(frame.verb, VERB_DIMENSIONS)
    right = sampler.sem.verb_objects[meaning]
    wrong = rng.sample([h for h in _HEADS if h != right], 3)
    objs = [sampler.entity_of(rng, head, None) for head in [right] + wrong]
    order = list(range(4))
    rng.shuffle(order)
    frames = [replace(frame, obj=objs[k], prep=None, place=None, time=None) for k in order]
    return frames, order.index(0)


def _hellaswag_row(item, code, table, questions, i):
    frames, label = item
    lang = LADDER_BY_CODE[code]
    roles = render_roles(frames[0], lang)
    cut = next(k for k, (_, role) in enumerate(roles) if role == "obj")
    endings = [" ".join(table[w] for w, _ in render_roles(f, lang)[cut:]) for f in frames]
    return {"ind": i, "activity_label": "world", "ctx": " ".join(table[w] for w, _ in roles[:cut]), "endings": endings,
            "source_id": f"world-{i}", "split": "", "split_type": "indomain", "label": str(label)}


# -- cosmosqa ---------------------------------------------------------------------------------------------------

def cosmos_item(rng: random.Random, sampler: FrameSampler):
    """Cosmos-QA-like: a frame without its place, the question "where", and four places (with the frame's
    preposition); the right one is the verb's usual place (`Semantics.verb_places`), the others the places that are
    neither the verb's nor one of the subject's two preferred places (so no other answer is also likely). Shares with
    XQuAD-like its question word "where" and with XCOPA-like its head; what it asks (where an event usually happens)
    no target asks."""
    frame = sampler.frame(rng)
    profile = sampler.profile(rng, frame.subj)
    right = sampler.sem.verb_places[_meaning(frame.verb, VERB_DIMENSIONS)]
    wrong = [p for p in PLACES if p != right and p not in sampler.sem.places[profile]]
    places = [right] + rng.sample(wrong, 3) if len(wrong) >= 3 else None
    if places is None:  # the verb's place is one of the subject's: any three others
        places = [right] + rng.sample([p for p in PLACES if p != right], 3)
    order = list(range(4))
    rng.shuffle(order)
    prep = frame.prep or rng.choice(("in", "near"))
    return replace(frame, prep=None, place=None), [places[k] for k in order], prep, order.index(0)


def _cosmos_row(item, code, table, questions, i):
    frame, places, prep, label = item
    lang = LADDER_BY_CODE[code]
    answers = {}
    for k, place in enumerate(places):
        roles = render_roles(replace(frame, prep=prep, place=place), lang)
        answers[f"answer{k}"] = " ".join(table[w] for w, role in roles if role in ("place", "prep"))
    return {"id": f"cosmos-{i:06d}", "context": render(frame, lang, table), "question": questions["where"], **answers,
            "label": label}


# -- commonsenseqa ----------------------------------------------------------------------------------------------

def csqa_item(rng: random.Random, sampler: FrameSampler):
    """CommonsenseQA-like: a frame whose subject's adjective is asked ("the what dog loves the cat"), and five
    adjectives of five meanings; the right one has the meaning the subject is usually described by
    (`Semantics.adj_dims` and `adj_pole`), one wrong answer is its antonym, three are of other dimensions. Shares
    with XNLI-like and PAWS-X-like the adjective meanings those tasks' labels turn on (synonym, antonym, other
    dimension), read here from one sentence against the world's knowledge, not against a second sentence."""
    frame = sampler.frame(rng)
    subj = sampler.entity(rng, rng.choice(tuple(NOUN_CATEGORIES)), allow_name=False)
    if subj.noun in NOUN_CATEGORIES:
        subj = replace(subj, noun=rng.choice(rng.choice(NOUN_CATEGORIES[subj.noun])))
    profile = sampler.profile(rng, subj)
    dim = sampler.sem.adj_dims[profile][0]
    pole = sampler.sem.adj_pole[profile][dim]
    others = [(d, p) for d in ADJECTIVE_DIMENSIONS if d != dim for p in (0, 1)]
    meanings = [(dim, pole), (dim, 1 - pole)] + rng.sample(others, 3)
    words = [rng.choice(ADJECTIVE_DIMENSIONS[d][p]) for d, p in meanings]
    order = list(range(5))
    rng.shuffle(order)
    return replace(frame, subj=replace(subj, adj=words[0])), [words[k] for k in order], order.index(0)


def _csqa_row(item, code, table, questions, i):
    frame, words, label = item
    lang = LADDER_BY_CODE[code]
    question = " ".join(questions["what"] if role == "subj" and w == frame.subj.adj else table[w]
                        for w, role in render_roles(frame, lang))
    return {"id": f"csqa-{i:06d}", "question": question, "question_concept": table[frame.subj.noun],
            "choices": {"label": list("ABCDE"), "text": [table[w] for w in words]}, "answerKey": "ABCDE"[label]}


# -- sst2 -------------------------------------------------------------------------------------------------------
VALENCE_VERB_DIMENSIONS = ("affection", "help")  # pole 0 (loves, helps) positive; pole 1 (hates, hurts) negative
VALENCE_ADJECTIVE_DIMENSION = "mood"  # happy / glad positive; sad / gloomy negative
NEGATIVE, POSITIVE = 0, 1  # GLUE SST-2's label ids


def sst2_item(rng: random.Random, sampler: FrameSampler):
    """SST-2-like: one sentence, positive (1) or negative (0) by its valence: its verb is of affection or help, of
    the positive pole (loves, helps) or the negative one (hates, hurts), and half the sentences also describe the
    subject or object with a mood adjective of the same valence (happy, sad); the other adjectives carry none. Shares
    with XNLI-like's contradictions and PAWS-X-like's non-paraphrases the telling apart of a word's two poles, in one
    sentence and without comparing two."""
    label = rng.randrange(2)
    frame = sampler.frame(rng)
    pole = 0 if label == POSITIVE else 1
    frame = replace(frame, verb=rng.choice(VERB_DIMENSIONS[rng.choice(VALENCE_VERB_DIMENSIONS)][pole]))
    neutral = [w for d, poles in ADJECTIVE_DIMENSIONS.items() if d != VALENCE_ADJECTIVE_DIMENSION
               for words in poles for w in words]
    for role in ("subj", "obj"):
        entity = getattr(frame, role)
        if entity.adj:
            frame = replace(frame, **{role: replace(entity, adj=rng.choice(neutral))})
    if rng.random() < 0.5:
        role = rng.choice([r for r in ("subj", "obj") if getattr(frame, r).noun] or ["subj"])
        entity = getattr(frame, role)
        if entity.noun:
            mood = rng.choice(ADJECTIVE_DIMENSIONS[VALENCE_ADJECTIVE_DIMENSION][pole])
            frame = replace(frame, **{role: replace(entity, adj=mood)})
    return frame, label


def _sst2_row(item, code, table, questions, i):
    frame, label = item
    return {"sentence": render(frame, LADDER_BY_CODE[code], table), "label": label, "idx": i}


# -- ccg --------------------------------------------------------------------------------------------------------
_WORD_CLASS = {"the": "DET", **{w: "NUM" for w in NUMBERS}, **{w: "ADJ" for w in LEXICON.adjectives},
               **{w: "N" for w in LEXICON.nouns + LEXICON.category_words + PLACES}, **{w: "NAME" for w in NAMES},
               **{w: "V" for w in LEXICON.verbs}}
_ROLE_TAGS = {"verb": "V", "prep": "P", "case": "CASE", "time": "ADV"}  # roles whose words have one class each
def supertags(roles: list[tuple[str, str]]) -> list[str]:
    """A word's class and the role of the phrase it is in: `ADJ/obj`, `N/subj`, `DET/place`; a verb, preposition or
    time adverb its class alone; a case particle the role it marks (`CASE/subj`). Finer than UD-POS: the same noun
    is `N/subj` or `N/obj` by where it stands (English-like orders) or which particle follows it (verb-final ones),
    as a CCG supertag says how a word combines with the rest of the sentence."""
    tags = []
    for word, role in roles:
        if role in ("subj", "obj", "place"):
            tags.append(f"{_WORD_CLASS[word]}/{role}")
        elif role == "case":
            tags.append("CASE/subj" if word == "<subj>" else "CASE/obj")
        else:
            tags.append(_ROLE_TAGS[role])
    return tags


def ccg_item(rng: random.Random, sampler: FrameSampler) -> Frame:
    """CCG-like supertagging (`supertags`) of a frame's words. Shares with UD-POS-like the word classes and with
    PAN-X-like the phrase boundaries of places; it adds each phrase's role, which asks for the sentence's structure
    (word order, case particles), as CCG supertags do."""
    return sampler.frame(rng)


def _ccg_row(item, code, table, questions, i):
    roles = render_roles(item, LADDER_BY_CODE[code])
    return {"tokens": [table[w] for w, _ in roles], "ccg_tags": supertags(roles)}


# task -> (draw one item from a seeded rng and the sampler, render an item as a row of one language); the tags of
# `ccg` are the catalogue's CCG_TAGS (tests check the two agree).
INTERMEDIATE_GENERATORS = {"mnli": (mnli_pair, _mnli_row), "qqp": (qqp_pair, _qqp_row),
                           "squad": (squad_item, _squad_row), "hellaswag": (hellaswag_item, _hellaswag_row),
                           "cosmosqa": (cosmos_item, _cosmos_row),
                           "commonsenseqa": (csqa_item, _csqa_row), "sst2": (sst2_item, _sst2_row),
                           "ccg": (ccg_item, _ccg_row)}


def write_intermediate_files(preset, directory: Path) -> None:
    """Every intermediate task, train and validation, in every language (`intermediate_files`)."""
    sampler = FrameSampler(build_semantics(preset.seed))
    tables = {c: translation_table(LADDER_BY_CODE[c], preset.seed) for c in preset.langs}
    questions = {c: question_table(LADDER_BY_CODE[c], preset.seed) for c in preset.langs}
    for task, (make, row) in INTERMEDIATE_GENERATORS.items():
        for split, paths in intermediate_files(task, directory, preset.langs).items():
            rng = random.Random(f"intermediate|{task}|{split}|{preset.seed}")
            items = [make(rng, sampler) for _ in range(max(split_size(preset, split, c) for c in paths))]
            for code, path in paths.items():
                rows = [row(item, code, tables[code], questions[code], i)
                        for i, item in enumerate(items[:split_size(preset, split, code)])]
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def missing_intermediate(directory: Path, listed: dict) -> str | None:
    """What a cached world built before the intermediate tasks lacks, or None."""
    return None if any(name.startswith("tasks/mnli/") for name in listed) else \
        "tasks/mnli is missing (built before the intermediate tasks were added)"

