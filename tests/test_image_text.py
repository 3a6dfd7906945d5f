"""The image-text task type: CLIP's symmetric InfoNCE, cached frozen image features, the real-path loader on images
drawn here with Pillow and a tiny CLIP vision tower built from a config, the embedded world's scene pictures, and bad
input. No world is built: the world's image-text files are written alone into a temporary folder."""
import itertools
import json
import math
import random

import numpy as np
import pytest
import torch

from xltlib.core.config import TrainArgs
from xltlib.core.errors import ConfigError, DataError
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import TaskData, handler_for
from xltlib.tasks.handlers.image_text import (ImageText, ImageTextHead, ImageTextOptions, contrastive_loss,
                                              matching_loss)
from xltlib.tasks.images import image_features, load_image_encoder
from xltlib.tasks.metrics import retrieval_recall

SPEC = TASKS["image_text"]
COLOURS = ((255, 0, 0), (0, 200, 0), (0, 0, 255), (240, 240, 0))


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A tiny CLIP vision tower with its image processor, built from a config and saved with save_pretrained."""
    from xltlib.world.images import save_image_encoder

    out = tmp_path_factory.mktemp("tiny-clip")
    save_image_encoder(out, seed=3)
    return out


def _draw(path, colour, shape):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (40, 30), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    (draw.ellipse if shape else draw.rectangle)((5, 5, 30, 25), fill=colour)
    image.save(path)
    return path.name


@pytest.fixture
def caption_files(tmp_path, tiny_clip):
    """COCO-style rows (one caption per row) and Flickr30k-style rows (a list of captions), images by path, the
    image encoder named by image_text.json."""
    names = [_draw(tmp_path / f"img{i}.png", colour, i % 2) for i, colour in enumerate(COLOURS)]
    coco = [{"image": name, "caption": f"a picture number {i}"} for i, name in enumerate(names)]
    flickr = [{"image": names[0], "caption": ["a red square", "something red"]},
              {"image": names[1], "caption": ["a disc"]}]
    for file, rows in (("coco.jsonl", coco), ("flickr.jsonl", flickr)):
        (tmp_path / file).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "image_text.json").write_text(json.dumps({"image_encoder": str(tiny_clip)}))
    return tmp_path


def _load(folder, file, split="train", lang="en", cache=None):
    handler = ImageText(cache_dir=cache or folder / "cache")
    return handler.load_split(SPEC, split, lang, {split: {lang: str(folder / file)}}, None)


def _unit(n, d, seed):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_contrastive_loss_is_symmetric_in_text_and_images():
    text, images, index = _unit(6, 8, 0), _unit(6, 8, 1), torch.arange(6)
    forward, _ = contrastive_loss(text, images, index, 10.0)
    swapped, _ = contrastive_loss(images, text, index, 10.0)
    assert torch.allclose(forward, swapped)


def test_contrastive_loss_is_lowest_for_the_matching_pairs():
    text = _unit(4, 8, 2)
    images = torch.nn.functional.normalize(text + 0.1 * _unit(4, 8, 3), dim=-1)  # each image nearest its caption
    assert (text @ images.T).argmax(1).tolist() == [0, 1, 2, 3]
    matched, _ = contrastive_loss(text, images, torch.arange(4), 10.0)
    for order in itertools.permutations(range(4)):
        if list(order) != [0, 1, 2, 3]:
            assert matched < contrastive_loss(text, images, torch.tensor(order), 10.0)[0]


def test_several_captions_of_one_image_are_all_its_positives():
    """Two captions of one image: image->text counts both as positives, so their loss is below a batch where the
    second caption's image were another."""
    text = _unit(3, 8, 4)
    images = torch.nn.functional.normalize(torch.stack([text[0] + text[1], text[2]]), dim=-1)
    shared, logits = contrastive_loss(text, images, torch.tensor([0, 0, 1]), 10.0)
    assert logits.shape == (3, 2) and math.isfinite(float(shared))
    assert shared < contrastive_loss(text, images, torch.tensor([0, 1, 1]), 10.0)[0]


