"""The embedded world's grammar: an English lexicon with lexical relations, event frames, and a ladder of
derived languages that render the same frame in their own words and word order.

The lexicon is small on purpose (~70 words: a tiny encoder aligns languages better with fewer words) and
carries the relations the tasks ask about: synonyms, antonyms, hypernyms, co-hyponyms. Target languages
relexify every word into a pseudo-word in their own script (a stable CRC32 hash, never Python's `hash()`,
which changes per process) and step away from English one property at a time.
"""
from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field, replace

from ..core.languages import LANGUAGES, Language

# ---------------------------------------------------------------------------------------------------
# Lexicon. Every content word belongs to a class; adjectives and verbs come in dimensions with two
# opposite poles of two synonyms each, so synonym / antonym / unrelated are all defined for every word.
NOUN_CATEGORIES = {
    "animal": (("dog", "hound"), ("cat",), ("horse",), ("bird",), ("cow",)),
    "person": (("man", "guy"), ("woman", "lady"), ("child", "kid"), ("farmer",), ("teacher",)),
}
ADJECTIVE_DIMENSIONS = {
    "size": (("big", "large"), ("small", "little")),
    "age": (("old", "aged"), ("young", "youthful")),
    "mood": (("happy", "glad"), ("sad", "gloomy")),
    "speed": (("fast", "quick"), ("slow", "sluggish")),
}
VERB_DIMENSIONS = {
    "affection": (("loves", "adores"), ("hates", "loathes")),
    "help": (("helps", "assists"), ("hurts", "harms")),
    "motion": (("pushes", "shoves"), ("pulls", "drags")),
    "attention": (("follows", "chases"), ("avoids", "ignores")),
}
NAMES = ("anna", "tom", "maria", "omar", "lena", "ravi")  # shared anchors, like real named entities
NUMBERS = ("2", "3", "4", "5", "6", "7")  # shared anchors, like digits across real scripts
PLACES = ("garden", "park", "house", "field", "river", "forest")
PREPOSITIONS = ("in", "near")
TIMES = ("today", "yesterday", "tonight", "often")
FUNCTION_WORDS = ("the",)
CASE_PARTICLES = ("<subj>", "<obj>")  # only verb-final languages realise these, as words of their own
# Discourse connectives that open a second sentence and say how it relates to the first: a restatement
# ("indeed"), a contrast ("but"), an addition ("and"). Every language has its own words for them.
CONNECTIVES = {"restatement": "indeed", "contrast": "but", "addition": "and"}


@dataclass(frozen=True)
class Lexicon:
    """Word classes and the relations between English words."""

    nouns: tuple[str, ...]
    hypernym: dict  # noun -> its category word ("dog" -> "animal")
    category_words: tuple[str, ...]
    adjectives: tuple[str, ...]
    verbs: tuple[str, ...]
    synonyms: dict  # word -> tuple of its synonyms (excluding itself)
    antonyms: dict  # word -> tuple of its antonyms
    dimension: dict  # adjective / verb -> its dimension; noun -> its category

    def all_words(self) -> tuple[str, ...]:
        return (FUNCTION_WORDS + self.category_words + self.nouns + self.adjectives + self.verbs
                + NAMES + NUMBERS + PLACES + PREPOSITIONS + TIMES + CASE_PARTICLES + tuple(CONNECTIVES.values()))


def build_lexicon() -> Lexicon:
    nouns, hypernym, synonyms, antonyms, dimension = [], {}, {}, {}, {}
    for category, synsets in NOUN_CATEGORIES.items():
        for synset in synsets:
            for word in synset:
                nouns.append(word)
                hypernym[word] = category
                dimension[word] = category
                synonyms[word] = tuple(w for w in synset if w != word)
    adjectives, verbs = [], []
    for table, out in ((ADJECTIVE_DIMENSIONS, adjectives), (VERB_DIMENSIONS, verbs)):
        for dim, (pole_a, pole_b) in table.items():
            for pole, other in ((pole_a, pole_b), (pole_b, pole_a)):
                for word in pole:
                    out.append(word)
                    dimension[word] = dim
                    synonyms[word] = tuple(w for w in pole if w != word)
                    antonyms[word] = other
    for category in NOUN_CATEGORIES:
        dimension[category] = category
    return Lexicon(tuple(nouns), hypernym, tuple(NOUN_CATEGORIES), tuple(adjectives), tuple(verbs),
                   synonyms, antonyms, dimension)


