"""Alignment meters for a built world's pretrained encoder: how well each language's words and sentences land
on their English counterparts, layer by layer.

Both meters centre each language's vectors on that language's mean before comparing. A tiny encoder keeps a
large per-language offset, so uncentred cosine retrieval reads near zero even where the centred one reaches
0.85 (measured on the relexified language): the offset hides the alignment that fine-tuned classifiers do not
all suffer from.
"""
from __future__ import annotations

import os
import random

import pandas as pd
import torch

from .grammar import LADDER_BY_CODE, LEXICON, FrameSampler, build_semantics, render_roles, translation_table

WORD_CLASSES = {"verbs": LEXICON.verbs, "adjectives": LEXICON.adjectives}


def _encoder(world, encoder=None):
    """The world's tokenizer and `encoder`: the world's pretrained encoder (None), a folder saved with
    `save_pretrained` (a fine-tuned or intermediate-trained model), or a model (its base encoder is used)."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(world.encoder_dir)
    if encoder is None or isinstance(encoder, (str, os.PathLike)):
        return tokenizer, AutoModel.from_pretrained(encoder or world.encoder_dir).eval()
    return tokenizer, getattr(encoder, "base_model", encoder)


def _frames(world, n: int, salt: str):
    sampler = FrameSampler(build_semantics(world.preset.seed))
    rng = random.Random(f"{salt}|{world.preset.seed}")
    return [sampler.frame(rng) for _ in range(n)]


def _centred_unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x - x.mean(0), dim=-1)


@torch.no_grad()
def _word_type_states(world, tokenizer, model, frames, code: str, words: tuple[str, ...],
                      batch_size: int = 250) -> torch.Tensor:
    """[layers, words, hidden]: each English word's translation in `code`, its hidden states averaged over
    every occurrence (first subword) in `frames`."""
    lang = LADDER_BY_CODE[code]
    table = translation_table(lang, world.preset.seed)
    index = {w: i for i, w in enumerate(words)}
    sums, counts = None, torch.zeros(len(words))
    for start in range(0, len(frames), batch_size):
        roles = [render_roles(f, lang) for f in frames[start:start + batch_size]]
        enc = tokenizer([[table[w] for w, _ in r] for r in roles], is_split_into_words=True, padding=True,
                        return_tensors="pt")
        states = torch.stack(model(**enc, output_hidden_states=True).hidden_states)  # layers, batch, tokens, hidden
        sums = torch.zeros(states.shape[0], len(words), states.shape[-1]) if sums is None else sums
        for b, sentence in enumerate(roles):
            seen = set()
            for t, word_id in enumerate(enc.word_ids(b)):
                if word_id is None or word_id in seen:
                    continue
                seen.add(word_id)
                english = sentence[word_id][0]
                if english in index:
                    sums[:, index[english]] += states[:, b, t]
                    counts[index[english]] += 1
    missing = [w for w, c in zip(words, counts) if c == 0]
    if missing:
        raise ValueError(f"word_translation_precision: {missing[:3]} never occur in {len(frames)} frames; "
                         f"use more frames")
    return sums / counts[None, :, None]


def word_translation_precision(world, langs=None, n_frames: int = 2000, encoder=None) -> pd.DataFrame:
    """Per language, layer and word class: the share of the class's words whose contextual vector in the
    language, centred, has as nearest English word vector (centred) the word itself or a synonym. Chance is
    about 1 / (number of words in the class). `encoder`: whose vectors (see `_encoder`), so the meter can be read
    before and after a stage of training, e.g. an intermediate task."""
    tokenizer, model = _encoder(world, encoder)
    was_training = model.training
    model.eval()
    try:
        return _word_translation_rows(world, tokenizer, model, langs, n_frames)
    finally:
        model.train(was_training)  # a caller's model keeps its mode


def _word_translation_rows(world, tokenizer, model, langs, n_frames: int) -> pd.DataFrame:
    frames = _frames(world, n_frames, "meter-words")
    rows = []
    for word_class, words in WORD_CLASSES.items():
        english = _word_type_states(world, tokenizer, model, frames, "en", words)
        for code in langs or world.langs:
            target = _word_type_states(world, tokenizer, model, frames, code, words)
            for layer in range(english.shape[0]):
                nearest = (_centred_unit(target[layer]) @ _centred_unit(english[layer]).T).argmax(1).tolist()
                hits = [words[j] == w or words[j] in LEXICON.synonyms[w] for w, j in zip(words, nearest)]
                rows.append({"lang": code, "layer": layer, "word_class": word_class,
                             "precision": sum(hits) / len(words)})
    return pd.DataFrame(rows)