def test_temperature_starts_at_clips_learned_or_fixed_and_matching_uses_the_hardest_wrong_image():
    learned, fixed = ImageTextHead(8, 8), ImageTextHead(8, 8, ImageTextOptions(learnable_temperature=False))
    assert float(learned.scale().detach()) == pytest.approx(1 / 0.07) and learned.logit_scale.requires_grad
    assert not fixed.logit_scale.requires_grad
    with torch.no_grad():
        learned.logit_scale.fill_(10.0)
    assert float(learned.scale().detach()) == pytest.approx(100.0)  # clamped, as CLIP's
    head = ImageTextHead(8, 8, ImageTextOptions(projection_dim=8, matching=True))
    text, images = _unit(3, 8, 5), _unit(3, 8, 6)
    loss = matching_loss(head, text, images, torch.arange(3), text @ images.T)
    assert loss.requires_grad and math.isfinite(float(loss.detach()))
    assert float(matching_loss(head, text, images[:1], torch.zeros(3, dtype=torch.long), text @ images[:1].T)) == 0


def test_a_batch_of_one_image_trains_on_running_statistics():
    head = ImageTextHead(8, None, ImageTextOptions(projection_dim=4)).train()
    images = head.project_images(torch.ones(1, 6))
    assert images.shape == (1, 4) and head.image_projection.in_features == 6 and head.training


def test_recall_counts_each_direction():
    sims = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.2, 0.1], [0.0, 0.1, 0.9]])  # caption 1's image is image 1
    scores = retrieval_recall(sims.numpy(), [0, 1, 2])
    assert scores["text_to_image_recall_at_1"] == pytest.approx(2 / 3)
    assert scores["image_to_text_recall_at_1"] == 1.0  # each image's nearest caption is one of its own
    assert scores["text_to_image_recall_at_5"] == 1.0


def test_real_path_reads_coco_and_flickr30k_rows_through_tiny_clip(caption_files, tiny_clip):
    coco = _load(caption_files, "coco.jsonl")
    assert len({r["image_id"] for r in coco}) == 4 and coco[0]["caption"] == "a picture number 0"
    model, _ = load_image_encoder(tiny_clip)
    assert coco[0]["image_features"].shape == (model.config.projection_dim,)
    flickr = _load(caption_files, "flickr.jsonl")
    assert [r["caption"] for r in flickr] == ["a red square", "something red", "a disc"]
    assert [r["image_id"] for r in flickr] == [coco[0]["image_id"]] * 2 + [coco[1]["image_id"]]  # by content
    # the same image, the same features (to float rounding: a batch of another size sums in another order)
    assert np.allclose(flickr[0]["image_features"], coco[0]["image_features"], atol=1e-6)


def test_multi30k_reads_the_caption_column_of_the_language_loaded(caption_files):
    rows = [{"image": "img0.png", "en": "a red square", "de": "ein rotes Quadrat"}]
    (caption_files / "multi30k.jsonl").write_text(json.dumps(rows[0]) + "\n")
    assert _load(caption_files, "multi30k.jsonl", lang="de")[0]["caption"] == "ein rotes Quadrat"
    assert _load(caption_files, "multi30k.jsonl", lang="en")[0]["caption"] == "a red square"


def test_the_hubs_image_column_is_read_from_its_bytes(caption_files):
    """As Flickr30k's and COCO's hub copies serve images: a datasets Image column (here in a parquet file)."""
    import datasets

    rows = {"image": [{"bytes": (caption_files / f"img{i}.png").read_bytes(), "path": None} for i in (2, 3)],
            "caption": [["a"], ["b"]]}
    ds = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    ds.to_parquet(str(caption_files / "hub.parquet"))
    (caption_files / "img2.png").unlink()  # the parquet file holds the bytes
    loaded = _load(caption_files, "hub.parquet")
    assert [r["caption"] for r in loaded] == ["a", "b"] and loaded[0]["image_id"] != loaded[1]["image_id"]
    assert loaded[0]["image_features"].shape == (32,)