LEXICON = build_lexicon()
WORD_CLASSES = {"nouns": LEXICON.nouns + LEXICON.category_words, "places": PLACES,
                "adjectives": LEXICON.adjectives, "verbs": LEXICON.verbs,
                "function": FUNCTION_WORDS + PREPOSITIONS + TIMES}

# ---------------------------------------------------------------------------------------------------
# Frames: who did what to whom, where and when. A frame renders to a sentence in any language.


@dataclass(frozen=True)
class Entity:
    noun: str | None = None  # a common noun (or category word) ...
    name: str | None = None  # ... or a name
    adj: str | None = None
    num: str | None = None


@dataclass(frozen=True)
class Frame:
    subj: Entity
    verb: str
    obj: Entity
    prep: str | None = None
    place: str | None = None
    time: str | None = None
    time_first: bool = False  # a meaning-preserving reordering (fronted time adverb)


@dataclass(frozen=True)
class Semantics:
    """Selectional preferences that give every word its own distribution (as in real text, where "big"
    and "small" are told apart by what they describe). Synonyms share one distribution exactly; antonyms
    and co-hyponyms differ. Without this, every adjective would have the same contexts and no amount of
    pretraining could align a target-language word with its English translation rather than its antonym.
    """

    adj_pole: dict  # profile key -> {adjective dimension: preferred pole 0/1}
    verb_pole: dict  # profile key -> {verb dimension: preferred pole 0/1}
    places: dict  # profile key -> two preferred places
    obj_category: dict  # (verb dimension, pole) -> preferred object category
    adj_dims: dict = None  # profile key -> the adjective dimensions it is usually described by
    verb_dims: dict = None  # profile key -> the verb dimensions it usually acts in
    # Collocations: each verb meaning (dimension, pole) has its own usual object (a noun synset head)
    # and place, as "feeds" goes with "the horse" and "in the stable" in every language. They make each
    # word's distribution its own; a word whose contexts look like every other word's cannot be matched
    # to its translation from monolingual text (measured: with selectional preferences alone, en->target
    # word translation from the pretrained embeddings stayed at 0.2-0.5 precision).
    verb_objects: dict = None  # (verb dimension, pole) -> object synset head
    verb_places: dict = None  # (verb dimension, pole) -> place
    strength: float = 0.95  # probability of the preferred pole (and place, and object category)
    dim_strength: float = 0.9  # probability of a preferred dimension
    collocation: float = 0.8  # probability of a verb meaning's own object and place


def _profile_key(entity: "Entity") -> str:
    if entity.name:
        return entity.name
    return _SYNSET_HEAD.get(entity.noun, entity.noun)


_SYNSET_HEAD = {w: synset[0] for synsets in NOUN_CATEGORIES.values() for synset in synsets for w in synset}


