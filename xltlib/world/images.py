"""Pictures of the embedded world's scenes, and the world's own frozen image encoder.

`render_scene(frame)` draws a frame as a 48x48 RGB picture that depends on the scene only, never on a language (a
caption in any language of the same frame has the same picture): the subject on the left, the object on the right,
each noun a glyph of its own (synonyms are one concept, one glyph; a category word, "animal" or "person", a generic
glyph of its kind; a name a person glyph with a mark of its own), each adjective dimension a visual channel of its
own (size: the glyph's scale; age: a texture; mood: the colour; speed: motion streaks), a number as that many dots,
the verb a mark between the two (its dimension the shape, its pole the colour), the place the background and the
time a band along the top. The fronted time adverb is word order, not meaning, and is not drawn. This models what
makes images an interlingua: the same scene is seen whatever language describes it.

`save_image_encoder` writes a tiny CLIP vision tower (transformers' `CLIPVisionModelWithProjection`, a few layers,
seeded random weights) with its image processor, so the world's images go through the same loader and cache as a
real CLIP's. It is not pretrained: its features are a fixed random non-linear function of the pixels, which models a
frozen image encoder only in being frozen and language-blind, not in knowing what a dog looks like.
"""
from __future__ import annotations

import io
from pathlib import Path

from .grammar import ADJECTIVE_DIMENSIONS, NAMES, NOUN_CATEGORIES, PLACES, TIMES, VERB_DIMENSIONS, Entity, Frame

SIZE = 48
_CELL = 20  # each entity's square
_GLYPHS = ("disc", "square", "triangle", "diamond", "cross", "bar", "ring", "hourglass", "tee", "chevron", "star",
           "box")
_CONCEPTS = [synset[0] for synsets in NOUN_CATEGORIES.values() for synset in synsets] + list(NOUN_CATEGORIES)
GLYPH_OF = {**{word: _GLYPHS[_CONCEPTS.index(synset[0])] for synsets in NOUN_CATEGORIES.values()
               for synset in synsets for word in synset},
            **{category: _GLYPHS[_CONCEPTS.index(category)] for category in NOUN_CATEGORIES}}
_NAME_MARKS = ((255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 140, 0), (160, 0, 160), (0, 170, 170))
_PLACE_COLOURS = ((200, 230, 200), (170, 220, 170), (225, 205, 180), (235, 235, 170), (180, 205, 240),
                  (140, 185, 140))
_TIME_COLOURS = ((255, 255, 255), (210, 160, 90), (20, 20, 70), (150, 150, 150))
_MOOD_COLOURS = ((240, 200, 0), (40, 90, 220))  # happy / glad, sad / gloomy
_NEUTRAL = (110, 110, 110)
_VERB_COLOURS = ((0, 150, 0), (200, 0, 0))  # each verb dimension's two poles


def _pole(word: str, table: dict) -> tuple[str, int] | None:
    for dimension, poles in table.items():
        for i, pole in enumerate(poles):
            if word in pole:
                return dimension, i
    return None


def _glyph(draw, kind: str, box: tuple[int, int, int, int], colour) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    shapes = {
        "disc": lambda: draw.ellipse(box, fill=colour),
        "square": lambda: draw.rectangle(box, fill=colour),
        "triangle": lambda: draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=colour),
        "diamond": lambda: draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=colour),
        "cross": lambda: (draw.rectangle((cx - 2, y0, cx + 2, y1), fill=colour),
                          draw.rectangle((x0, cy - 2, x1, cy + 2), fill=colour)),
        "bar": lambda: draw.rectangle((x0, cy - 3, x1, cy + 3), fill=colour),
        "ring": lambda: draw.ellipse(box, outline=colour, width=3),
        "hourglass": lambda: draw.polygon([(x0, y0), (x1, y0), (x0, y1), (x1, y1)], fill=colour),
        "tee": lambda: (draw.rectangle((x0, y0, x1, y0 + 4), fill=colour),
                        draw.rectangle((cx - 2, y0, cx + 2, y1), fill=colour)),
        "chevron": lambda: draw.line([(x0, y1), (cx, y0), (x1, y1)], fill=colour, width=4),
        "box": lambda: draw.rectangle(box, outline=colour, width=3),
        "star": lambda: (draw.line([(x0, y0), (x1, y1)], fill=colour, width=3),
                         draw.line([(x0, y1), (x1, y0)], fill=colour, width=3),
                         draw.line([(cx, y0), (cx, y1)], fill=colour, width=3)),
    }
    shapes[kind]()


