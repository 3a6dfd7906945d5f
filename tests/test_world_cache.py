"""A damaged embedded-world cache repairs itself: `get_world` checks a cached world (world.json parses and is the
preset's, every file it lists has the size it was built with) and rebuilds one that is not, in place of the old
folder. The tiny preset, in a cache of this module's own (`XLT_WORLD_CACHE`).
"""
import json
import shutil

import pytest

import xltlib.world.build as build
from xltlib.world.build import get_world, world_damage
from xltlib.world.presets import PRESETS

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A tiny world built once (the real build), kept untouched: each test damages a copy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XLT_WORLD_CACHE", str(tmp_path_factory.mktemp("pristine")))
        return get_world("tiny").directory


@pytest.fixture
def cached(pristine, tmp_path, monkeypatch):
    """A copy of the pristine world in a fresh cache, and a stand-in for the builder that copies the pristine world
    where `_build` would write (a real build is the first test's): the calls are counted."""
    monkeypatch.setenv("XLT_WORLD_CACHE", str(tmp_path / "cache"))
    directory = tmp_path / "cache" / pristine.name
    shutil.copytree(pristine, directory)
    builds = []

    def copy_build(preset, target):
        builds.append(target)
        shutil.copytree(pristine, target)  # fails if the damaged folder were still in the way

    monkeypatch.setattr(build, "_build", copy_build)
    return directory, builds


def test_the_manifest_lists_every_file_with_its_size(pristine):
    listed = json.loads((pristine / "world.json").read_text())["files"]
    on_disk = {str(p.relative_to(pristine)) for p in pristine.rglob("*") if p.is_file()} - {"world.json"}
    assert set(listed) == on_disk and "encoder/model.safetensors" in listed
    assert listed["encoder/model.safetensors"] == (pristine / "encoder" / "model.safetensors").stat().st_size
    assert world_damage(TINY, pristine) is None


def test_a_deleted_world_json_is_rebuilt_by_the_real_builder(pristine, tmp_path, monkeypatch):
    # The reported failure: the rebuild was discarded because the damaged folder was still there.
    monkeypatch.setenv("XLT_WORLD_CACHE", str(tmp_path / "cache"))
    directory = tmp_path / "cache" / pristine.name
    shutil.copytree(pristine, directory)
    (directory / "world.json").unlink()
    with pytest.warns(UserWarning, match=r"world\.json is missing; rebuilding it"):
        world = get_world("tiny")
    assert world.directory == directory and world_damage(TINY, directory) is None
    assert world.manifest["fingerprint"] == build.fingerprint(TINY)
    assert sorted(p.name for p in directory.parent.iterdir()) == [directory.name, directory.name + ".lock"]


def test_a_truncated_world_json_is_rebuilt(cached):
    directory, builds = cached
    (directory / "world.json").write_text('{"preset": {"na', encoding="utf-8")
    assert "world.json is not valid JSON" in world_damage(TINY, directory)
    with pytest.warns(UserWarning, match="not valid JSON"):
        world = get_world("tiny")
    assert builds == [directory] and world.manifest["fingerprint"] == build.fingerprint(TINY)


def test_a_deleted_task_file_is_rebuilt_not_blamed_on_data_files(cached):
    directory, builds = cached
    (directory / "tasks" / "xnli" / "test-rlx.jsonl").unlink()
    with pytest.warns(UserWarning, match=r"tasks/xnli/test-rlx\.jsonl is missing"):
        world = get_world("tiny")
    assert builds == [directory] and (world.directory / "tasks" / "xnli" / "test-rlx.jsonl").is_file()


def test_a_truncated_model_file_is_rebuilt(cached):
    directory, builds = cached
    weights = directory / "encoder" / "model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as f:
        f.truncate(size // 2)
    with pytest.warns(UserWarning, match=rf"encoder/model\.safetensors has {size // 2} bytes, expected {size}"):
        world = get_world("tiny")
    assert builds == [directory] and weights.stat().st_size == size
    from transformers import AutoModel

    AutoModel.from_pretrained(world.encoder_dir)  # loads again


def test_a_whole_world_is_reused_and_a_failed_rebuild_leaves_the_old_one(cached, monkeypatch):
    directory, builds = cached
    assert get_world("tiny").directory == directory and builds == []

    def broken_build(preset, target):
        raise RuntimeError("the build failed half-way")

    monkeypatch.setattr(build, "_build", broken_build)
    with pytest.raises(RuntimeError, match="half-way"):
        get_world("tiny", rebuild=True)
    assert world_damage(TINY, directory) is None  # the old world is back in place


def test_a_world_built_before_the_file_list_is_checked_for_the_files_it_serves(cached):
    directory, builds = cached
    manifest = json.loads((directory / "world.json").read_text())
    del manifest["files"]
    (directory / "world.json").write_text(json.dumps(manifest))
    assert world_damage(TINY, directory) is None
    (directory / "tasks" / "pawsx" / "train-en.jsonl").unlink()
    assert world_damage(TINY, directory) == "tasks/pawsx/train-en.jsonl is missing"