def build_semantics(seed: int) -> Semantics:
    rng = random.Random(f"semantics|{seed}")
    keys = sorted(set(_SYNSET_HEAD.values())) + list(NAMES)
    adj_pole = {k: {d: rng.randrange(2) for d in ADJECTIVE_DIMENSIONS} for k in keys}
    verb_pole = {k: {d: rng.randrange(2) for d in VERB_DIMENSIONS} for k in keys}
    places = {k: tuple(rng.sample(PLACES, 2)) for k in keys}
    categories = tuple(NOUN_CATEGORIES)
    obj_category = {(d, pole): categories[(i + pole) % 2] for i, d in enumerate(VERB_DIMENSIONS)
                    for pole in (0, 1)}
    adj_dims = {k: tuple(rng.sample(tuple(ADJECTIVE_DIMENSIONS), PREFERRED_DIMENSIONS)) for k in keys}
    verb_dims = {k: tuple(rng.sample(tuple(VERB_DIMENSIONS), PREFERRED_DIMENSIONS)) for k in keys}
    meanings = [(d, pole) for d in VERB_DIMENSIONS for pole in (0, 1)]
    heads = {c: [synset[0] for synset in NOUN_CATEGORIES[c]] for c in NOUN_CATEGORIES}
    verb_objects, verb_places, used = {}, {}, {c: 0 for c in heads}
    for i, meaning in enumerate(meanings):
        category = obj_category[meaning]
        verb_objects[meaning] = heads[category][used[category] % len(heads[category])]
        used[category] += 1
        verb_places[meaning] = PLACES[i % len(PLACES)]
    return Semantics(adj_pole, verb_pole, places, obj_category, adj_dims, verb_dims, verb_objects, verb_places)


PREFERRED_DIMENSIONS = 1  # adjective / verb dimensions per noun or name: one makes each word's company its own


def _pick_pole(rng: random.Random, preferred: int, strength: float) -> int:
    return preferred if rng.random() < strength else 1 - preferred


class FrameSampler:
    """Draws frames from the world's distribution: subject, then verb given subject, object category
    given verb, adjectives and place given each noun."""

    def __init__(self, semantics: Semantics, p_name=0.15, p_adj=0.7, p_num=0.3, p_category=0.15,
                 p_place=0.6, p_time=0.5):
        self.sem = semantics
        self.p_name, self.p_adj, self.p_num = p_name, p_adj, p_num
        self.p_category, self.p_place, self.p_time = p_category, p_place, p_time

    def noun_of(self, rng: random.Random, category: str) -> str:
        if rng.random() < self.p_category:
            return category
        synset = rng.choice(NOUN_CATEGORIES[category])
        return rng.choice(synset)

    def profile(self, rng: random.Random, entity: Entity) -> str:
        if entity.noun in NOUN_CATEGORIES:  # a category word mixes its members' profiles
            return _SYNSET_HEAD[rng.choice(NOUN_CATEGORIES[entity.noun])[0]]
        return _profile_key(entity)

    def _dimension(self, rng: random.Random, preferred: tuple, table: dict) -> str:
        return rng.choice(preferred) if rng.random() < self.sem.dim_strength else rng.choice(tuple(table))

    def adjective_for(self, rng: random.Random, profile: str) -> str:
        dim = self._dimension(rng, self.sem.adj_dims[profile], ADJECTIVE_DIMENSIONS)
        pole = _pick_pole(rng, self.sem.adj_pole[profile][dim], self.sem.strength)
        return rng.choice(ADJECTIVE_DIMENSIONS[dim][pole])

    def entity(self, rng: random.Random, category: str, allow_name=True) -> Entity:
        if allow_name and category == "person" and rng.random() < self.p_name * 2:
            return Entity(name=rng.choice(NAMES))
        noun = self.noun_of(rng, category)
        entity = Entity(noun=noun, num=rng.choice(NUMBERS) if rng.random() < self.p_num else None)
        if rng.random() < self.p_adj:
            entity = replace(entity, adj=self.adjective_for(rng, self.profile(rng, entity)))
        return entity

    def entity_of(self, rng: random.Random, head: str, num: str | None) -> Entity:
        """A noun of the synset headed by `head` (either synonym), with an adjective as usual."""
        synset = next(s for synsets in NOUN_CATEGORIES.values() for s in synsets if s[0] == head)
        entity = Entity(noun=rng.choice(synset), num=num)
        if rng.random() < self.p_adj:
            entity = replace(entity, adj=self.adjective_for(rng, _profile_key(entity)))
        return entity

    def frame(self, rng: random.Random) -> Frame:
        subj = self.entity(rng, rng.choice(tuple(NOUN_CATEGORIES)))
        profile = self.profile(rng, subj)
        dim = self._dimension(rng, self.sem.verb_dims[profile], VERB_DIMENSIONS)
        pole = _pick_pole(rng, self.sem.verb_pole[profile][dim], self.sem.strength)
        verb = rng.choice(VERB_DIMENSIONS[dim][pole])
        preferred = self.sem.obj_category[(dim, pole)]
        category = preferred if rng.random() < self.sem.strength else rng.choice(tuple(NOUN_CATEGORIES))
        obj = self.entity(rng, category)
        if obj.noun and rng.random() < self.sem.collocation:
            obj = self.entity_of(rng, self.sem.verb_objects[(dim, pole)], obj.num)
        prep = place = None
        if rng.random() < self.p_place:
            prep = rng.choice(PREPOSITIONS)
            if rng.random() < self.sem.collocation:
                place = self.sem.verb_places[(dim, pole)]
            else:
                place = (rng.choice(self.sem.places[profile]) if rng.random() < self.sem.strength
                         else rng.choice(PLACES))
        time = rng.choice(TIMES) if rng.random() < self.p_time else None
        return Frame(subj, verb, obj, prep, place, time, time_first=bool(time) and rng.random() < 0.3)


