"""Frozen image features for image-text tasks: a CLIP vision tower through transformers (`openai/clip-vit-base-patch32`
by default, or any local CLIP folder), never trained, its features computed once per (image encoder, image set) and
cached as safetensors under a content hash of both, so that only the text side trains (Radford et al., 2021, CLIP).

Images are read with Pillow from a path, or from the hub's image column ({bytes, path}); a file that cannot be
decoded is a DataError naming it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..core.errors import ConfigError, DataError
from ..core.paths import outputs_dir
from .hub import from_hub

DEFAULT_IMAGE_ENCODER = "openai/clip-vit-base-patch32"
# What identifies an encoder's features: its architecture, its preprocessing and its weights (the files
# transformers reads, safetensors first).
_ENCODER_FILES = ("config.json", "preprocessor_config.json")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
IMAGE_ENCODER_HINT = "name a local CLIP folder (saved with save_pretrained, with its preprocessor_config.json)"
FEATURE_BATCH = 64


def feature_cache_dir() -> Path:
    return outputs_dir() / "cache" / "image_features"


def encoder_dir(name_or_path: str) -> Path:
    """A local folder holding the encoder's config, preprocessing and weights: `name_or_path` itself, or a hub id's
    snapshot (downloaded once; offline, from the cache)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists() or "/" not in name_or_path or name_or_path.startswith((".", "/")):
        raise ConfigError(f"image encoder {name_or_path!r}: not a folder nor a hub id ('org/name'); "
                          f"{IMAGE_ENCODER_HINT}")
    from huggingface_hub import snapshot_download

    with from_hub(f"image encoder {name_or_path!r}", IMAGE_ENCODER_HINT):
        return Path(snapshot_download(name_or_path, allow_patterns=[*_ENCODER_FILES, *_WEIGHT_FILES]))


def _weights(directory: Path) -> Path:
    for name in _WEIGHT_FILES:
        if (directory / name).is_file():
            return directory / name
    raise ConfigError(f"image encoder {directory}: no weights ({' or '.join(_WEIGHT_FILES)}); {IMAGE_ENCODER_HINT}")


def encoder_identity(directory: Path) -> str:
    """A content hash of the encoder's config, preprocessing and weights: two folders with the same files give the
    same features, and a retrained or re-configured encoder another key."""
    digest = hashlib.sha256()
    for path in [directory / name for name in _ENCODER_FILES] + [_weights(directory)]:
        if not path.is_file():
            raise ConfigError(f"image encoder {directory}: {path.name} is missing; {IMAGE_ENCODER_HINT}")
        digest.update(path.name.encode())
        with path.open("rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def image_processor_class():
    """CLIP's image processor: the torchvision one where torchvision is installed, else its Pillow twin (which
    transformers would fall back to, with a warning)."""
    import importlib.util

    import transformers

    if importlib.util.find_spec("torchvision") is None and hasattr(transformers, "CLIPImageProcessorPil"):
        return transformers.CLIPImageProcessorPil
    return transformers.CLIPImageProcessor


def load_image_encoder(directory: Path):
    """(the frozen CLIP vision tower with its projection, in eval mode with requires_grad off; its image
    processor). A full CLIP checkpoint loads its vision half, with the projection width of the whole (its vision
    config alone would give the default width, and the projection would be drawn afresh wherever they differ)."""
    from transformers import AutoConfig, CLIPVisionModelWithProjection

    config = AutoConfig.from_pretrained(directory)
    if config.model_type == "clip":
        vision = config.vision_config
        vision.projection_dim = config.projection_dim
    elif config.model_type == "clip_vision_model":
        vision = config
    else:
        raise ConfigError(f"image encoder {directory}: a {config.model_type!r} model; the image-text task needs a "
                          "CLIP model or CLIP vision tower (CLIPModel / CLIPVisionModelWithProjection)")
    model = CLIPVisionModelWithProjection.from_pretrained(directory, config=vision)
    model.requires_grad_(False).eval()
    return model, image_processor_class().from_pretrained(directory)


def image_source(image, where: str) -> bytes | Path:
    """One image value as its encoded bytes (the hub's image column, {bytes, path}) or its file (a path, checked to
    exist): files are read only when hashed and when their features are computed, never all held at once."""
    if isinstance(image, dict) and image.get("bytes"):
        return image["bytes"]
    path = Path(image["path"] if isinstance(image, dict) else image)
    if not path.is_file():
        raise DataError(f"{where}: image file {path} not found")
    return path


def _read(source: bytes | Path) -> bytes:
    return source if isinstance(source, bytes) else source.read_bytes()


def image_digest(source: bytes | Path) -> bytes:
    """The sha256 of an image's encoded bytes (a file's streamed)."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).digest()
    with source.open("rb") as f:
        return hashlib.file_digest(f, "sha256").digest()


def decode_image(data: bytes, name: str):
    """An RGB Pillow image; bytes Pillow cannot decode are a DataError naming the image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"image {name}: cannot be decoded as an image ({type(e).__name__}: {e})") from e


