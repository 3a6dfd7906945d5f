"""Image-text alignment, an intermediate task: the text encoder's pooled caption and a frozen image encoder's cached
features (`xltlib.tasks.images`), each through a small projection, trained with CLIP's symmetric InfoNCE over
in-batch negatives (Radford et al., 2021), and optionally image-text matching with the most similar wrong image of
the batch as a hard negative (ALBEF's ITM, Li et al., 2021); scored by image<->text retrieval recall@1/@5.

Rows, one per caption, in the hub schemas of COCO Captions, Flickr30k and Conceptual Captions or local copies of
them (`CAPTION_SCHEMAS`): an image (`image`: a path relative to the caption file, or the hub's image column;
or `file_name`, as an image folder's metadata.jsonl) and its caption (`caption`: a string, or Flickr30k's list of
five; or `text`). Multi30k's multilingual captions: one column per language code (`en`, `de`), read for the
language loaded. A `image_text.json` beside the caption file names the image encoder (a folder or hub id).
"""
from __future__ import annotations

import json
import math
import weakref
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from ...core.atomic import atomic_write_text
from ...core.errors import ConfigError, DataError
from .. import files
from ..dual_encoder import mean_pool
from ..images import DEFAULT_IMAGE_ENCODER, as_array, image_digest, image_features, image_source, read_sidecar
from ..metrics import retrieval_recall, top_k
from ..spec import TaskSpec
from .base import HANDLERS, TaskData, TaskHandler, padding, to_device, train_args

CLIP_TEMPERATURE = 0.07  # CLIP's initial temperature: logit scale log(1 / 0.07)
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps the learned scale at 100
IMAGE_FIELDS = ("image", "file_name")  # COCO / Flickr30k / CC's image column; an image folder's metadata.jsonl
CAPTION_FIELDS = ("caption", "text")  # COCO, Flickr30k (a list), CC; an image folder's metadata.jsonl
CAPTION_SCHEMAS = {  # the sources read, as their hub copies or local copies name the fields
    "coco": "{image, caption}: one row per caption (COCO Captions)",
    "flickr30k": "{image, caption: [five captions]} (nlphuji/flickr30k)",
    "conceptual_captions": "{image, caption} or {file_name, text}, the images downloaded beside the file",
    "multi30k": "{image, en, de}: a caption column per language (Multi30k, en-de)",
}


@dataclass(frozen=True)
class ImageTextOptions:
    """The head and its losses: the shared space's width, the temperature (CLIP's init; learned, clamped at
    MAX_LOGIT_SCALE, or fixed), and image-text matching (off by default) with its weight in the loss."""

    projection_dim: int = 256
    temperature: float = CLIP_TEMPERATURE
    learnable_temperature: bool = True
    matching: bool = False
    matching_weight: float = 1.0

    def __post_init__(self):  # each message starts with the option's name (`base.resolve_task_options`)
        if isinstance(self.projection_dim, bool) or not (isinstance(self.projection_dim, int)
                                                         and self.projection_dim > 0):
            raise ConfigError(f"projection_dim: must be a positive integer, got {self.projection_dim!r}")
        if isinstance(self.temperature, bool) or not (isinstance(self.temperature, (int, float))
                                                      and 1.0 / 100.0 <= self.temperature <= 1.0):
            # CLIP clamps its learned logit scale at 100, so a temperature under 0.01 could not be kept
            raise ConfigError(f"temperature: must be in [0.01, 1], got {self.temperature!r}")
        if isinstance(self.matching_weight, bool) or not (isinstance(self.matching_weight, (int, float))
                                                          and 0 <= self.matching_weight < math.inf):
            raise ConfigError(f"matching_weight: must be a number >= 0, got {self.matching_weight!r}")


# -- rows ------------------------------------------------------------------------------------------------


def _first(names, columns):
    return next((name for name in names if name in columns), None)