def _entity(draw, entity: Entity, left: int, top: int) -> None:
    adjective = _pole(entity.adj, ADJECTIVE_DIMENSIONS) if entity.adj else None
    scale = {("size", 0): 1.0, ("size", 1): 0.5}.get(adjective, 0.75)
    colour = _MOOD_COLOURS[adjective[1]] if adjective and adjective[0] == "mood" else _NEUTRAL
    inset = int(_CELL * (1 - scale) / 2)
    box = (left + inset, top + inset, left + _CELL - 1 - inset, top + _CELL - 1 - inset)
    _glyph(draw, GLYPH_OF[entity.noun] if entity.noun else GLYPH_OF["person"], box, colour)
    if entity.name:  # a person with a mark of their own
        draw.rectangle((left + 7, top, left + 12, top + 4), fill=_NAME_MARKS[NAMES.index(entity.name)])
    if adjective and adjective[0] == "age":  # old: speckled; young: striped
        for k in range(0, _CELL, 4):
            if adjective[1] == 0:
                draw.point([(left + k, top + (k * 7) % _CELL), (left + (k * 3) % _CELL, top + k)], fill=(0, 0, 0))
            else:
                draw.line([(left, top + k), (left + 3, top + k)], fill=(255, 255, 255))
    if adjective and adjective[0] == "speed":  # fast: three streaks above; slow: one
        for k in range(3 if adjective[1] == 0 else 1):
            draw.line([(left + 4, top - 2 - 2 * k), (left + _CELL - 5, top - 2 - 2 * k)], fill=(0, 0, 0))
    for k in range(int(entity.num) if entity.num else 0):  # the number, as dots below the glyph
        draw.point((left + 2 + 3 * k, top + _CELL + 2), fill=(0, 0, 0))


def render_scene(frame: Frame):
    """The frame's picture (a Pillow RGB image, SIZE x SIZE); the same frame gives the same pixels."""
    from PIL import Image, ImageDraw

    place = _PLACE_COLOURS[PLACES.index(frame.place)] if frame.place else (235, 235, 235)
    image = Image.new("RGB", (SIZE, SIZE), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0 if frame.prep == "in" else 34, SIZE - 1, SIZE - 1), fill=place)  # near: a strip only
    if frame.time:
        draw.rectangle((0, 0, SIZE - 1, 3), fill=_TIME_COLOURS[TIMES.index(frame.time)])
    _entity(draw, frame.subj, 2, 10)
    _entity(draw, frame.obj, SIZE - _CELL - 2, 10)
    dimension, pole = _pole(frame.verb, VERB_DIMENSIONS)
    _glyph(draw, ("diamond", "tee", "chevron", "bar")[tuple(VERB_DIMENSIONS).index(dimension)],
           (SIZE // 2 - 3, 16, SIZE // 2 + 3, 23), _VERB_COLOURS[pole])
    return image


def scene_png(frame: Frame) -> bytes:
    """The frame's picture as PNG bytes (fixed compression, no metadata: the same frame gives the same bytes)."""
    out = io.BytesIO()
    render_scene(frame).save(out, format="PNG", compress_level=6)
    return out.getvalue()


def save_image_encoder(directory: Path, seed: int) -> None:
    """The world's frozen image encoder: a tiny CLIP vision tower with seeded weights, and its image processor
    (no resizing beyond the world's SIZE; CLIP's normalisation)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from ..tasks.images import image_processor_class

    config = CLIPVisionConfig(image_size=SIZE, patch_size=8, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=2, projection_dim=32)
    torch.manual_seed(seed)
    CLIPVisionModelWithProjection(config).save_pretrained(directory)
    image_processor_class()(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE}).save_pretrained(
        directory)