def test_cached_image_features_equal_recomputed_ones(tmp_path, tiny_clip):
    from safetensors.torch import load_file

    paths = [tmp_path / _draw(tmp_path / f"c{i}.png", colour, i % 2) for i, colour in enumerate(COLOURS)]
    images, names = [p.read_bytes() for p in paths], [str(p) for p in paths]
    first = image_features(str(tiny_clip), images, names, tmp_path / "cache")
    cached = list((tmp_path / "cache").glob("*.safetensors"))
    assert len(cached) == 1 and torch.equal(load_file(cached[0])["features"], first)
    again = image_features(str(tiny_clip), images, names, tmp_path / "cache")
    recomputed = image_features(str(tiny_clip), images, names, tmp_path / "cache", recompute=True)
    assert torch.equal(first, again) and torch.equal(first, recomputed)
    image_features(str(tiny_clip), images[:2], names[:2], tmp_path / "cache")  # another image set, another key
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2


def test_frozen_image_encoder_never_changes_while_the_text_side_trains(caption_files, tiny_clip, tiny_model_dir):
    from transformers import AutoModel, AutoTokenizer

    from xltlib.run.loop import train

    encoder_before = (tiny_clip / "model.safetensors").read_bytes()
    image_model, _ = load_image_encoder(tiny_clip)
    assert not any(p.requires_grad for p in image_model.parameters()) and not image_model.training
    weights = {k: v.clone() for k, v in image_model.state_dict().items()}
    rows = _load(caption_files, "coco.jsonl") * 4
    handler = handler_for(SPEC)
    text_model = AutoModel.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainable = handler.trainable(text_model)
    args = TrainArgs(learning_rate=1e-2, per_device_train_batch_size=4, num_train_epochs=1.0, save_steps=10**9,
                     warmup_ratio=0.0)
    text_before = {k: v.clone() for k, v in text_model.state_dict().items()}
    train(trainable, rows, handler.collate(SPEC, tokenizer, args, 32), args, seed=1, max_steps=3, desc="image_text")
    assert all(torch.equal(v, image_model.state_dict()[k]) for k, v in weights.items())
    assert (tiny_clip / "model.safetensors").read_bytes() == encoder_before
    assert any(not torch.equal(v, text_model.state_dict()[k]) for k, v in text_before.items())  # the text side trains
    assert handler.trainable(text_model).head is trainable.head  # the trained head stays with its encoder
    assert set(text_model.state_dict()) == set(text_before)  # ... beside it: the encoder's weights are its own
    data = TaskData(SPEC, tests={"en": rows[:4]})
    records, predictions = handler.evaluate(SPEC, text_model, tokenizer, data, _EvalArgs, 32, None, 1)
    assert {r["metric"] for r in records} >= {"retrieval_recall_at_1", "text_to_image_recall_at_5"}
    assert len(predictions["en"]) == 4 and all(len(top) == 4 for top in predictions["en"])  # 4 images in all
    reloaded = AutoModel.from_pretrained(tiny_model_dir)  # as a kept model would load: without the head
    with pytest.raises(ConfigError, match="no trained image-text head"):
        handler.evaluate(SPEC, reloaded, tokenizer, data, _EvalArgs, 32, None, 1)


class _EvalArgs:
    per_device_eval_batch_size, max_seq_length, pad_to_max_length = 8, 32, False


def _world_files(tmp_path, langs=("en", "rlx", "vfx")):
    from dataclasses import replace

    from xltlib.world.build import World
    from xltlib.world.presets import PRESETS
    from xltlib.world.tasks.image_text import write_image_text_files

    preset = replace(PRESETS["tiny"], langs=langs, n_train=30, n_dev=10, n_test=10)
    write_image_text_files(preset, tmp_path)
    return World(preset, tmp_path)


