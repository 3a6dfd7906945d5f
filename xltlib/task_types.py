"""What each XTREME task type does beyond sentence pairs, chosen by `TaskType`, never by task name: which splits it
loads, how a batch is built, how predictions are decoded, scored and written in the XTREME submission layout.

- tagging (UD-POS, PAN-X): a token-classification head, the first subword of each word labelled; seqeval F1.
- span QA (XQuAD, MLQA, TyDiQA): windows with a document stride of a third of the length (XTREME's 128 of 384),
  n-best span decoding; exact match and F1 (SQuAD's, or MLQA's per-language script), task score (EM + F1) / 2.
- multiple choice (XCOPA): one score per choice; trained on the intermediate task (SIQA) first when there is one.
- retrieval (Tatoeba, BUCC): no fine-tuning; mean-pooled hidden states of one layer, cosine similarity; BUCC's
  candidates are mined with the ratio margin and its threshold is chosen on its dev pairs (Hu et al., 2020).
  LAReQA and Mewsli-X (`spec.dual_encoder`) fine-tune a dual encoder (xltlib.dual_encoder) on English pairs,
  selected by English dev mAP@20; each query's top 20 of the pool (every test language's candidates, plus a
  candidate set file) is exported and scored.
Pair classification keeps its own path (`xltlib.evaluate`, robust training and attacks).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import TrainArgs
from .data_xtreme import load_candidate_set, load_xtreme_split
from .dual_encoder import DualEncoder, candidate_pool, pair_collate, top_candidates, training_pairs
from .errors import ConfigError, DataError
from .features_xtreme import (decode_answers, multiple_choice_collate, prepare_qa_features,
                              rank_candidates, sentence_embeddings, tagging_collate, word_predictions)
from .methods import Perturbation
from .metrics import METRICS
from .metrics_xtreme import bucc_best_threshold, bucc_extract, headline
from .mining import ratio_margin_pairs
from .results import atomic_write_text, save_finished_run
from .scorer import write_submission_file
from .tasks import TaskSpec, TaskType
from .train import train

QA_N_BEST, QA_MAX_ANSWER_TOKENS = 20, 30  # the SQuAD BERT recipe's defaults, as XTREME's run_squad.py


@dataclass
class XtremeData:
    spec: TaskSpec
    train: list[dict] = field(default_factory=list)
    dev: list[dict] | dict[str, list[dict]] = field(default_factory=list)  # retrieval (BUCC): by language
    tests: dict[str, list[dict]] = field(default_factory=dict)
    intermediate: list[dict] = field(default_factory=list)
    candidates: dict[str, str] = field(default_factory=dict)  # dual-encoder retrieval: a candidate set file's


def load_xtreme_data(cfg, spec: TaskSpec, files: dict, langs: tuple[str, ...]) -> XtremeData:
    """The splits the task type needs: retrieval without a dual encoder has no training data (BUCC: a dev split
    for its threshold); a dual encoder adds the candidate set beside its test files, if any (Mewsli-X);
    multiple choice adds its intermediate task when one is registered."""
    def load(split, lang, limit):
        return load_xtreme_split(spec, split, lang, files, limit).to_list()

    data = XtremeData(spec, tests={lang: load("test", lang, cfg.max_eval_samples) for lang in langs})
    if not spec.fine_tuned:
        if spec.metric == "bucc_f1":  # BUCC's threshold comes from each language's dev pairs
            data.dev = {lang: load("validation", lang, cfg.max_eval_samples) for lang in langs}
        return data
    data.train = load("train", spec.src_lang, cfg.max_train_samples)
    data.dev = load("validation", spec.src_lang, cfg.max_eval_samples)
    if spec.intermediate is not None:
        data.intermediate = load("intermediate", spec.src_lang, cfg.max_train_samples)
    if spec.dual_encoder:
        data.candidates = load_candidate_set(spec, files, langs)
        check_relevant_in_pool(spec, data.tests, candidate_pool(_all(data.tests), data.candidates))
    return data


def _all(tests: dict[str, list[dict]]) -> list[dict]:
    return [row for rows in tests.values() for row in rows]


def check_relevant_in_pool(spec: TaskSpec, tests: dict[str, list[dict]], pool: dict[str, str]) -> None:
    for lang, rows in tests.items():
        for n, row in enumerate(rows, 1):
            missing = [r for r in row["relevant"] if r not in pool]
            if missing:
                raise DataError(f"task {spec.name!r} test {lang!r}: row {n} (query {row['id']!r}): relevant id "
                                f"{missing[0]!r} is in no candidate of the pool ({len(pool)} candidates: the test "
                                "files' own, and a candidate set file beside them)")


def sequence_length(model, requested: int) -> int:
    """`requested`, capped at what the model's position embeddings hold (RoBERTa-style models reserve
    pad id + 1 positions), so a long QA context is windowed rather than overflowing the positions."""
    config = model.config
    reserved = config.pad_token_id + 1 if config.model_type in ("roberta", "xlm-roberta") else 0
    return min(requested, config.max_position_embeddings - reserved)


def retrieval_layer(cfg, model) -> int:
    """`cfg.retrieval_layer`, else the layer after the middle one: 7 of mBERT's 12, 13 of XLM-R large's 24,
    as XTREME's retrieval baselines use."""
    n = model.config.num_hidden_layers
    layer = cfg.retrieval_layer if cfg.retrieval_layer is not None else n // 2 + 1
    if not 0 <= layer <= n:
        raise ConfigError(f"field 'retrieval_layer' must be between 0 (embeddings) and {n}, got {layer}")
    return layer


