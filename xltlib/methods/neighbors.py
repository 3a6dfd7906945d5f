"""Word-substitution tables from files: counter-fitted neighbours and MUSE bilingual dictionaries.

The counter-fitted neighbours (Mrkšić et al., NAACL 2016, as listed by Jia et al., EMNLP 2019) are the
synonym sets Huang et al. (EMNLP 2021) substitute for RS-DA; get the file from
https://raw.githubusercontent.com/robinjia/certified-word-sub/4fa78a459a3fdcecf544b7d10ffd2b9494d74a2b/data/counterfitted_neighbors.json
(49,975 lowercase English words, 0-8 neighbours each; its sha256 is `COUNTERFITTED_SHA256`).
MUSE dictionaries (Conneau et al., ICLR 2018: `src tgt` per line) drive the code-switch attack.
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
import urllib.request
from pathlib import Path

from ..core.errors import DataError
from ..core.paths import project_root

COUNTERFITTED_URL = ("https://raw.githubusercontent.com/robinjia/certified-word-sub/"
                     "4fa78a459a3fdcecf544b7d10ffd2b9494d74a2b/data/counterfitted_neighbors.json")
COUNTERFITTED_SHA256 = "103247143f39bd5dd66850f3a912393392641dbd98093c61e2b24a4cc8a96fb0"


def is_url(path_or_url: str | Path) -> bool:
    return str(path_or_url).startswith(("http://", "https://"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def neighbors_cache_dir() -> Path:
    return project_root() / ".cache" / "neighbors"


def _download(url: str) -> Path:
    """Fetch `url` once into the cache (to a temporary name, then renamed: a killed download never
    leaves a half file under the final name)."""
    name = Path(urllib.parse.urlparse(url).path).name or "neighbors.json"
    target = neighbors_cache_dir() / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{name}.download-{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {e}; download it by hand and pass the local path") from None
    os.replace(tmp, target)
    return target


def _local_file(path_or_url: str | Path, sha256: str | None) -> Path:
    path = _download(str(path_or_url)) if is_url(path_or_url) else Path(path_or_url)
    if not path.is_file():
        raise DataError(f"{path}: neighbour file not found")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256.lower():
            raise DataError(f"{path}: sha256 is {actual}, expected {sha256.lower()}; the file is not the one "
                            f"asked for (a different version, or a truncated download: delete it and retry)")
    return path


def load_neighbors(path_or_url: str | Path, sha256: str | None = None) -> dict[str, list[str]]:
    """A JSON object `{word: [neighbour, ...]}` from a path or an http(s) URL (downloaded once into
    `<project>/.cache/neighbors/`), checked against `sha256` when given."""
    path = _local_file(path_or_url, sha256)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if not isinstance(table, dict):
        raise DataError(f"{path}: expected a JSON object of word -> list of neighbours, "
                        f"got a JSON {type(table).__name__}")
    for word, neighbours in table.items():
        if not isinstance(neighbours, list) or not all(isinstance(n, str) for n in neighbours):
            raise DataError(f"{path}: the neighbours of {word!r} must be a list of strings, got {neighbours!r}")
    return table


def load_muse_dictionary(path: str | Path) -> dict[str, list[str]]:
    """A MUSE bilingual dictionary (`src tgt` per line, whitespace-separated; a source word may have
    several lines): source word -> its translations, in file order, without repeats."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: dictionary file not found")
    table: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 2:
                raise DataError(f"{path}, line {number}: expected two whitespace-separated words "
                                f"(source, translation), got {line.rstrip()!r}")
            source, target = fields
            translations = table.setdefault(source, [])
            if target not in translations:
                translations.append(target)
    if not table:
        raise DataError(f"{path}: the dictionary is empty")
    return table
