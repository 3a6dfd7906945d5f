"""The embedded world's image-text task: each frame's picture (`xltlib.world.images`) with its caption, the frame
rendered by the grammar, in the schema the image-text handler reads ({image: a path beside the file, caption}).
Captions are written in every language of the world over the same pictures (English alone is the intermediate task;
the others are the variant with captions in several languages); the world's frozen image encoder is saved beside
them and named by `image_text.json`, so the handler loads it like a user's local CLIP.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from ..grammar import LADDER_BY_CODE, FrameSampler, build_semantics, render, translation_table
from ..images import save_image_encoder, scene_png

IMAGE_TEXT_TASKS = ("image_text",)
SPLITS = ("train", "validation", "test")


def image_text_root(directory: Path) -> Path:
    return Path(directory) / "tasks" / "image_text"


def image_text_files(directory: Path, langs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """`{split: {lang: path}}`: every split in every language (the same pictures under each language's captions)."""
    root = image_text_root(directory)
    return {split: {code: str(root / f"{split}-{code}.jsonl") for code in langs} for split in SPLITS}


def _size(preset, split: str) -> int:
    return {"train": preset.n_train, "validation": preset.n_dev, "test": preset.n_test}[split]


def write_image_text_files(preset, directory: Path) -> None:
    """Pictures, caption files in every language, the image encoder and the sidecar naming it."""
    root = image_text_root(directory)
    (root / "images").mkdir(parents=True, exist_ok=True)
    sampler = FrameSampler(build_semantics(preset.seed))
    tables = {code: translation_table(LADDER_BY_CODE[code], preset.seed) for code in preset.langs}
    for split, paths in image_text_files(directory, preset.langs).items():
        rng = random.Random(f"image_text|{split}|{preset.seed}")
        frames = [sampler.frame(rng) for _ in range(_size(preset, split))]
        names = [f"images/{split}-{i:05d}.png" for i in range(len(frames))]
        for name, frame in zip(names, frames):
            (root / name).write_bytes(scene_png(frame))
        for code, path in paths.items():
            lang, table = LADDER_BY_CODE[code], tables[code]
            Path(path).write_text("".join(json.dumps({"image": name, "caption": render(frame, lang, table)},
                                                     ensure_ascii=False) + "\n" for name, frame in zip(names, frames)),
                                  encoding="utf-8")
    save_image_encoder(root / "image_encoder", preset.seed)
    (root / "image_text.json").write_text(json.dumps({"image_encoder": "image_encoder"}) + "\n", encoding="utf-8")


def missing_image_text(directory: Path, listed: dict) -> str | None:
    """What a cached world built before the image-text task lacks, or None: its caption files."""
    return None if any(name.startswith("tasks/image_text/") for name in listed) else \
        "tasks/image_text is missing (built before the image-text task was added)"
