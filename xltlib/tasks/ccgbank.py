"""CCGbank's AUTO files (Hockenmaier & Steedman 2007, LDC2005T13) read as supertagging rows, and the tag inventory of
the real path built from the training sections (Phang et al. 2020's CCG intermediate task).

An AUTO file (`data/AUTO/<section>/wsj_<section><nn>.auto`) holds, per sentence, an `ID=wsj_0001.1 PARSER=GOLD
NUMPARSE=1` line, then the derivation on one line: internal nodes `(<T CAT HEAD CHILDREN> ...)`, leaves
`(<L CAT POS POS WORD PRED_ARG_CAT>)`. A sentence's tokens are its leaves' words and its supertags their categories,
in order: the rows {"tokens", "ccg_tags"} that the tagging handler reads.
"""
from __future__ import annotations

import collections
import functools
import re
from pathlib import Path

import datasets

from ..core.errors import DataError

# The standard split (Hockenmaier & Steedman 2007; Clark & Curran 2007): a split's sections when `data_files` names
# the AUTO folder itself. A folder of .auto files, or one file, is read whole instead.
SECTIONS = {"train": tuple(f"{n:02d}" for n in range(2, 22)), "validation": ("00",), "test": ("23",)}
# The inventory: the categories seen at least MIN_TAG_COUNT times in the training files, most frequent first
# (Clark & Curran 2007's cut-off: 425 categories on sections 02-21); any other category is tagged UNKNOWN_TAG, in
# training and evaluation alike, so the head has one output for the long tail and accuracy counts it as one tag.
MIN_TAG_COUNT = 10
UNKNOWN_TAG = "<unk>"

_TOKEN = re.compile(r"\(<L ([^<>]*)>\)|\(<T ([^<>]*)>|\)|\s+")
_ID = "ID="


def auto_files(path: Path, split: str) -> list[Path]:
    """The AUTO files `path` stands for in `split`: itself (a file); the split's sections (the AUTO folder, whose
    subfolders are two-digit sections); else every .auto file below it, in name order."""
    if path.is_file():
        return [path]
    sections = sorted(p.name for p in path.iterdir() if p.is_dir() and re.fullmatch(r"\d\d", p.name))
    if sections:
        wanted = SECTIONS.get(split, ())
        missing = [s for s in wanted if s not in sections]
        if missing:
            raise DataError(f"{path}: a CCGbank AUTO folder without section(s) {', '.join(missing)}, which the "
                            f"standard {split} split reads ({wanted[0]}-{wanted[-1]}); give those sections, or a "
                            f"folder of the .auto files to read")
        found = [f for s in wanted for f in sorted((path / s).glob("*.auto"))]
    else:
        found = sorted(path.rglob("*.auto"))
    if not found:
        raise DataError(f"{path}: no .auto file in this folder (CCGbank lays them out as data/AUTO/<section>/"
                        f"wsj_<section><number>.auto, e.g. data/AUTO/02/wsj_0201.auto)")
    return found


def parse_derivation(line: str) -> tuple[list[str], list[str]]:
    """(words, categories) of one derivation line, leaves in order; ValueError saying what is malformed."""
    words, categories, depth, position = [], [], 0, 0
    while position < len(line):
        match = _TOKEN.match(line, position)
        if match is None:
            raise ValueError(f"unexpected text at character {position + 1}: {line[position:position + 30]!r}")
        leaf, node = match.group(1), match.group(2)
        if leaf is not None:
            fields = leaf.split(" ")
            if len(fields) != 5 or not all(fields):
                raise ValueError(f"leaf {match.group(0)!r} has {len(fields)} fields; expected 5: "
                                 "<L CAT POS POS WORD PRED_ARG_CAT>")
            categories.append(fields[0])
            words.append(fields[3])
        elif node is not None:
            if len(node.split(" ")) != 3:
                raise ValueError(f"node {match.group(0)!r} is not <T CAT HEAD CHILDREN>")
            depth += 1
        elif match.group(0) == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ')' at character {position + 1}")
        position = match.end()
    if depth:
        raise ValueError(f"{depth} node(s) left open at the end of the line")
    if not words:
        raise ValueError("no leaf (<L ...>) in the derivation")
    return words, categories


def read_auto(path: Path, split: str) -> datasets.Dataset:
    """Every sentence of the AUTO files `path` stands for (`auto_files`) as {"id", "tokens", "ccg_tags"}; a
    malformed line is a DataError naming the file and the line."""
    rows = [{"id": sentence_id, "tokens": words, "ccg_tags": categories}
            for file in auto_files(path, split) for sentence_id, words, categories in _sentences(file)]
    if not rows:
        raise DataError(f"{path}: no derivation in its .auto files; expected CCGbank's AUTO format")
    return datasets.Dataset.from_list(rows)


def _sentences(file: Path):
    sentence_id = None
    with file.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith(_ID):
                sentence_id = line.split(" ", 1)[0][len(_ID):]
                continue
            if not line.startswith("(<"):
                raise DataError(f"{file}: line {number}: neither an ID= line nor a derivation; expected CCGbank's "
                                f"AUTO format, got {line[:40]!r}")
            try:
                words, categories = parse_derivation(line)
            except ValueError as e:
                raise DataError(f"{file}: line {number}: malformed derivation: {e}") from None
            yield sentence_id or f"{file.stem}.{number}", words, categories


def tag_inventory(path: Path, min_count: int = MIN_TAG_COUNT) -> tuple[str, ...]:
    """The supertags of the real path: the categories seen at least `min_count` times in the training files `path`
    stands for, most frequent first (ties by name), then UNKNOWN_TAG."""
    files = auto_files(path, "train")
    return _inventory(tuple((str(f), f.stat().st_mtime_ns) for f in files), min_count)


@functools.lru_cache(maxsize=4)  # every stage and run of a task reads the same training sections
def _inventory(files: tuple[tuple[str, int], ...], min_count: int) -> tuple[str, ...]:
    counts = collections.Counter(c for name, _ in files for _, _, cats in _sentences(Path(name)) for c in cats)
    kept = sorted((c for c, n in counts.items() if n >= min_count), key=lambda c: (-counts[c], c))
    return tuple(kept) + (UNKNOWN_TAG,)


def is_auto(path: Path) -> bool:
    """Whether `path` names CCGbank AUTO data: an .auto file, or a folder (read by `auto_files`)."""
    return path.suffix.lower() == ".auto" or path.is_dir()
