"""Reading a task's splits through Hugging Face `datasets`, the steps every task type shares: a local file in the
hub's schema (JSON lines, CSV, TSV, parquet) or the hub itself, the first N rows kept, then checked by the task's
handler; a split made of several hub splits (`HubUnion`: ANLI+) is read source by source and concatenated. Errors
name the file (or hub id), the 1-based row and the `data_files` key that set the path, so a bad data file is fixed
from the message alone. SQuAD's nested JSON layout is read here too (several handlers use it),
and so are translate-train TSVs by position (`translated_tsv`: XTREME's translated MNLI, XNLI-MT's train files).
"""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Callable, Mapping

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.config import SPLITS
from ..core.errors import ConfigError, DataError, XltError
from ..core.languages import LANGUAGES, check_languages
from ..core.paths import project_root
from .hub import from_hub
from .spec import HubSource, HubUnion, TaskSpec

Validate = Callable[[datasets.Dataset, str], datasets.Dataset]  # (rows, where they came from) -> checked rows
ReadLocal = Callable[[Path], "datasets.Dataset | None"]

# extension -> (datasets builder, extra builder kwargs)
_BUILDERS = {
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".csv": ("csv", {}),
    # PAWS-X's TSVs contain unbalanced double quotes inside sentences: read every field verbatim.
    ".tsv": ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE}),
    ".parquet": ("parquet", {}),
}