def test_world_pictures_are_deterministic_and_the_same_in_every_language(tmp_path):
    from xltlib.world.grammar import FrameSampler, build_semantics
    from xltlib.world.images import scene_png
    from xltlib.world.tasks.image_text import missing_image_text

    sampler = FrameSampler(build_semantics(0))
    frames = [sampler.frame(random.Random(i)) for i in range(20)]
    assert [scene_png(f) for f in frames] == [scene_png(f) for f in frames]
    assert len({scene_png(f) for f in frames}) > 15  # different scenes, different pictures
    world = _world_files(tmp_path / "a")
    files = world.data_files("image_text")
    assert "image_text" in world.generated_tasks and set(files["test"]) == {"en", "rlx", "vfx"}
    by_lang = {code: [json.loads(line) for line in open(path)] for code, path in files["train"].items()}
    assert len({tuple(r["image"] for r in rows) for rows in by_lang.values()}) == 1  # one picture per scene
    assert by_lang["en"][0]["caption"] != by_lang["vfx"][0]["caption"]  # ... whatever language its caption is in
    other = _world_files(tmp_path / "b")
    for name in sorted((tmp_path / "a" / "tasks" / "image_text").rglob("*.*"))[:50]:
        twin = tmp_path / "b" / name.relative_to(tmp_path / "a")
        assert name.read_bytes() == twin.read_bytes(), name
    assert other.data_files("image_text")["train"]["en"].endswith("train-en.jsonl")
    # a world cached before the task existed is rebuilt (xltlib.world.build.world_damage)
    assert missing_image_text(tmp_path, {"tasks/xnli/train-en.jsonl": 10}).startswith("tasks/image_text is missing")
    assert missing_image_text(tmp_path, {"tasks/image_text/train-en.jsonl": 10}) is None


def test_world_captions_load_with_the_worlds_own_image_encoder(tmp_path):
    world = _world_files(tmp_path)
    handler = ImageText(cache_dir=tmp_path / "cache")
    files = world.data_files("image_text")
    rows = {code: handler.load_split(SPEC, "test", code, files, None) for code in ("en", "rlx")}
    assert len(rows["rlx"]) == 10 and rows["rlx"][0]["image_features"].shape == (32,)
    assert [r["image_id"] for r in rows["en"]] == [r["image_id"] for r in rows["rlx"]]  # one picture, two captions
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 1  # ... and one set of features


def test_a_full_clip_checkpoint_loads_its_vision_tower(tmp_path, caption_files):
    """A local CLIP folder as `openai/clip-vit-base-patch32` is saved (text and vision towers, CLIPModel)."""
    from transformers import CLIPConfig, CLIPModel

    from xltlib.tasks.images import image_processor_class

    config = CLIPConfig(text_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                                     "num_attention_heads": 2, "vocab_size": 99},
                        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
                        projection_dim=12)
    clip = CLIPModel(config)
    clip.save_pretrained(tmp_path / "clip")
    image_processor_class()(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path / "clip")
    (caption_files / "image_text.json").write_text(json.dumps({"image_encoder": str(tmp_path / "clip")}))
    model, _ = load_image_encoder(tmp_path / "clip")
    assert type(model).__name__ == "CLIPVisionModelWithProjection" and not model.training
    assert torch.equal(model.visual_projection.weight, clip.visual_projection.weight)  # the checkpoint's, not drawn
    assert _load(caption_files, "coco.jsonl")[0]["image_features"].shape == (12,)


def test_a_caption_row_without_an_image_names_the_file_and_row(caption_files):
    (caption_files / "bad.jsonl").write_text(json.dumps({"image": "img0.png", "caption": "ok"}) + "\n"
                                             + json.dumps({"image": None, "caption": "no picture"}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl: row 2: no image"):
        _load(caption_files, "bad.jsonl")
    (caption_files / "none.jsonl").write_text(json.dumps({"caption": "no picture"}) + "\n")
    with pytest.raises(DataError, match=r"none\.jsonl: .*an image \(image or file_name\)"):
        _load(caption_files, "none.jsonl")


def test_an_image_that_cannot_be_decoded_names_the_file(caption_files):
    (caption_files / "broken.png").write_bytes(b"not a png at all")
    (caption_files / "broken.jsonl").write_text(json.dumps({"image": "broken.png", "caption": "a picture"}) + "\n")
    with pytest.raises(DataError, match=r"image .*broken\.png: cannot be decoded"):
        _load(caption_files, "broken.jsonl")
    (caption_files / "gone.jsonl").write_text(json.dumps({"image": "gone.png", "caption": "a picture"}) + "\n")
    with pytest.raises(DataError, match=r"gone\.jsonl: row 1: image file .*gone\.png not found"):
        _load(caption_files, "gone.jsonl")


def test_features_of_another_width_than_the_projection_name_both(caption_files):
    head = ImageTextHead(32, 512)
    with pytest.raises(ConfigError, match="image features have 32 dimensions but the image projection takes 512"):
        head.project_images(torch.from_numpy(_load(caption_files, "coco.jsonl")[0]["image_features"][None]))
