"""XNLI- and PAWS-X-shaped pair tasks of the embedded world, built from frames.

The hypothesis is the premise with one adjective substituted; the label depends only on the lexical
relation of the new adjective to the premise's. Every label changes exactly one token at the same slot,
so an untrained model cannot read the label off token identity, length or position (the shortcut trap in notes/embedded-world.md): knowing what the words mean,
in the language at hand, is the only way to the label.
"""
from __future__ import annotations

import random
from dataclasses import replace

from ..grammar import (ADJECTIVE_DIMENSIONS, LEXICON, NOUN_CATEGORIES, VERB_DIMENSIONS, Entity, Frame,
                      FrameSampler)

XNLI_LABELS = ("entailment", "neutral", "contradiction")
PREMISE_NLI_ADJECTIVE_DIMENSION = "mood"  # premises of nli_pair: the object is "happy" / "glad"
PREMISE_ADJECTIVE_DIMENSION = "size"  # premises of paraphrase_pair: the subject is "big" / "large"
ENTAILMENT, NEUTRAL, CONTRADICTION = range(3)


def _other_dimension_words(word: str, table: dict) -> list[str]:
    """A word of the same class from another dimension: unrelated meaning."""
    dim = LEXICON.dimension[word]
    others = [w for d, poles in table.items() if d != dim for pole in poles for w in pole]
    return others


def substitute(rng: random.Random, word: str, label: int, table: dict) -> str:
    """A word of the same class as `word` (an adjective or a verb, `table` its dimensions) whose relation
    to it gives `label`: synonym -> entailment, antonym -> contradiction, other dimension -> neutral."""
    if label == ENTAILMENT:
        return rng.choice(LEXICON.synonyms[word])
    if label == CONTRADICTION:
        return rng.choice(LEXICON.antonyms[word])
    return rng.choice(_other_dimension_words(word, table))


def reword(rng: random.Random, frame: Frame, slots: list[str], first_how: int) -> Frame:
    """`frame` with each of `slots` ("subj", "obj": that entity's adjective; "verb") replaced in turn: the first
    by a word of relation `first_how` (`substitute`), the others by synonyms, so the first decides the relation."""
    out = frame
    for i, slot in enumerate(slots):
        how = first_how if i == 0 else ENTAILMENT
        if slot == "verb":
            out = replace(out, verb=substitute(rng, frame.verb, how, VERB_DIMENSIONS))
        else:
            entity = getattr(frame, slot)
            out = replace(out, **{slot: replace(entity, adj=substitute(rng, entity.adj, how, ADJECTIVE_DIMENSIONS))})
    return out


def _with_entity(frame: Frame, role: str, entity: Entity) -> Frame:
    return replace(frame, **{role: entity})


def nli_pair(rng: random.Random, sampler: FrameSampler) -> tuple[Frame, Frame, int]:
    """XNLI-like: the hypothesis restates the premise with the object's adjective replaced.

    Premises describe the object with the first pole of one adjective dimension ("happy", "glad"); the
    hypothesis's adjective is a synonym (entailment), an antonym (contradiction) or an adjective of another
    dimension (neutral). Exactly one token differs in every class, so token identity tells nothing. The
    label is then a property of the hypothesis's adjective given what premises say: a tiny encoder cannot
    learn to compare two sentences word by word in a CPU budget (at chance after 2,400 steps, pretrained or
    not: measured), so the world's pair tasks measure the transfer of word meaning. Adjectives, not verbs:
    adjectives sit next to the shared nouns they describe and align across languages better (contextual
    en->target translation precision 0.75 vs 0.50 for verbs in the relexified language: measured), and a
    verb-based XNLI-like task collapsed to "neutral" in every target language.
    """
    label = rng.randrange(3)
    frame = sampler.frame(rng)
    obj = frame.obj if frame.obj.noun else sampler.entity(rng, "animal", allow_name=False)
    obj = replace(obj, adj=rng.choice(ADJECTIVE_DIMENSIONS[PREMISE_NLI_ADJECTIVE_DIMENSION][0]))
    first = replace(frame, obj=obj, subj=replace(frame.subj, adj=None))
    second = replace(first, obj=replace(obj, adj=substitute(rng, obj.adj, label, ADJECTIVE_DIMENSIONS)))
    return first, second, label