# ---------------------------------------------------------------------------------------------------
# The ladder of languages.


@dataclass(frozen=True)
class LanguageDef:
    code: str
    name: str
    rung: int  # distance from English: each rung adds one difference
    alphabet: str = ""  # the script of its pseudo-words ("" = English itself)
    adj_after_noun: bool = False
    verb_final: bool = False  # SOV, postpositions, case particles
    shared_anchors: bool = True  # names and digits written as in English
    # Word classes spelled as in English (cognates, loanwords, shared named entities): the anchors in whose
    # contexts a pretrained encoder aligns the words that are not shared. Near languages share more.
    shared_classes: tuple[str, ...] = ()
    # Share of this language's pretraining sentences that carry inline English glosses ("... lobr loves
    # ..."): how much its text mixes with English (glosses, loans, code-switching), which falls with
    # distance. A tiny encoder aligns words through such local evidence; through parallel sentences (TLM)
    # hardly at all, since that needs attention across sentences it barely learns (measured).
    gloss_share: float = 0.0
    low_resource: bool = False  # pretrained on a small share of the corpus
    grammar_of: str = ""  # a language with this one's grammar and full data, for contrast ("" = none)
    description: str = ""
    lexicon_map: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_source(self) -> bool:
        return self.alphabet == ""


LADDER = (
    LanguageDef("en", "English (source)", 0, description="the source language of every task"),
    LanguageDef("rlx", "Relexified", 1, alphabet="бвгдклмнпрстфхжзаеиоуыэюя",
                shared_classes=("nouns", "places", "function"), gloss_share=0.3,
                description="English grammar and most words; new words for verbs and adjectives"),
    LanguageDef("adn", "Adjective-after-noun", 2, alphabet="βγδζθκλμνξπρστφχψαεηιουω",
                adj_after_noun=True, shared_classes=("nouns", "places", "function"), gloss_share=0.2,
                description="as 'rlx', with adjectives after the noun"),
    # A tenth of the pretraining data is one more difference from English than `adn`'s, so `low` stands a rung
    # further out: its gap over the control, against `adn`'s, is the world's measure of what data size buys.
    LanguageDef("low", "Adjective-after-noun, low-resource", 3, alphabet="βγδζθκλμνξπρστφχψαεηιουω",
                adj_after_noun=True, low_resource=True, grammar_of="adn",
                shared_classes=("nouns", "places", "function"), gloss_share=0.2,
                description="as 'adn' (own words), with a tenth of the pretraining data"),
    LanguageDef("vfc", "Verb-final with case particles", 3, alphabet="ბგდვზთკლმნპრსტფქღყშჩცაეიოუ",
                adj_after_noun=True, verb_final=True, shared_classes=("places",), gloss_share=0.1,
                description="SOV order, postpositions, case particles; nouns relexified"),
    LanguageDef("vfx", "Verb-final, no shared anchors", 4, alphabet="բգդզթժլխծկհձղճմյնշչպջռսվտրցփքաեըիոու",
                adj_after_noun=True, verb_final=True, shared_anchors=False, gloss_share=0.05,
                description="as 'vfc', and names and digits are relexified too"),
)
LADDER_BY_CODE = {lang.code: lang for lang in LADDER}