def content_key(encoder_id: str, digests: list[bytes]) -> str:
    """The cache key of one (image encoder, ordered image set)."""
    digest = hashlib.sha256(encoder_id.encode())
    for image in digests:
        digest.update(image)
    return digest.hexdigest()[:24]


@torch.inference_mode()
def compute_features(model, processor, images: list[bytes | Path], names: list[str],
                     batch_size: int = FEATURE_BATCH) -> torch.Tensor:
    """[images, projection_dim] float32: the vision tower's projected pooled output (CLIP's image embedding)."""
    parts = []
    for start in range(0, len(images), batch_size):
        pixels = [decode_image(_read(source), name) for source, name in
                  zip(images[start:start + batch_size], names[start:start + batch_size])]
        inputs = processor(images=pixels, return_tensors="pt")
        parts.append(model(pixel_values=inputs["pixel_values"]).image_embeds.float())
    width = model.config.projection_dim
    return torch.cat(parts) if parts else torch.zeros(0, width)


def image_features(encoder: str, images: list[bytes | Path], names: list[str], cache_dir: Path | None = None,
                   recompute: bool = False, digests: list[bytes] | None = None) -> torch.Tensor:
    """Features of `images` (encoded bytes or files; `names` say where each came from, for errors) by `encoder`,
    read from the cache when this (encoder, image set) was computed before, else computed and cached. `digests`:
    the images' `image_digest`s, if the caller has them."""
    from safetensors.torch import load_file, save_file

    directory = encoder_dir(encoder)
    encoder_id = encoder_identity(directory)
    key = content_key(encoder_id, digests or [image_digest(image) for image in images])
    cache = Path(cache_dir or feature_cache_dir()) / f"{key}.safetensors"
    if cache.is_file() and not recompute:
        return load_file(cache)["features"]
    model, processor = load_image_encoder(directory)
    features = compute_features(model, processor, images, names).contiguous()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    save_file({"features": features}, tmp, metadata={"encoder": str(encoder), "encoder_sha256": encoder_id,
                                                    "images": str(len(images))})
    tmp.replace(cache)  # a reader never sees half a file
    return features


def read_sidecar(path: Path) -> dict:
    """`image_text.json` beside a caption file, if any: {"image_encoder": folder (relative to the file's folder) or
    hub id}."""
    sidecar = path.parent / "image_text.json"
    if not sidecar.is_file():
        return {}
    try:
        options = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{sidecar}: not valid JSON ({e})") from e
    unknown = sorted(set(options) - {"image_encoder"}) if isinstance(options, dict) else ["(not an object)"]
    if unknown:
        raise ConfigError(f"{sidecar}: unknown key {unknown[0]!r}; allowed: image_encoder")
    encoder = options.get("image_encoder")
    if encoder is not None and (path.parent / encoder).is_dir():
        options["image_encoder"] = str((path.parent / encoder).resolve())
    return options


def as_array(features: torch.Tensor) -> np.ndarray:
    return features.numpy().astype(np.float32, copy=False)
