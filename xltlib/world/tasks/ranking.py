"""LAReQA- and Mewsli-X-shaped ranking tasks of the embedded world, written in the files their real loaders read
(`xltlib.data_xtreme`: SQuAD-shaped rows with XQuAD-R's `sentence_breaks`; Mewsli-X's release records).

- lareqa: the world's QA items (`qa_item`, `render_qa`); a question in each language; the candidates are the
  sentences of every context in every language; the relevant ones are the answer's sentence in each language.
  The question restates the asked sentence with synonyms (a verb, adjective or noun with one is replaced by it),
  so it shares with its answer only words that many sentences share (names, digits, places, times).
- mewslix: mentions of named entities in context -> English entity descriptions. Every name is shared by one
  entity per verb meaning (VERB_DIMENSIONS' dimension and pole: "omar, who helps" / "omar, who hurts"); a
  description says what its entity does with one verb of its meaning, a mention's sentence with the other
  (its synonym), and the rest of both sentences is drawn at random. Token identity finds the name, never the
  entity: only an encoder that knows the mention's verb means the description's tells the same-name entities
  apart. Training and dev mention half of the entities, tests the other half (new entities at test time, as
  Mewsli-X; every name and every verb meaning is seen in training, in other combinations); the candidate set
  holds every entity.
Test sets are parallel across languages; every random draw comes from a string-seeded `random.Random`.
"""
from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

from ..grammar import LADDER_BY_CODE, LEXICON, NAMES, VERB_DIMENSIONS, Entity, Frame, FrameSampler, render, render_roles
from .qa import SENTENCE_SEPARATOR, qa_item, question_word, render_qa

RANKING_TASKS = ("lareqa", "mewslix")
CANDIDATE_SET = "candidate_set_entities.jsonl"  # as Mewsli-X's release names it, beside the mention files
VERB_MEANINGS = tuple((dim, pole) for dim in VERB_DIMENSIONS for pole in (0, 1))


def test_entity(name: str, meaning: tuple[str, int]) -> bool:
    """Half of each name's entities (and of each meaning's) are mentioned in tests only: a checkerboard."""
    return (NAMES.index(name) + VERB_MEANINGS.index(meaning)) % 2 == 1


def sentence_breaks(context: str) -> list[list[int]]:
    """[start, end] of each sentence of a context joined by " <SENTENCE_SEPARATOR> " (the separator left out)."""
    spans, start, separator = [], 0, f" {SENTENCE_SEPARATOR} "
    while True:
        end = context.find(separator, start)
        spans.append([start, len(context) if end < 0 else end])
        if end < 0:
            return spans
        start = end + len(separator)


def _synonym(word: str) -> str:
    synonyms = LEXICON.synonyms.get(word) or ()
    return synonyms[0] if synonyms else word


def paraphrased_question(item, lang, table: dict, questions: dict) -> str:
    """The asked sentence, its asked role (and a place's preposition) replaced by the question word, every other
    word with a synonym replaced by it."""
    out, word = [], questions[question_word(item)]
    for english, role in render_roles(item.frames[item.asked], lang):
        if role == item.role or (item.role == "place" and role == "prep"):
            if word not in out:
                out.append(word)
            continue
        out.append(table[_synonym(english)])
    return " ".join(out)


def lareqa_rows(rng: random.Random, sampler: FrameSampler, n: int, split: str, tables: dict, questions: dict,
                langs) -> dict[str, list[dict]]:
    items = [qa_item(rng, sampler) for _ in range(n)]
    out = {}
    for code in langs:
        lang, rows = LADDER_BY_CODE[code], []
        for i, item in enumerate(items):
            qa = render_qa(item, lang, tables[code], questions[code])
            rows.append({"id": f"{split}-{i:05d}", "context": qa["context"],
                         "question": paraphrased_question(item, lang, tables[code], questions[code]),
                         "answers": qa["answers"], "sentence_breaks": sentence_breaks(qa["context"])})
        out[code] = rows
    return out


# -- Mewsli-X-like ------------------------------------------------------------------------------------


def entity_id(name: str, meaning: tuple[str, int]) -> str:
    return f"Q{NAMES.index(name) + 1}{VERB_MEANINGS.index(meaning) + 1:02d}"