def load_split(spec: TaskSpec, split: str, lang: str, data_files: Mapping[str, Mapping[str, str]] | None,
               max_samples: int | None, *, validate: Validate, read_local: ReadLocal | None = None) -> datasets.Dataset:
    """Load one split of `spec` in `lang`: the local file `data_files[split][lang]` if given, else the hub; keep
    the first `max_samples` rows and check them with `validate(ds, where)` (the handler's). `read_local(path)`
    may read a layout of the handler's own (SQuAD's nested JSON, Mewsli-X's records), or return None."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} for task {spec.name!r}; allowed: {', '.join(SPLITS)}")
    if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, int)
                                    or max_samples < 1):
        raise ConfigError(f"max_samples must be a positive integer or None, got {max_samples!r}")
    path = local_path(spec, split, lang, data_files)
    if path is not None:
        # A folder may be a layout of the handler's own (CCGbank's AUTO sections).
        own = read_local(path) if read_local is not None and (path.is_file() or path.is_dir()) else None
        if own is None and split == "train" and lang != spec.src_lang and path.suffix.lower() == ".tsv":
            own = translated_tsv(spec, path)
        ds, where = (own if own is not None else _load_local(spec, split, lang, path)), str(path)
    else:
        ds, where = _load_hub(spec, split, lang)
    if len(ds) == 0:
        raise DataError(f"{where}: empty (zero rows); expected {spec.name} {split} examples")
    if max_samples is not None and max_samples < len(ds):
        ds = ds.select(range(max_samples))
    return validate(ds, where)


def task_langs(spec: TaskSpec, world_langs=None, eval_langs=None, strict: bool = True) -> tuple[str, ...]:
    """The languages to evaluate `spec` on: `eval_langs` if given, else every language of the task.

    The task's languages are `world_langs` if given (the embedded world's), else the real `spec.langs`. A language
    the task does not have is an error when `strict` (the list was given for this task), else skipped with a warning
    naming the task and the languages (one list for a run's every task: Tatoeba and BUCC have no English test set);
    a code no registry knows is an error either way, and so is a list that leaves the task no language."""
    allowed = tuple(world_langs) if world_langs is not None else spec.langs
    if eval_langs is None:
        return allowed
    if isinstance(eval_langs, str):
        raise ConfigError(f"eval_langs must be a list of language codes, got the string {eval_langs!r}")
    if not strict:
        skipped = [code for code in eval_langs if code not in allowed and code in LANGUAGES]
        if skipped and len(skipped) < len(eval_langs):
            warnings.warn(f"eval_langs: task {spec.name!r} has no {', '.join(skipped)} (its languages: "
                          f"{', '.join(allowed)}); evaluating it on the others. Give the task its own list with "
                          f"task_overrides: {{{spec.name}: {{eval_langs: [...]}}}}", stacklevel=2)
            eval_langs = [code for code in eval_langs if code not in skipped]
        elif skipped:
            raise ConfigError(f"eval_langs: task {spec.name!r} has none of {', '.join(skipped)} (its languages: "
                              f"{', '.join(allowed)}); give it its own list with task_overrides: "
                              f"{{{spec.name}: {{eval_langs: [...]}}}}")
    langs = check_languages(eval_langs, allowed, f"eval_langs for task {spec.name!r}")
    if not langs:
        raise ConfigError(f"eval_langs for task {spec.name!r} is empty; give at least one of: "
                          f"{', '.join(allowed)} (or null for all)")
    return langs


def key_path(spec: TaskSpec, split: str, lang: str) -> str:
    return f"data_files: {{{spec.name}: {{{split}: {{{lang}: <path>}}}}}}"


def local_path(spec: TaskSpec, split: str, lang: str, data_files) -> Path | None:
    if not data_files:
        return None
    if not isinstance(data_files, Mapping):
        raise ConfigError(f"data_files for task {spec.name!r} must map splits to {{lang: path}}, got {data_files!r}")
    for key in data_files:
        if key not in SPLITS:
            raise ConfigError(f"data_files for task {spec.name!r}: unknown split {key!r}; allowed: "
                              f"{', '.join(SPLITS)} (pass RunConfig.data_files[{spec.name!r}])")
    path = (data_files.get(split) or {}).get(lang)
    if not path:
        return None
    path = Path(path).expanduser()
    # A parameter file's relative paths were made absolute against its folder when it was read
    # (`xltlib.core.config.load_params_file`); what is still relative here came from a notebook or from Python, and
    # is relative to the project, not to the working directory of a kernel that papermill may start elsewhere.
    return path if path.is_absolute() else project_root() / path


def _load_local(spec: TaskSpec, split: str, lang: str, path: Path) -> datasets.Dataset:
    builder_kwargs = _BUILDERS.get(path.suffix.lower())
    if builder_kwargs is None:
        raise DataError(f"{path}: unsupported file extension {path.suffix or '(none)'!r}; "
                        f"allowed: {', '.join(_BUILDERS)}")
    builder, kwargs = builder_kwargs
    if not path.is_file():
        raise DataError(f"{path}: data file not found (absolute: {path.resolve()}); "
                        f"set by {key_path(spec, split, lang)}")
    if path.stat().st_size == 0 or (path.suffix.lower() != ".parquet"
                                    and not _has_text_rows(path, header=builder == "csv")):
        raise DataError(f"{path}: empty (zero rows); expected {spec.name} {split} examples")
    if builder == "csv":
        kwargs = dict(kwargs, **_csv_kwargs(path, kwargs.get("delimiter", ",")))
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs)
    except Exception as e:  # datasets wraps parser errors; the cause says what is wrong
        cause = e.__cause__ or e
        detail = _first_bad_json_line(path) if builder == "json" else ""
        raise DataError(f"{path}: could not be read as {path.suffix[1:]}: "
                        f"{type(cause).__name__}: {str(cause).strip()}{detail}") from e


# Label spellings of translate-train releases -> the task's label names (XNLI-MT writes "contradictory").
LABEL_SPELLINGS = {"contradictory": "contradiction"}


def translated_tsv(spec: TaskSpec, path: Path) -> datasets.Dataset | None:
    """A translate-train TSV read by position: each line the task's text fields then its label (XTREME's translated
    MNLI: premise, hypothesis, label; XNLI-MT's `multinli.train.<lang>.tsv` with its header `premise hypo label`,
    skipped since its label field is no label). None when the first line names the task's columns (then the file
    is read by name, as any TSV). A line with another number of fields is a DataError naming the file, the line and
    the expected columns."""
    columns = list(spec.text_fields) + [spec.label_field]
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with path.open(encoding="utf-8-sig", newline="") as f:
        lines = [(number, line.rstrip("\r\n").split("\t")) for number, line in enumerate(f, 1) if line.strip()]
    if not lines or set(columns) <= set(lines[0][1]):
        return None
    labels = set(spec.labels) | {str(i) for i in range(len(spec.labels))} | set(LABEL_SPELLINGS)
    if lines[0][1][-1].strip() not in labels:  # a header row: its label field is a column name
        lines = lines[1:]
    rows = []
    for number, fields in lines:
        if len(fields) != len(columns):
            raise DataError(f"{path}: line {number} has {len(fields)} tab-separated fields; expected {len(columns)}: "
                            f"{', '.join(columns)} (a translate-train TSV, read by position)")
        label = fields[-1].strip()
        rows.append({**dict(zip(columns[:-1], fields[:-1])), columns[-1]: LABEL_SPELLINGS.get(label, label)})
    if not rows:
        return None
    return datasets.Dataset.from_list(rows)


def _has_text_rows(path: Path, header: bool) -> bool:
    """Whether a text file has a non-blank line (after the header line, if any); reads only the start."""
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        lines = (line for line in f if line.strip())
        if header:
            next(lines, None)
        return next(lines, None) is not None


def _csv_kwargs(path: Path, delimiter: str) -> dict:
    """Read every column as text (labels are mapped later), so pandas' per-chunk type guessing can't make
    a numeric-looking sentence an int, nor `NA`/`null` a missing value."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        header_line = f.readline()
    if delimiter == "\t":
        header = header_line.rstrip("\r\n").split("\t")
    else:
        header = next(csv.reader([header_line]), [])
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        raise DataError(f"{path}: header row repeats column(s) {', '.join(map(repr, dupes))}")
    features = datasets.Features({name: datasets.Value("string") for name in header})
    return {"features": features, "keep_default_na": False, "encoding": "utf-8-sig"}