def validate_captions(spec: TaskSpec, ds: datasets.Dataset, where: str, lang: str) -> list[dict]:
    """{caption, image} rows, one per caption (a Flickr30k row's five captions become five rows); `image` is an
    absolute path, or the hub's {bytes, path}. A row without an image names the file and the row."""
    image_field = _first(IMAGE_FIELDS, ds.column_names)
    caption_field = _first((lang, *CAPTION_FIELDS), ds.column_names)
    if image_field is None or caption_field is None:
        schemas = "; ".join(f"{name}: {fields}" for name, fields in CAPTION_SCHEMAS.items())
        raise DataError(f"{where}: task {spec.name!r} reads caption rows with an image ({' or '.join(IMAGE_FIELDS)}) "
                        f"and a caption ({' or '.join((lang,) + CAPTION_FIELDS)}); schemas: {schemas}; columns "
                        f"found: {', '.join(ds.column_names)}")
    if isinstance(ds.features[image_field], datasets.Image):
        ds = ds.cast_column(image_field, datasets.Image(decode=False))  # the encoded bytes: hashed, then decoded once
    folder = Path(where).parent if Path(where).is_file() else None
    rows = []
    for n, (image, captions) in enumerate(zip(files.column(ds, image_field), files.column(ds, caption_field)), 1):
        if not image or (isinstance(image, dict) and not (image.get("bytes") or image.get("path"))):
            raise DataError(f"{where}: row {n}: no image (field {image_field!r} is {image!r}); every caption row "
                            "needs an image path or image")
        if isinstance(image, str) and folder is not None and not Path(image).is_absolute():
            image = str(folder / image)
        for caption in captions if isinstance(captions, list) else [captions]:
            if not isinstance(caption, str) or not caption.strip():
                raise DataError(f"{where}: row {n}: field {caption_field!r} is {caption!r}; expected caption text")
            rows.append({"caption": caption, "image": image, "row": n})
    return rows


def attach_features(rows: list[dict], where: str, encoder: str, cache_dir=None) -> list[dict]:
    """Each row with `image_id` (its image's content hash, so that rows of several files or languages share an id
    exactly when they share an image) and
    `image_features` (a view of the cached feature matrix)."""
    distinct, sources, ids, names = {}, [], [], []
    for row in rows:
        source = image_source(row["image"], f"{where}: row {row['row']}")
        digest = image_digest(source)
        if digest not in distinct:
            distinct[digest] = len(sources)
            sources.append(source)
            names.append(str(source) if isinstance(source, Path) else f"{where}: row {row['row']}")
        ids.append(distinct[digest])
    features = as_array(image_features(encoder, sources, names, cache_dir, digests=list(distinct)))
    keys = [digest.hex()[:16] for digest in distinct]
    return [{"caption": row["caption"], "image_id": keys[i], "image_features": features[i]}
            for row, i in zip(rows, ids)]


# -- the model -------------------------------------------------------------------------------------------


