"""Neighbour files and MUSE dictionaries: the counter-fitted file as shipped, small files in the real
formats, checksums, the download branch (with urlopen replaced: no network here) and malformed files."""
import io
import json
from pathlib import Path

import pytest

from xltlib.methods import neighbors
from xltlib.core.errors import DataError
from xltlib.methods.neighbors import COUNTERFITTED_SHA256, load_muse_dictionary, load_neighbors, sha256_of

SHARED_COPY = Path("/work/shared/data/counterfitted_neighbors.json")


@pytest.mark.skipif(not SHARED_COPY.is_file(), reason="no local copy of counterfitted_neighbors.json")
def test_the_counterfitted_file_loads_and_matches_its_checksum():
    table = load_neighbors(SHARED_COPY, sha256=COUNTERFITTED_SHA256)
    assert len(table) == 49975
    assert max(len(v) for v in table.values()) == 8 and min(len(v) for v in table.values()) == 0
    assert "film" in table["movie"]


def test_a_small_file_loads_and_a_checksum_is_checked(tmp_path):
    path = tmp_path / "n.json"
    path.write_text(json.dumps({"movie": ["film", "cinema"], "an": []}), encoding="utf-8")
    assert load_neighbors(path) == {"movie": ["film", "cinema"], "an": []}
    assert load_neighbors(str(path), sha256=sha256_of(path).upper()) == load_neighbors(path)
    with pytest.raises(DataError, match=f"n.json: sha256 is {sha256_of(path)}, expected {'0' * 64}"):
        load_neighbors(path, sha256="0" * 64)


@pytest.mark.parametrize("text, message", [
    ('["movie", "film"]', r"expected a JSON object of word -> list of neighbours, got a JSON list"),
    ('{"movie": ["film"], "an": "a"}', r"the neighbours of 'an' must be a list of strings, got 'a'"),
    ('{"movie": ["film", 3]}', r"the neighbours of 'movie' must be a list of strings, got \['film', 3\]"),
    ('{"movie": ["film"]', r"not valid JSON at line 1, column 19: Expecting ',' delimiter"),
])
def test_a_file_that_is_not_an_object_of_string_lists_is_an_error(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="bad.json: " + message):
        load_neighbors(path)


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="nope.json: neighbour file not found"):
        load_neighbors(tmp_path / "nope.json")


def test_a_url_is_downloaded_once_into_the_project_cache(tmp_path, monkeypatch):
    body = json.dumps({"movie": ["film"]}).encode()
    fetched = []

    def fake_urlopen(url, timeout):
        fetched.append(url)
        return io.BytesIO(body)

    monkeypatch.setenv("XLT_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setattr(neighbors.urllib.request, "urlopen", fake_urlopen)
    url = "https://example.org/data/counterfitted_neighbors.json"
    assert load_neighbors(url) == {"movie": ["film"]}
    assert load_neighbors(url) == {"movie": ["film"]} and fetched == [url]  # the second read is cached
    assert (tmp_path / ".cache" / "neighbors" / "counterfitted_neighbors.json").read_bytes() == body
    with pytest.raises(DataError, match="sha256 is .*, expected " + COUNTERFITTED_SHA256):
        load_neighbors(url, sha256=COUNTERFITTED_SHA256)


def test_a_failed_download_says_what_to_do(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise OSError("network unreachable")

    monkeypatch.setenv("XLT_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setattr(neighbors.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="could not download https://example.org/n.json: network unreachable; "
                                        "download it by hand"):
        load_neighbors("https://example.org/n.json")
    assert not list((tmp_path / ".cache" / "neighbors").iterdir())  # no half file left behind


def test_muse_dictionary(tmp_path):
    path = tmp_path / "en-de.txt"
    path.write_text("dog hund\ndog köter\ncat katze\n\ndog hund\nthe\tdie\n", encoding="utf-8")
    assert load_muse_dictionary(path) == {"dog": ["hund", "köter"], "cat": ["katze"], "the": ["die"]}


@pytest.mark.parametrize("text, message", [
    ("dog hund\ncat\n", r"line 2: expected two whitespace-separated words \(source, translation\), got 'cat'"),
    ("dog hund extra\n", r"line 1: .*got 'dog hund extra'"),
    ("\n\n", r"the dictionary is empty"),
])
def test_malformed_muse_dictionary(tmp_path, text, message):
    path = tmp_path / "en-xx.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="en-xx.txt.*" + message):
        load_muse_dictionary(path)