def _first_bad_json_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return f" (line {number}: {e})"
    return ""


def _load_hub(spec: TaskSpec, split: str, lang: str) -> tuple[datasets.Dataset, str]:
    hub = {"train": spec.train, "validation": spec.dev, "test": spec.test}[split]
    if hub is None or not hub.path:
        raise DataError(f"task {spec.name!r} has no hub {split} split; give a local copy in its schema by "
                        f"{key_path(spec, split, lang)}")
    if isinstance(hub, HubUnion):
        return _load_union(spec, split, lang, hub)
    prefix = hub.id_prefix_for(lang) if hasattr(hub, "id_prefix_for") else ""
    per_lang = "{lang}" in hub.config or "{name}" in hub.config or bool(prefix)
    if split != "test" and not per_lang and lang != spec.src_lang:
        raise DataError(f"task {spec.name!r} has no hub {split} split in {lang!r} (it is {spec.src_lang!r} "
                        f"only: {hub.path} config {hub.config!r}); give a local copy by "
                        f"{key_path(spec, split, lang)}")
    allowed = spec.langs if split == "test" else tuple(dict.fromkeys(spec.langs + (spec.src_lang,)))
    check_languages([lang], allowed, f"task {spec.name!r} split {split!r}")
    config = hub.config_for(lang)
    where = f"hub dataset {hub.path!r} config {config!r} split {hub.split!r}"
    hint = f"give one in the hub schema by {key_path(spec, split, lang)}"
    ds = _hub_dataset(hub.path, config, hub.split, where, hint)
    if prefix:
        ds = ds.filter(lambda i: i.startswith(prefix), input_columns="id")
        where += f" (ids starting {prefix!r})"
    return ds, where


def _hub_dataset(path: str, config: str, split: str, where: str, hint: str) -> datasets.Dataset:
    try:
        with from_hub(where, hint, data=True):  # offline, unreachable, or no such data set: one line saying so
            return datasets.load_dataset(path, config, split=split)
    except Exception as e:  # anything else (renamed config, broken cache): its first line, and the same way out
        if isinstance(e, XltError):
            raise
        detail = (str(e).strip().splitlines() or [""])[0]
        raise DataError(f"could not load {where}: {type(e).__name__}: {detail}; to use a local copy, {hint}") from e


def _load_union(spec: TaskSpec, split: str, lang: str, union: HubUnion) -> tuple[datasets.Dataset, str]:
    """Each source of `union` loaded from the hub, its labels mapped onto the task's by name and its unlabelled (-1)
    rows dropped, then all concatenated in order: one split of the task's text fields and int64 labels."""
    if lang != spec.src_lang:
        raise DataError(f"task {spec.name!r} has no hub {split} split in {lang!r} (its sources are "
                        f"{spec.src_lang!r} only: {union.path}); give a local copy by {key_path(spec, split, lang)}")
    hint = f"give the whole split in the hub schema by {key_path(spec, split, lang)}"
    parts, names = [], []
    for source in union.sources:
        where = f"hub dataset {source.path!r} config {source.config!r} split {source.split!r}"
        ds = _hub_dataset(source.path, source.config, source.split, where, hint)
        parts.append(source_rows(spec, source, ds, where))
        names.append(f"{source.path} {source.config} {source.split}")
    return datasets.concatenate_datasets(parts), f"{spec.name} {split} ({' + '.join(names)})"


def source_rows(spec: TaskSpec, source: HubSource, ds: datasets.Dataset, where: str) -> datasets.Dataset:
    """One source's rows as the task's: its text fields and its label ids mapped onto the task's labels by name (the
    hub's ClassLabel names when it has them, else the source's card), rows labelled -1 dropped."""
    require_fields(ds, list(spec.text_fields) + [spec.label_field], spec, where)
    feature = ds.features[spec.label_field]
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else list(source.labels)
    unknown = [name for name in names if name not in spec.labels]
    if unknown:
        raise DataError(f"{where}: label {unknown[0]!r} is not one of task {spec.name!r}'s labels "
                        f"({', '.join(spec.labels)}); its labels: {', '.join(names)}")
    to_task = np.array([spec.labels.index(name) for name in names], dtype=np.int64)
    values = ds.with_format("arrow")[:].column(spec.label_field)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):  # names, as a local copy may hold
        ids = np.array([names.index(v) if v in names else (-1 if v in ("-1", None) else -2)
                        for v in values.to_pylist()], dtype=np.int64)
    else:
        ids = np.nan_to_num(values.to_numpy(zero_copy_only=False).astype(float), nan=-2).astype(np.int64)
    bad = (ids != -1) & ((ids < 0) | (ids >= len(names)))
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{where}: row {row + 1}: label {values[row].as_py()!r} is none of {len(names)} label ids "
                        f"({', '.join(names)}) nor -1 (no label, dropped)")
    kept = np.flatnonzero(ids != -1)
    out = ds.select(kept).select_columns(list(spec.text_fields))
    for name in spec.text_fields:
        if out.features[name] != datasets.Value("string"):
            out = out.cast_column(name, datasets.Value("string"))
    return out.add_column(spec.label_field, to_task[ids[kept]], feature=datasets.Value("int64"))


