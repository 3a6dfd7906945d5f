"""Sentence retrieval from a frozen encoder (Tatoeba, BUCC 2018): no fine-tuning; mean-pooled hidden states of one
layer (the one after the middle by default, as XTREME's baselines), cosine similarity. Tatoeba: each sentence's
nearest English sentence, accuracy. BUCC (`bitext_mining`): candidates mined with the ratio margin, the threshold
chosen on each language's dev pairs (Hu et al., 2020), F1 over the mined pairs.
Rows: `source_sentence`, `target_sentence`; BUCC adds `source_id`, `target_id`, and a row may hold one side only
(a sentence with no translation, null on the other side).
"""
from __future__ import annotations

import datasets

from ...core.errors import ConfigError, DataError
from ..embeddings import rank_candidates, sentence_embeddings
from ..files import check_text_values, column, require_fields
from ..metrics import METRICS, bucc_best_threshold, bucc_extract
from ..mining import ratio_margin_pairs
from .base import HANDLERS, ScoredHandler, TaskData, TaskHandler, sequence_length

SENTENCE_FIELDS = ("source_sentence", "target_sentence")


def retrieval_layer(cfg, model) -> int:
    """`cfg.retrieval_layer`, else the layer after the middle one: 7 of mBERT's 12, 13 of XLM-R large's 24,
    as XTREME's retrieval baselines use."""
    n = model.config.num_hidden_layers
    layer = cfg.retrieval_layer if cfg.retrieval_layer is not None else n // 2 + 1
    if not 0 <= layer <= n:
        raise ConfigError(f"field 'retrieval_layer' must be between 0 (embeddings) and {n}, got {layer}")
    return layer


def _side(rows: list[dict], side: str) -> tuple[list[str], list[str]]:
    kept = [r for r in rows if r.get(f"{side}_sentence") is not None]
    return [r[f"{side}_id"] for r in kept], [r[f"{side}_sentence"] for r in kept]


def embedder(model, tokenizer, cfg):
    layer, max_length = retrieval_layer(cfg, model), sequence_length(model, cfg.max_seq_length)
    return lambda texts: sentence_embeddings(model, tokenizer, texts, layer, cfg.per_device_eval_batch_size,
                                             max_length)


def bucc_candidates(embed, rows: list[dict]) -> dict[tuple[str, str], float]:
    """Candidate (source id, target id) pairs and their ratio-margin scores, mined as XTREME mines BUCC."""
    source_ids, sources = _side(rows, "source")
    target_ids, targets = _side(rows, "target")
    return {(source_ids[i], target_ids[j]): score
            for i, j, score in ratio_margin_pairs(embed(sources), embed(targets))}


def gold_pairs(rows: list[dict]) -> list[tuple[str, str]]:
    return [(r["source_id"], r["target_id"]) for r in rows
            if r.get("source_sentence") is not None and r.get("target_sentence") is not None]


def validate_sentence_pairs(spec, ds, where):
    require_fields(ds, list(SENTENCE_FIELDS), spec, where)
    for name in SENTENCE_FIELDS:
        check_text_values(column(ds, name), name, where)
    return ds.select_columns(list(SENTENCE_FIELDS))


def validate_bucc(ds: datasets.Dataset, where: str) -> datasets.Dataset:
    """BUCC rows: a gold pair, or (as in BUCC's comparable corpora) a sentence with no translation, its other
    side null. Ids come from `source_id` / `target_id` when given (unique per side), else from the row."""
    columns = {name: column(ds, name) if name in ds.column_names else [None] * len(ds)
               for name in ("source_id", "source_sentence", "target_id", "target_sentence")}
    seen: dict[str, dict] = {"source": {}, "target": {}}
    for row in range(len(ds)):
        present = [side for side in ("source", "target") if columns[f"{side}_sentence"][row] is not None]
        if not present:
            raise DataError(f"{where}: row {row + 1}: both 'source_sentence' and 'target_sentence' are empty")
        for side in ("source", "target"):
            text, key = columns[f"{side}_sentence"][row], f"{side}_id"
            if text is None:
                columns[key][row] = None
                continue
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: row {row + 1}: field '{side}_sentence' is not text: {text!r}")
            sid = columns[key][row]
            sid = f"{side}-{row + 1}" if sid is None else str(sid)
            if sid in seen[side]:
                raise DataError(f"{where}: row {row + 1}: {key} {sid!r} repeats row {seen[side][sid]}")
            seen[side][sid] = row + 1
            columns[key][row] = sid
    return datasets.Dataset.from_dict(columns, features=datasets.Features(
        {name: datasets.Value("string") for name in columns}))


class SentenceRetrieval(ScoredHandler):
    """Tatoeba: the test set's i-th source sentence should find the i-th target sentence."""

    name = "sentence_retrieval"
    supports = frozenset()  # no training, and no attack is defined on a ranking from a frozen encoder
    fine_tuned = False
    splits = ("test",)

    def validate(self, spec, ds, where, lang):
        return validate_sentence_pairs(spec, ds, where)

    def predict(self, spec, model, tokenizer, examples, cfg, max_length, perturbation=None, seed=0):
        embed = embedder(model, tokenizer, cfg)
        return rank_candidates(embed([r["source_sentence"] for r in examples]),
                               embed([r["target_sentence"] for r in examples]), k=1)[:, 0].tolist()

    def scores(self, spec, predictions, examples, lang, data):
        return {spec.metric: METRICS[spec.metric](predictions, list(range(len(examples))))}

    def gold_items(self, spec, lang, examples, data):
        return range(len(examples))


class BitextMining(TaskHandler):
    """BUCC: parallel sentences mined from comparable corpora; each language's dev pairs set the threshold."""

    name = "bitext_mining"
    supports = frozenset()
    fine_tuned = False
    splits = ("test",)

    def validate(self, spec, ds, where, lang):
        require_fields(ds, list(SENTENCE_FIELDS), spec, where)
        return validate_bucc(ds, where)

    def load(self, cfg, spec, data_files, langs):
        data = super().load(cfg, spec, data_files, langs)
        data.extra["dev"] = {lang: self.load_split(spec, "validation", lang, data_files, cfg.max_eval_samples)
                             for lang in langs}
        return data

    def evaluate(self, spec, model, tokenizer, data: TaskData, cfg, max_length, perturbation, seed):
        embed, records, predictions = embedder(model, tokenizer, cfg), [], {}
        for lang, rows in data.tests.items():
            dev = data.extra["dev"][lang]
            threshold = bucc_best_threshold(bucc_candidates(embed, dev), gold_pairs(dev))
            predictions[lang] = sorted(bucc_extract(bucc_candidates(embed, rows), threshold))
            value = METRICS[spec.metric](predictions[lang], gold_pairs(rows))["f1"]
            records.append({"lang": lang, "split": "test", "metric": spec.metric, "value": float(value)})
        return records, predictions

    def gold_items(self, spec, lang, examples, data):
        return gold_pairs(examples)


HANDLERS.register(SentenceRetrieval.name, SentenceRetrieval())
HANDLERS.register(BitextMining.name, BitextMining())