class ImageTextHead(nn.Module):
    """The trainable part beside the text encoder: both projections, the logit scale, and the matching head. The
    image projection's input width is the image encoder's (`image_dim`; None: taken from the first batch)."""

    def __init__(self, text_dim: int, image_dim: int | None, options: ImageTextOptions = ImageTextOptions()):
        super().__init__()
        self.options = options
        width = options.projection_dim
        self.text_projection = nn.Linear(text_dim, width, bias=False)
        self.image_projection = (nn.Linear(image_dim, width, bias=False) if image_dim
                                 else nn.LazyLinear(width, bias=False))
        # Frozen features share a large common direction (the world's tiny CLIP: mean cosine 0.996 between images;
        # a real CLIP's about 0.5), which a projection learns to remove only slowly: they are standardized per
        # dimension with running statistics first.
        self.image_norm = (nn.BatchNorm1d(image_dim, affine=False) if image_dim
                           else nn.LazyBatchNorm1d(affine=False))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / options.temperature)),
                                        requires_grad=options.learnable_temperature)
        self.matching = nn.Sequential(nn.Linear(4 * width, width), nn.GELU(), nn.Linear(width, 1)) \
            if options.matching else None

    def project_images(self, features: torch.Tensor) -> torch.Tensor:
        expected = getattr(self.image_projection, "in_features", 0)
        if expected and features.shape[-1] != expected:
            raise ConfigError(f"image features have {features.shape[-1]} dimensions but the image projection takes "
                              f"{expected}: the features come from another image encoder than the head was built for")
        if self.training and len(features) < 2:  # one image has no batch statistics: the running ones are used
            self.image_norm.eval()
            try:
                features = self.image_norm(features)
            finally:
                self.image_norm.train()
        else:
            features = self.image_norm(features)
        return nn.functional.normalize(self.image_projection(features), dim=-1)

    def project_text(self, pooled: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.text_projection(pooled), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()


def contrastive_loss(text: torch.Tensor, images: torch.Tensor, image_index: torch.Tensor,
                     scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """(CLIP's symmetric InfoNCE, the logits [captions, images]): the mean of text->image cross-entropy (each
    caption's image among the batch's distinct images) and image->text (each image's captions among the batch's;
    several captions of one image are all its positives). With one caption per image it is CLIP's loss exactly."""
    logits = scale * text @ images.T
    text_to_image = nn.functional.cross_entropy(logits, image_index)
    positives = image_index[None, :] == torch.arange(len(images), device=logits.device)[:, None]  # [images, captions]
    per_image = logits.T
    image_to_text = (per_image.logsumexp(1) - per_image.masked_fill(~positives, float("-inf")).logsumexp(1)).mean()
    return (text_to_image + image_to_text) / 2, logits


def matching_loss(head: ImageTextHead, text: torch.Tensor, images: torch.Tensor, image_index: torch.Tensor,
                  logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the matching head on each caption with its image (1) and with the most similar wrong
    image of the batch (0); zero when the batch has a single image (no negative)."""
    if len(images) < 2:
        return logits.new_zeros(())
    wrong = logits.detach().scatter(1, image_index[:, None], float("-inf")).argmax(1)
    pairs = [(text, images[image_index]), (text, images[wrong])]
    scores = torch.cat([head.matching(torch.cat([t, i, t * i, (t - i).abs()], -1)).squeeze(-1) for t, i in pairs])
    targets = torch.cat([torch.ones(len(text)), torch.zeros(len(text))]).to(scores)
    return nn.functional.binary_cross_entropy_with_logits(scores, targets)


class ImageTextModel(nn.Module):
    """The text encoder with its image-text head, trained as one module. A batch holds the captions' tokens, the
    distinct images' features and each caption's image (`image_index`)."""

    def __init__(self, encoder: nn.Module, head: ImageTextHead):
        super().__init__()
        self.encoder, self.head = encoder, head

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def embed_text(self, attention_mask, **inputs) -> torch.Tensor:
        hidden = self.encoder(attention_mask=attention_mask, **inputs).last_hidden_state
        return self.head.project_text(mean_pool(hidden, attention_mask))

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, token_type_ids=None,
                image_features=None, image_index=None):
        inputs = {"input_ids": input_ids} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        text = self.embed_text(attention_mask, **inputs)
        images = self.head.project_images(image_features)
        loss, logits = contrastive_loss(text, images, image_index, self.head.scale())
        if self.head.matching is not None:
            loss = loss + self.head.options.matching_weight * matching_loss(self.head, text, images, image_index,
                                                                            logits)
        return SequenceClassifierOutput(loss=loss, logits=logits)


# An encoder's image-text head lives beside it, not inside it: the encoder's weights and saved folder stay the
# encoder's own, so a later stage entered from its encoder (`previous_encoder`) loads it unchanged.
_HEADS: "weakref.WeakKeyDictionary[nn.Module, ImageTextHead]" = weakref.WeakKeyDictionary()


def with_head(model, options: ImageTextOptions) -> ImageTextModel:
    if isinstance(model, ImageTextModel):
        return model
    if model not in _HEADS:
        _HEADS[model] = ImageTextHead(model.config.hidden_size, None, options)
    return ImageTextModel(model, _HEADS[model])


def image_text_collate(tokenizer, args):
    """Captions, each distinct image of the batch once (two captions of one image are not each other's
    negatives), and each caption's image index."""

    def collate(examples: list[dict]) -> dict:
        ids, features, index = {}, [], []
        for example in examples:
            if example["image_id"] not in ids:
                ids[example["image_id"]] = len(features)
                features.append(example["image_features"])
            index.append(ids[example["image_id"]])
        enc = tokenizer([e["caption"] for e in examples], truncation=True, max_length=args.max_seq_length,
                        padding=padding(args), return_tensors="pt")
        return {**enc, "image_features": torch.from_numpy(np.stack(features)),
                "image_index": torch.tensor(index, dtype=torch.long)}

    return collate


# -- retrieval -------------------------------------------------------------------------------------------


@torch.inference_mode()
def similarities(model: ImageTextModel, tokenizer, rows: list[dict], args, batch_size: int):
    """(cosine similarities [captions, distinct images], each caption's image index, the images' ids)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    image_ids = list(dict.fromkeys(r["image_id"] for r in rows))
    position = {image_id: i for i, image_id in enumerate(image_ids)}
    first = {}
    for r in rows:
        first.setdefault(r["image_id"], r["image_features"])
    images = model.head.project_images(torch.from_numpy(np.stack([first[i] for i in image_ids])).to(device))
    texts = []
    for start in range(0, len(rows), batch_size):
        enc = to_device(tokenizer([r["caption"] for r in rows[start:start + batch_size]], truncation=True,
                                  max_length=args.max_seq_length, padding=padding(args), return_tensors="pt"), device)
        texts.append(model.embed_text(**enc))
    model.train(was_training)
    gold = np.array([position[r["image_id"]] for r in rows])
    return (torch.cat(texts) @ images.T).float().cpu().numpy(), gold, image_ids


class ImageText(TaskHandler):
    name = "image_text"
    auto_class = "AutoModel"
    supports = frozenset({"embeddings"})  # noise or PGD on the caption's input embeddings while training
    wraps_for_training = True
    in_batch_loss = True
    options_type = ImageTextOptions  # a run's task_options: {image_text: {temperature: 0.05, ...}}

    def __init__(self, options: ImageTextOptions = ImageTextOptions(), cache_dir=None):
        self.options, self.cache_dir = options, cache_dir

    def with_options(self, options: ImageTextOptions) -> "ImageText":
        return ImageText(options, self.cache_dir)

    def validate(self, spec, ds, where, lang):
        return validate_captions(spec, ds, where, lang)

    def load_split(self, spec, split, lang, data_files, max_samples):
        rows, where = [], {}

        def check(ds, source):
            where["source"] = source
            rows.extend(validate_captions(spec, ds, source, lang))
            return ds

        files.load_split(spec, split, lang, data_files, max_samples, validate=check)
        path = files.local_path(spec, split, lang, data_files)
        encoder = (read_sidecar(path) if path is not None else {}).get("image_encoder") or DEFAULT_IMAGE_ENCODER
        return attach_features(rows, where["source"], encoder, self.cache_dir)

    def trainable(self, model):
        return with_head(model, self.options)

    def collate(self, spec, tokenizer, cfg, max_length, with_labels=True):
        return image_text_collate(tokenizer, train_args(cfg, max_length))

    def scores(self, model, tokenizer, rows, cfg, max_length):
        model = with_head(model, self.options)
        sims, gold, _ = similarities(model, tokenizer, rows, train_args(cfg, max_length),
                                     cfg.per_device_eval_batch_size)
        return retrieval_recall(sims, gold)

    def dev_scorer(self, spec, data, tokenizer, cfg, max_length):
        dev = data.dev
        return lambda m: self.scores(m, tokenizer, dev, cfg, max_length)[spec.metric]

    def evaluate(self, spec, model, tokenizer, data: TaskData, cfg, max_length, perturbation, seed):
        """Retrieval on each language's held-out captions and their images; predictions: each caption's five
        nearest images (their ids)."""
        if not isinstance(model, ImageTextModel) and model not in _HEADS:
            raise ConfigError(f"task {spec.name!r}: this model has no trained image-text head (the head lives beside "
                              "the encoder in the process that trains it and is not saved with the model), so "
                              "retrieval would be scored through an untrained projection; evaluate it in the run that "
                              "trains it (a kept model, save_model: true, cannot be re-evaluated on image_text)")
        records, predictions = [], {}
        model = with_head(model, self.options)
        for lang, rows in data.tests.items():
            sims, gold, image_ids = similarities(model, tokenizer, rows, train_args(cfg, max_length),
                                                 cfg.per_device_eval_batch_size)
            records += [{"lang": lang, "split": "test", "metric": name, "value": value}
                        for name, value in retrieval_recall(sims, gold).items()]
            predictions[lang] = [[image_ids[j] for j in row] for row in top_k(sims, 5).tolist()]
        return records, predictions

    def gold_items(self, spec, lang, examples, data):
        return [e["image_id"] for e in examples]

    def write_predictions(self, spec, predictions, directory: Path) -> None:
        for lang, items in predictions.items():
            atomic_write_text(Path(directory) / spec.folder / f"test-{lang}.json", json.dumps(items))

    def write_gold(self, spec, data, directory: Path) -> None:
        for lang, examples in data.tests.items():
            atomic_write_text(Path(directory) / spec.folder / f"test-{lang}.json",
                              json.dumps(self.gold_items(spec, lang, examples, data)))


HANDLERS.register(ImageText.name, ImageText())