def paraphrase_pair(rng: random.Random, sampler: FrameSampler) -> tuple[Frame, Frame, int]:
    """PAWS-X-like: paraphrase (1) iff the subject's adjective, the sentence's only adjective, is replaced
    by a synonym; an antonym or an adjective of another dimension makes a non-paraphrase. Premise
    adjectives are the first pole of one dimension ("big", "large"), as for nli_pair. A meaning-preserving
    reordering (fronting the time adverb) is applied to either class at random."""
    label = rng.randrange(2)
    frame = sampler.frame(rng)
    subj = frame.subj if frame.subj.noun else sampler.entity(rng, "person", allow_name=False)
    subj = replace(subj, adj=rng.choice(ADJECTIVE_DIMENSIONS[PREMISE_ADJECTIVE_DIMENSION][0]))
    first = replace(frame, subj=subj, obj=replace(frame.obj, adj=None))
    new_adj = substitute(rng, subj.adj, ENTAILMENT if label else rng.choice((NEUTRAL, CONTRADICTION)),
                         ADJECTIVE_DIMENSIONS)
    second = replace(first, subj=replace(subj, adj=new_adj))
    if first.time and rng.random() < 0.5:
        second = replace(second, time_first=not second.time_first)
    return first, second, label


def random_same_class_substitution(rng: random.Random, frame: Frame) -> Frame:
    """Replace one word (verb, adjective or noun) by a random word of its class: no relation implied."""
    role, part = rng.choice([("verb", "verb")] + [(r, p) for r in ("subj", "obj") for p in ("adj", "noun")
                                                 if getattr(getattr(frame, r), p)])
    if part == "verb":
        return replace(frame, verb=rng.choice(LEXICON.verbs))
    entity = getattr(frame, role)
    pool = LEXICON.adjectives if part == "adj" else LEXICON.nouns + LEXICON.category_words
    return _with_entity(frame, role, replace(entity, **{part: rng.choice(pool)}))


# ---------------------------------------------------------------------------------------------------
# Relational pair tasks (`pair_design: relational`): the label rests on how the two sentences relate, word by
# word, and on several words at once, as in real NLI; sentence 2 alone says nothing about it.

def relational_premise(rng: random.Random, sampler: FrameSampler) -> Frame:
    """A frame whose verb and two adjectives are drawn uniformly, not from the world's preferences: otherwise an
    antonym would often be a word the noun rarely takes, and the hypothesis alone would hint at a contradiction."""
    frame = sampler.frame(rng)
    subj = sampler.entity(rng, rng.choice(tuple(NOUN_CATEGORIES)), allow_name=False)
    obj = sampler.entity(rng, rng.choice(tuple(NOUN_CATEGORIES)), allow_name=False)
    return replace(frame, subj=replace(subj, adj=rng.choice(LEXICON.adjectives)), verb=rng.choice(LEXICON.verbs),
                   obj=replace(obj, adj=rng.choice(LEXICON.adjectives)))


def related_hypothesis(rng: random.Random, first: Frame, label: int) -> Frame:
    """The premise with both adjectives and the verb replaced, each by a word in the relation `label` names:
    synonyms (entailment), antonyms (contradiction), words of another dimension (neutral). Three words carry the
    label, so no single word pair decides it, and each hypothesis word is uniform over its class whatever the
    label (a hypothesis-only model is at chance)."""
    return replace(first, verb=substitute(rng, first.verb, label, VERB_DIMENSIONS),
                   subj=replace(first.subj, adj=substitute(rng, first.subj.adj, label, ADJECTIVE_DIMENSIONS)),
                   obj=replace(first.obj, adj=substitute(rng, first.obj.adj, label, ADJECTIVE_DIMENSIONS)))


def relational_nli_pair(rng: random.Random, sampler: FrameSampler) -> tuple[Frame, Frame, int]:
    """XNLI-like, relational: entailment, neutral or contradiction by the relation of three word pairs."""
    label = rng.randrange(3)
    first = relational_premise(rng, sampler)
    return first, related_hypothesis(rng, first, label), label


def relational_paraphrase_pair(rng: random.Random, sampler: FrameSampler) -> tuple[Frame, Frame, int]:
    """PAWS-X-like, relational: a paraphrase (1) restates the premise in synonyms; a non-paraphrase contrasts
    with it (antonyms) or says something else (words of other dimensions). A meaning-preserving reordering
    (fronting the time adverb) is applied to either class at random."""
    label = rng.randrange(2)
    first = relational_premise(rng, sampler)
    second = related_hypothesis(rng, first, ENTAILMENT if label else rng.choice((NEUTRAL, CONTRADICTION)))
    if first.time and rng.random() < 0.5:
        second = replace(second, time_first=not second.time_first)
    return first, second, label


PAIR_DESIGNS = {"lexical": {"xnli": nli_pair, "pawsx": paraphrase_pair},
                "relational": {"xnli": relational_nli_pair, "pawsx": relational_paraphrase_pair}}