def entity_frames(seed: int, sampler: FrameSampler) -> dict[str, Frame]:
    """{entity id: the frame its description renders}: its name as subject, the first verb of its meaning."""
    rng, out = random.Random(f"mewslix|entities|{seed}"), {}
    for name in NAMES:
        for meaning in VERB_MEANINGS:
            frame = sampler.frame(rng)
            out[entity_id(name, meaning)] = replace(frame, subj=Entity(name=name), time_first=False,
                                                    verb=VERB_DIMENSIONS[meaning[0]][meaning[1]][0])
    return out


def entity_record(eid: str, frame: Frame, english: dict) -> dict:
    text = render(frame, LADDER_BY_CODE["en"], english)
    return {"entity_id": eid, "title": frame.subj.name, "description": text,
            "sentence_spans": [{"start": 0, "end": len(text)}], "description_language": "en",
            "description_url": f"world://entity/{eid}"}


def _context(frames: list[Frame], mention_at: int, lang, table: dict, document_id: str) -> tuple[dict, dict]:
    """(context record, mention span): the frames as sentences; the mention is the subject (a name) of
    frame `mention_at`."""
    words, spans, span = [], [], None
    for i, frame in enumerate(frames):
        if i:
            words.append(SENTENCE_SEPARATOR)
        start = len(" ".join(words)) + (1 if words else 0)
        roles = render_roles(frame, lang)
        if i == mention_at:
            k = next(k for k, (_, role) in enumerate(roles) if role == "subj")
            before = " ".join(table[w] for w, _ in roles[:k])
            name = table[roles[k][0]]
            offset = start + len(before) + (1 if before else 0)
            span = {"start": offset, "end": offset + len(name), "text": name}
        sentence = " ".join(table[w] for w, _ in roles)
        words.append(sentence)
        spans.append({"start": start, "end": start + len(sentence)})
    text = " ".join(words)
    assert text[span["start"]:span["end"]] == span["text"]
    return ({"document_title": document_id, "document_url": f"world://{document_id}", "document_id": document_id,
             "language": lang.code, "text": text, "sentence_spans": spans}, span)


def mewslix_rows(rng: random.Random, sampler: FrameSampler, n: int, split: str, seed: int, tables: dict,
                 langs) -> dict[str, list[dict]]:
    """Training and dev: English Wikipedia-like mention-entity pairs; test: WikiNews-like articles with one
    mention each, in every language (parallel)."""
    entities = entity_frames(seed, sampler)
    mentioned = [(name, meaning) for name in NAMES for meaning in VERB_MEANINGS
                 if test_entity(name, meaning) == (split == "test")]
    items = []
    for _ in range(n):
        name, meaning = rng.choice(mentioned)
        mention = replace(sampler.frame(rng), subj=Entity(name=name),
                          verb=VERB_DIMENSIONS[meaning[0]][meaning[1]][1])  # the synonym of the description's
        frames, at = [sampler.frame(rng)], rng.randrange(2)
        frames.insert(at, mention)
        items.append((entity_id(name, meaning), frames, at))
    out = {}
    for code in langs:
        lang, rows = LADDER_BY_CODE[code], []
        for i, (eid, frames, at) in enumerate(items):
            example_id = f"{split}-{code}-{i:05d}"
            context, span = _context(frames, at, lang, tables[code], f"{code}-{split}-{i:05d}")
            mention = {"example_id": example_id, "mention_span": span, "entity_id": eid}
            if split == "test":
                rows.append({"context": context, "mentions": [mention]})
            else:
                rows.append({"contextual_mention": {"context": context, "mention": mention},
                             "entity": entity_record(eid, entities[eid], tables["en"])})
        out[code] = rows
    return out


def ranking_rows(task: str, split: str, n: int, rng: random.Random, preset, sampler: FrameSampler, tables: dict,
                 questions: dict, langs) -> dict[str, list[dict]]:
    if task == "lareqa":
        return lareqa_rows(rng, sampler, n, split, tables, questions, langs)
    return mewslix_rows(rng, sampler, n, split, preset.seed, tables, langs)


def write_candidate_set(task: str, preset, folder: Path, sampler: FrameSampler, tables: dict) -> None:
    """Mewsli-X's candidate set (every entity of the world) beside its mention files; LAReQA has none."""
    if task != "mewslix":
        return
    records = [entity_record(eid, frame, tables["en"]) for eid, frame in entity_frames(preset.seed, sampler).items()]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CANDIDATE_SET).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                        encoding="utf-8")