for _lang in LADDER:
    if _lang.code != "en":  # English is already registered as a real language
        LANGUAGES.register(_lang.code, Language(_lang.code, _lang.name, "embedded", _lang.rung,
                                                _lang.description))


def _pseudo_word(word: str, lang: LanguageDef, seed: int) -> str:
    """A stable pseudo-word for `word` in `lang`'s script: CRC32 of (seed, language, word)."""
    h = zlib.crc32(f"{seed}|{lang.code}|{word}".encode())
    letters = lang.alphabet
    length = 3 + h % 4
    out = []
    for _ in range(length):
        h = zlib.crc32(h.to_bytes(4, "little"))
        out.append(letters[h % len(letters)])
    return "".join(out)


def translation_table(lang: LanguageDef, seed: int) -> dict[str, str]:
    """English word -> word of `lang`; injective (collisions get a suffix letter)."""
    if lang.is_source:
        return {w: w for w in LEXICON.all_words()}
    table, used = {}, set()
    shared = {w for cls in lang.shared_classes for w in WORD_CLASSES[cls]}
    for word in LEXICON.all_words():
        if (lang.shared_anchors and (word in NAMES or word in NUMBERS)) or word in shared:
            table[word] = word
        elif word in CASE_PARTICLES and not lang.verb_final:
            continue
        else:
            candidate, salt = _pseudo_word(word, lang, seed), 0
            while candidate in used:
                salt += 1
                candidate = _pseudo_word(f"{word}#{salt}", lang, seed)
            table[word] = candidate
        used.add(table[word])
    return table


def render_entity(entity: Entity, lang: LanguageDef) -> list[str]:
    """English-word tokens of an entity in `lang`'s order (translation happens afterwards)."""
    if entity.name:
        return [entity.name]
    words = ["the"]
    if entity.num:
        words.append(entity.num)
    if lang.adj_after_noun:
        words += [entity.noun] + ([entity.adj] if entity.adj else [])
    else:
        words += ([entity.adj] if entity.adj else []) + [entity.noun]
    return words


def render_roles(frame: Frame, lang: LanguageDef) -> list[tuple[str, str]]:
    """The frame as (English word, role) pairs, ordered the way `lang` orders them. Roles: subj, obj, verb,
    place (the place and its article), prep, case (a case particle), time. The one definition of word
    order: tagging and QA read their labels and answer spans off these roles."""
    subj = [(w, "subj") for w in render_entity(frame.subj, lang)]
    obj = [(w, "obj") for w in render_entity(frame.obj, lang)]
    place = []
    if frame.place:
        phrase = [("the", "place"), (frame.place, "place")]
        place = phrase + [(frame.prep, "prep")] if lang.verb_final else [(frame.prep, "prep")] + phrase
    if lang.verb_final:
        core = subj + [("<subj>", "case")] + obj + [("<obj>", "case")] + place + [(frame.verb, "verb")]
    else:
        core = subj + [(frame.verb, "verb")] + obj + place
    if frame.time:
        return [(frame.time, "time")] + core if frame.time_first else core + [(frame.time, "time")]
    return core


def render_english_order(frame: Frame, lang: LanguageDef) -> list[str]:
    """The frame as English words, ordered the way `lang` orders them."""
    return [word for word, _ in render_roles(frame, lang)]


def render(frame: Frame, lang: LanguageDef, table: dict[str, str]) -> str:
    return " ".join(table[w] for w in render_english_order(frame, lang))