def check_plain(perturbation: Perturbation, spec: TaskSpec, method: str) -> None:
    if type(perturbation) is not Perturbation:
        raise ConfigError(f"method {method!r} is implemented for pair classification; task {spec.name!r} is "
                          f"{spec.type.value}: use 'standard' or 'scratch'")


# -- batches for training -----------------------------------------------------------------------------


def qa_collate(tokenizer, max_length: int):
    def collate(examples: list[dict]) -> dict:
        return prepare_qa_features(tokenizer, examples, max_length, max_length // 3, with_labels=True).inputs

    return collate


def _args(cfg, max_length: int) -> TrainArgs:
    return TrainArgs(max_seq_length=max_length, pad_to_max_length=cfg.pad_to_max_length)


def train_collate(spec: TaskSpec, tokenizer, cfg, max_length: int):
    args = _args(cfg, max_length)
    if spec.type is TaskType.TAGGING:
        return tagging_collate(tokenizer, spec, args)
    if spec.type is TaskType.SPAN_QA:
        return qa_collate(tokenizer, max_length)
    if spec.type is TaskType.MULTIPLE_CHOICE:
        return multiple_choice_collate(tokenizer, spec, args)
    if spec.dual_encoder:
        return pair_collate(tokenizer, max_length, cfg.pad_to_max_length)
    raise ConfigError(f"task {spec.name!r}: {spec.type.value} tasks are not fine-tuned")


# -- predictions --------------------------------------------------------------------------------------


@torch.no_grad()
def predict(spec: TaskSpec, model, tokenizer, examples: list[dict], cfg, max_length: int):
    """Tagging: tag names per word; QA: {id: answer text}; multiple choice: choice indices."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batch_size, args = cfg.per_device_eval_batch_size, _args(cfg, max_length)
    out = {} if spec.type is TaskType.SPAN_QA else []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        if spec.type is TaskType.TAGGING:
            batch = tagging_collate(tokenizer, spec, args, with_labels=False, keep_word_ids=True)(chunk)
            word_ids = batch.pop("word_ids")
            tags = model(**{k: v.to(device) for k, v in batch.items()}).logits.argmax(-1).cpu()
            out += [[spec.labels[t] for t in word_predictions(tags[i], word_ids[i], len(e["tokens"]))]
                    for i, e in enumerate(chunk)]
        elif spec.type is TaskType.SPAN_QA:
            features = prepare_qa_features(tokenizer, chunk, max_length, max_length // 3, with_labels=False)
            logits = model(**{k: v.to(device) for k, v in features.inputs.items()})
            out.update(decode_answers(logits.start_logits.float().cpu(), logits.end_logits.float().cpu(), features,
                                      chunk, QA_N_BEST, QA_MAX_ANSWER_TOKENS))
        else:
            batch = multiple_choice_collate(tokenizer, spec, args, with_labels=False)(chunk)
            out += model(**{k: v.to(device) for k, v in batch.items()}).logits.argmax(-1).cpu().tolist()
    model.train(was_training)
    return out


def gold(spec: TaskSpec, examples: list[dict]):
    """The gold side of `predict` (QA: id -> answer texts)."""
    if spec.type is TaskType.TAGGING:
        return [[spec.labels[t] for t in e["tags"]] for e in examples]
    if spec.type is TaskType.SPAN_QA:
        return {e["id"]: list(e["answers"]["text"]) for e in examples}
    return [e["label"] for e in examples]


def scores(spec: TaskSpec, predictions, examples: list[dict], lang: str) -> dict[str, float]:
    """{metric: value} in [0, 1]; the task's own metric name carries its one number (QA: (EM + F1) / 2)."""
    golds = gold(spec, examples)
    if spec.type is TaskType.MULTIPLE_CHOICE:
        return {spec.metric: METRICS[spec.metric](predictions, golds)}
    if spec.type is TaskType.TAGGING:
        return {spec.metric: METRICS[spec.metric](predictions, golds)["f1"]}
    args = (lang,) if spec.metric == "mlqa" else ()  # MLQA normalises answers by language
    values = METRICS[spec.metric](predictions, golds, *args)
    return {"exact_match": values["exact_match"], "f1": values["f1"], spec.metric: headline(spec.metric, values)}


# -- retrieval ----------------------------------------------------------------------------------------


def _side(rows: list[dict], side: str) -> tuple[list[str], list[str]]:
    kept = [r for r in rows if r.get(f"{side}_sentence") is not None]
    return [r[f"{side}_id"] for r in kept], [r[f"{side}_sentence"] for r in kept]


def _embedder(model, tokenizer, cfg):
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


def relevant_sets(tests: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Query id -> relevant candidate ids over every language loaded: a LAReQA question's answer sentence in each
    language (its id is the same in all); a Mewsli-X mention's one entity."""
    out: dict[str, dict[str, None]] = {}
    for row in _all(tests):
        out.setdefault(row["id"], {}).update(dict.fromkeys(row["relevant"]))
    return {qid: list(ids) for qid, ids in out.items()}


def ranked(model, tokenizer, rows: list[dict], pool: dict[str, str], cfg) -> dict[str, list[str]]:
    """{query id: its top-20 candidate ids}, the submission layout of lareqa / mewslix."""
    encoder = model.encoder if isinstance(model, DualEncoder) else model
    top = top_candidates(encoder, tokenizer, [r["query"] for r in rows], pool, cfg.per_device_eval_batch_size,
                         sequence_length(encoder, cfg.max_seq_length))
    return {r["id"]: ids for r, ids in zip(rows, top)}


def ranking_score(spec: TaskSpec, model, tokenizer, rows: list[dict], pool: dict[str, str], relevant, cfg):
    found = ranked(model, tokenizer, rows, pool, cfg)
    return found, METRICS[spec.metric](found, {r["id"]: relevant[r["id"]] for r in rows})


def retrieve(spec: TaskSpec, model, tokenizer, data: XtremeData, lang: str, cfg) -> tuple[object, dict]:
    """(predictions in the submission layout, {metric: value}) for one language."""
    if spec.dual_encoder:  # the pool spans every test language (LAReQA) and the candidate set (Mewsli-X)
        found, value = ranking_score(spec, model, tokenizer, data.tests[lang],
                                     candidate_pool(_all(data.tests), data.candidates), relevant_sets(data.tests), cfg)
        return found, {spec.metric: value}
    embed, rows = _embedder(model, tokenizer, cfg), data.tests[lang]
    if spec.metric == "bucc_f1":
        threshold = bucc_best_threshold(bucc_candidates(embed, data.dev[lang]), gold_pairs(data.dev[lang]))
        mined = sorted(bucc_extract(bucc_candidates(embed, rows), threshold))
        return mined, {spec.metric: METRICS[spec.metric](mined, gold_pairs(rows))["f1"]}
    if spec.text_fields != ("source_sentence", "target_sentence"):
        raise ConfigError(f"task {spec.name!r}: retrieval over {', '.join(spec.text_fields)} is not wired into "
                          "run_experiment yet (sentence retrieval only: tatoeba, bucc2018)")
    found = rank_candidates(embed([r["source_sentence"] for r in rows]),
                            embed([r["target_sentence"] for r in rows]), k=1)[:, 0].tolist()
    return found, {spec.metric: METRICS[spec.metric](found, list(range(len(rows))))}


# -- the submission layout ----------------------------------------------------------------------------


def write_gold(spec: TaskSpec, tests: dict[str, list[dict]], directory: Path) -> None:
    """Gold labels in the layout `xlt score --labels` reads: label names, tag sentences, SQuAD json, target
    indices, BUCC id pairs, {query id: relevant ids} (LAReQA, Mewsli-X), XCOPA `label` lines."""
    for lang, examples in tests.items():
        if spec.type is TaskType.SPAN_QA:
            paragraphs = [{"context": e["context"], "qas": [{"id": e["id"], "question": e["question"], "answers": [
                {"text": t, "answer_start": s} for t, s in zip(e["answers"]["text"], e["answers"]["answer_start"])]}]}
                for e in examples]
            path = Path(directory) / spec.submission_name / f"test-{lang}.json"
            atomic_write_text(path, json.dumps({"data": [{"title": lang, "paragraphs": paragraphs}]},
                                               ensure_ascii=False) + "\n")
        elif spec.dual_encoder:
            relevant = relevant_sets(tests)
            write_submission_file(directory, spec.name, lang, {e["id"]: relevant[e["id"]] for e in examples})
        elif spec.type is TaskType.RETRIEVAL:
            items = gold_pairs(examples) if spec.metric == "bucc_f1" else range(len(examples))
            write_submission_file(directory, spec.name, lang, items)
        elif spec.type is TaskType.PAIR_CLASSIFICATION:
            write_submission_file(directory, spec.name, lang, [spec.labels[e["label"]] for e in examples])
        else:
            write_submission_file(directory, spec.name, lang, gold(spec, examples))


# -- one run ------------------------------------------------------------------------------------------


def english_dev_scorer(spec: TaskSpec, dev: list[dict], tokenizer, cfg, max_length: int):
    """model -> its English dev score: model selection sees English only (the zero-shot protocol). A dual
    encoder ranks English dev's own candidates (mAP@20)."""
    if spec.dual_encoder:
        pool, relevant = candidate_pool(dev), relevant_sets({spec.src_lang: dev})
        return lambda m: ranking_score(spec, m, tokenizer, dev, pool, relevant, cfg)[1]
    return lambda m: scores(spec, predict(spec, m, tokenizer, dev, cfg, max_length), dev, spec.src_lang)[spec.metric]


def run_xtreme_task(cfg, data: XtremeData, model, tokenizer, perturbation, method: str, seed: int,
                    work_dir: Path, predictions_dir: Path | None) -> list[dict]:
    """Fine-tune (unless retrieval without a dual encoder) on the intermediate task then the English training
    set, selecting on English dev; then score and export every test language. Records are saved in `work_dir` as
    `xltlib.experiment` saves a pair task's, and returned."""
    spec = data.spec
    check_plain(perturbation, spec, method)
    max_length = sequence_length(model, cfg.max_seq_length)
    records, result = [], None
    if spec.fine_tuned:
        collate = train_collate(spec, tokenizer, cfg, max_length)
        trained, train_examples = model, data.train
        if spec.dual_encoder:  # the dual encoder shares `model`'s weights: training it trains the encoder
            trained, train_examples = DualEncoder(model), training_pairs(data.train)
        dev_score = english_dev_scorer(spec, data.dev, tokenizer, cfg, max_length)
        stages = [("intermediate", data.intermediate)] if data.intermediate else []
        for stage, examples in stages + [("train", train_examples)]:
            result = train(trained, examples, collate, cfg, seed=seed, perturbation=perturbation,
                              dev_score=dev_score, checkpoint_dir=work_dir / f"checkpoint-{stage}",
                              desc=f"{spec.name} {stage} {method} seed {seed}")
        records.append({"lang": spec.src_lang, "split": "validation", "metric": spec.metric,
                        "value": result.best_dev_score})
    for lang, examples in data.tests.items():
        if spec.type is TaskType.RETRIEVAL:
            predictions, values = retrieve(spec, model, tokenizer, data, lang, cfg)
        else:
            predictions = predict(spec, model, tokenizer, examples, cfg, max_length)
            values = scores(spec, predictions, examples, lang)
        records += [{"lang": lang, "split": "test", "metric": m, "value": float(v)} for m, v in values.items()]
        if predictions_dir is not None:
            layout = predictions if spec.type is not TaskType.MULTIPLE_CHOICE else [int(p) for p in predictions]
            write_submission_file(predictions_dir, spec.name, lang, layout)
    records = [{"task": spec.name, "method": method, "seed": seed, **r} for r in records]
    save_finished_run(work_dir, records, result)
    return records