def squad_json(path: Path) -> datasets.Dataset | None:
    """SQuAD's original nested layout (data > paragraphs > qas), as XQuAD, MLQA and TyDiQA-GoldP are released,
    flattened to the hub's one row per question; None if the file is not in that layout. A paragraph's
    `sentence_breaks` (XQuAD-R's release: [start, end] character spans) are kept when the file has them."""
    try:
        with path.open(encoding="utf-8") as f:
            top = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # JSON lines, or broken: the generic reader reports it
    if not isinstance(top, dict) or "data" not in top:
        return None
    check_squad_layout(path, top["data"])
    rows = []
    try:
        with_breaks = any("sentence_breaks" in p for a in top["data"] for p in a["paragraphs"])
        for article in top["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    rows.append({"id": qa["id"], "title": article.get("title", ""),
                                 "context": paragraph["context"], "question": qa["question"],
                                 "answers": qa["answers"]})
                    if with_breaks:
                        rows[-1]["sentence_breaks"] = paragraph.get("sentence_breaks")
    except KeyError as e:
        raise DataError(f"{path}: not in SQuAD's layout (data > paragraphs > context, qas > id, question, "
                        f"answers) at question {len(rows) + 1}: missing field {e}") from e
    return datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({})


def check_squad_layout(path: Path, articles) -> None:
    """Each level of SQuAD's nesting is of its type: `data` a list of article objects, an article's `paragraphs` a
    list of objects, a paragraph's `qas` a list of objects; a DataError names the file and the field otherwise
    (a string where an object belongs, as a hand-made file may have, would be a TypeError deep in a loop)."""
    def expect(value, kind, where: str, what: str):
        if not isinstance(value, kind):
            got = f"a {type(value).__name__} ({str(value)[:40]!r})" if value is not None else "null"
            raise DataError(f"{path}: field {where} is {got}; expected {what} (SQuAD's layout: data > paragraphs > "
                            "context, qas > id, question, answers)")
        return value

    for a, article in enumerate(expect(articles, list, "'data'", "a list of articles")):
        expect(article, dict, f"data[{a}]", "an article object with 'paragraphs'")
        for p, paragraph in enumerate(expect(article.get("paragraphs", []), list, f"data[{a}].paragraphs",
                                             "a list of paragraph objects")):
            expect(paragraph, dict, f"data[{a}].paragraphs[{p}]", "a paragraph object with 'context' and 'qas'")
            for q, qa in enumerate(expect(paragraph.get("qas", []), list, f"data[{a}].paragraphs[{p}].qas",
                                          "a list of question objects")):
                expect(qa, dict, f"data[{a}].paragraphs[{p}].qas[{q}]",
                       "a question object with 'id', 'question' and 'answers'")


def column(ds: datasets.Dataset, name: str) -> list:
    return ds[name][:]  # a plain list (datasets >= 4 returns a lazy Column for ds[name])


def require_fields(ds: datasets.Dataset, names, spec: TaskSpec, where: str) -> None:
    for name in names:
        if name not in ds.column_names:
            raise DataError(f"{where}: missing required field {name!r} for task {spec.name!r} (needs "
                            f"{', '.join(names)}); columns found: {', '.join(ds.column_names)}")


def check_text_column(col: pa.ChunkedArray, feature, name: str, where: str) -> None:
    if isinstance(feature, datasets.Json):  # mixed types in a JSON file: values stored JSON-encoded
        check_text_values([json_value(v) for v in col.to_pylist()], name, where)
        return
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        bad = pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0))
        bad = bad.to_numpy(zero_copy_only=False)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"{where}: row {row + 1}: field {name!r} is empty; expected text, got "
                            f"{col[row].as_py()!r}")
        return
    check_text_values(col.to_pylist(), name, where)


def check_text_values(values: list, name: str, where: str) -> None:
    for row, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            what = "is empty" if value is None or value == "" else "is not text"
            raise DataError(f"{where}: row {row + 1}: field {name!r} {what}; expected text, got {value!r}")


def json_value(raw):
    """Decode one value of a `datasets.Json` column; a bare string that isn't JSON is itself."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
