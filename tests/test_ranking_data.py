"""Loaders of the dual-encoder retrieval tasks on small files in their released formats: XQuAD-R (SQuAD's nested
json with each paragraph's `sentence_breaks`; the hub's flat rows without them), SQuAD v1.1 for training, and
Mewsli-X (Wikipedia mention-entity pairs, WikiNews articles with mentions, the candidate set beside them)."""
import json
from pathlib import Path

import pytest

from xltlib.core.config import RunConfig
from xltlib.core.errors import DataError
from xltlib.run.experiment import load_task_data
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.handlers.dense_retrieval import infer_sentence_breaks, load_candidate_set, mention_query

LAREQA, MEWSLIX = TASKS["lareqa"], TASKS["mewslix"]


def load_xtreme_split(spec, split, lang, data_files, max_samples=None) -> list[dict]:
    """One split's rows (a list of dicts), as the task's handler loads them."""
    return handler_for(spec).load_split(spec, split, lang, data_files, max_samples)

CONTEXTS = {
    "en": ["The cat sleeps on the sofa.", "A man reads a book in the park.", "She drinks coffee every morning."],
    "de": ["Die Katze schläft auf dem Sofa.", "Ein Mann liest ein Buch im Park.", "Sie trinkt jeden Morgen Kaffee."],
}
QUESTIONS = {"en": [("q1", "Where does the cat sleep?", "sofa"), ("q2", "What does the man read?", "book")],
             "de": [("q1", "Wo schläft die Katze?", "Sofa"), ("q2", "Was liest der Mann?", "Buch")]}


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def _jsonl(path: Path, rows) -> str:
    return _write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def xquad_r_json(lang: str, breaks=True) -> dict:
    """XQuAD-R's release layout: SQuAD's nesting, one paragraph with its sentence breaks."""
    sentences = CONTEXTS[lang]
    context = " ".join(sentences)
    spans, start = [], 0
    for s in sentences:
        spans.append([start, start + len(s)])
        start += len(s) + 1
    qas = []
    for k, (qid, question, answer) in enumerate(QUESTIONS[lang]):
        qas.append({"id": qid, "question": question,
                    "answers": [{"text": answer, "answer_start": context.index(answer)}]})
    paragraph = {"context": context, "qas": qas, **({"sentence_breaks": spans} if breaks else {})}
    return {"data": [{"title": "t", "paragraphs": [paragraph]}]}


def lareqa_files(root: Path) -> dict:
    """{split: {lang: path}}: SQuAD-like English training and dev (no sentence breaks), XQuAD-R tests."""
    train = xquad_r_json("en", breaks=False)
    return {"train": {"en": _write(root / "train-v1.1.json", json.dumps(train))},
            "validation": {"en": _write(root / "dev-v1.1.json", json.dumps(train))},
            "test": {lang: _write(root / f"xquad-r/{lang}.json", json.dumps(xquad_r_json(lang))) for lang in CONTEXTS}}


ENTITIES = [
    {"entity_id": "Q1757", "title": "Helsinki", "description": "Helsinki is the capital of Finland. It is a city.",
     "sentence_spans": [{"start": 0, "end": 35}, {"start": 36, "end": 49}], "description_language": "en",
     "description_url": "https://en.wikipedia.org/wiki/Helsinki"},
    {"entity_id": "Q33", "title": "Finland", "description": "Finnland ist ein Staat in Nordeuropa.",
     "sentence_spans": [{"start": 0, "end": 37}], "description_language": "de",
     "description_url": "https://de.wikipedia.org/wiki/Finnland"},
    {"entity_id": "Q64", "title": "Berlin", "description": "Berlin is the capital of Germany.",
     "sentence_spans": [{"start": 0, "end": 33}], "description_language": "en",
     "description_url": "https://en.wikipedia.org/wiki/Berlin"},
]


def _context(text: str, lang: str, doc: str) -> dict:
    spans = [{"start": s, "end": e} for s, e in infer_sentence_breaks(text)]
    return {"document_title": doc, "document_url": f"https://{lang}.wikinews.org/{doc}", "document_id": doc,
            "language": lang, "text": text, "sentence_spans": spans}


def _mention(example_id: str, text: str, surface: str, entity_id: str, nth: int = 0) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return {"example_id": example_id, "mention_span": {"start": start, "end": start + len(surface), "text": surface},
            "entity_id": entity_id}


def mewslix_files(root: Path) -> dict:
    """Wikipedia pairs (train, dev), one WikiNews file with every language's articles, the candidate set beside."""
    en = "Transit strike in Helsinki. The strike in Helsinki affects {buses}."
    de = "Streik in Helsinki. Der Streik betrifft Finnland und Berlin."
    news = [{"context": _context(en, "en", "en-1"), "mentions": [_mention("m1", en, "Helsinki", "Q1757", 1)]},
            {"context": _context(de, "de", "de-1"), "mentions": [_mention("m2", de, "Finnland", "Q33"),
                                                                 _mention("m3", de, "Berlin", "Q64")]}]
    pairs = []
    for i, (text, surface, entity) in enumerate([("Espoo is near Helsinki.", "Helsinki", ENTITIES[0]),
                                                 ("Berlin hosts the parliament.", "Berlin", ENTITIES[2]),
                                                 ("The team visited Finland.", "Finland", ENTITIES[1])]):
        pairs.append({"contextual_mention": {"context": _context(text, "en", f"wiki-{i}"),
                                             "mention": _mention(f"w{i}", text, surface, entity["entity_id"])},
                      "entity": entity})
    news_path = _jsonl(root / "wikinews_mentions-test.jsonl", news)
    _jsonl(root / "candidate_set_entities.jsonl", ENTITIES)
    return {"train": {"en": _jsonl(root / "wikipedia_pairs-train.jsonl", pairs)},
            "validation": {"en": _jsonl(root / "wikipedia_pairs-dev.jsonl", pairs)},
            "test": {"en": news_path, "de": news_path}}


# -- LAReQA -------------------------------------------------------------------------------------------


def test_xquad_r_release_json_becomes_questions_over_the_context_sentences(tmp_path):
    files = lareqa_files(tmp_path)
    rows = {lang: load_xtreme_split(LAREQA, "test", lang, files) for lang in CONTEXTS}
    en = rows["en"][0]
    assert en["id"] == "q1" and en["query"] == "Where does the cat sleep?"
    assert en["candidate_ids"] == ["en_1_0", "en_1_1", "en_1_2"] and en["candidates"] == CONTEXTS["en"]
    assert en["relevant"] == ["en_1_0"]
    assert rows["en"][1]["relevant"] == ["en_1_1"] and rows["de"][1]["relevant"] == ["de_1_1"]
    assert rows["de"][0]["candidates"] == CONTEXTS["de"]


def test_squad_without_sentence_breaks_is_split_by_rule(tmp_path):
    rows = load_xtreme_split(LAREQA, "train", "en", lareqa_files(tmp_path))
    assert rows[0]["candidates"] == CONTEXTS["en"]  # the rule-based breaks match the release's here
    assert [r["relevant"] for r in rows] == [["en_1_0"], ["en_1_1"]]


def test_infer_sentence_breaks():
    text = "Dr Smith left. Then it rained!  Why?\nEnd"
    assert [text[a:b] for a, b in infer_sentence_breaks(text)] == ["Dr Smith left.", "Then it rained!", "Why?",
                                                                     "End"]


def test_bad_sentence_breaks_name_the_file_and_row(tmp_path):
    data = xquad_r_json("en")
    data["data"][0]["paragraphs"][0]["sentence_breaks"] = [[0, 10_000]]
    path = _write(tmp_path / "en.json", json.dumps(data))
    with pytest.raises(DataError, match=r"en\.json: row 1 \(id 'q1'\): field 'sentence_breaks'"):
        load_xtreme_split(LAREQA, "test", "en", {"test": {"en": path}})


def test_an_answer_outside_every_sentence_is_skipped_with_a_warning(tmp_path):
    data = xquad_r_json("en")
    data["data"][0]["paragraphs"][0]["sentence_breaks"] = [[0, 27], [28, 30]]  # the book is in no sentence
    path = _write(tmp_path / "en.json", json.dumps(data))
    with pytest.warns(UserWarning, match="skipped 1 of 2 questions"):
        rows = load_xtreme_split(LAREQA, "test", "en", {"test": {"en": path}})
    assert [r["id"] for r in rows] == ["q1"]


# -- Mewsli-X -----------------------------------------------------------------------------------------


def test_mention_query_marks_the_mention_in_its_sentence():
    text = "Transit strike in Helsinki. The strike in Helsinki affects {buses}."
    query = mention_query(_context(text, "en", "d"), _mention("m", text, "Helsinki", "Q1757", 1))
    assert query == "Helsinki: The strike in { Helsinki } affects (buses)."


def test_mewsli_x_release_files(tmp_path):
    files = mewslix_files(tmp_path)
    train = load_xtreme_split(MEWSLIX, "train", "en", files)
    assert [r["relevant"] for r in train] == [["Q1757"], ["Q64"], ["Q33"]]
    assert train[0]["candidate_ids"] == ["Q1757"]
    assert train[0]["candidates"] == ["Helsinki is the capital of Finland. It is a city."]
    assert train[0]["query"] == "Helsinki: Espoo is near { Helsinki } ."
    de = load_xtreme_split(MEWSLIX, "test", "de", files)  # one file, every language: kept by language
    assert [(r["id"], r["relevant"], r["candidate_ids"]) for r in de] == [("m2", ["Q33"], []), ("m3", ["Q64"], [])]
    assert [r["id"] for r in load_xtreme_split(MEWSLIX, "test", "en", files)] == ["m1"]
    pool = load_candidate_set(MEWSLIX, files, ["en", "de"])
    assert sorted(pool) == ["Q1757", "Q33", "Q64"] and pool["Q33"] == "Finnland ist ein Staat in Nordeuropa."


def test_a_mention_span_that_does_not_match_its_text_names_the_file_and_row(tmp_path):
    files = mewslix_files(tmp_path)
    lines = Path(files["test"]["de"]).read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[1])
    record["mentions"][0]["mention_span"]["start"] += 1
    lines[1] = json.dumps(record, ensure_ascii=False)
    Path(files["test"]["de"]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"wikinews_mentions-test\.jsonl: row 2: not a Mewsli-X record \(mention_span"):
        load_xtreme_split(MEWSLIX, "test", "de", files)


def test_a_gold_entity_missing_from_the_candidate_set_is_an_error(tmp_path):
    files = mewslix_files(tmp_path)
    _jsonl(tmp_path / "candidate_set_entities.jsonl", ENTITIES[:2])  # Berlin (Q64) gone
    cfg = RunConfig(world="real", model_name_or_path="xlm-roberta-base", tasks=["mewslix"], eval_langs=["de"],
                    data_files={"mewslix": files})
    with pytest.raises(DataError, match=r"task 'mewslix' test 'de': row 2 \(query 'm3'\): relevant id 'Q64'"):
        load_task_data(cfg, "mewslix")


def test_ranking_rows_with_one_id_for_two_texts_are_refused(tmp_path):
    row = {"id": "a", "query": "q", "relevant": ["c1"], "candidate_ids": ["c1"], "candidates": ["one"]}
    path = _jsonl(tmp_path / "rows.jsonl", [row, dict(row, id="b", candidates=["two"])])
    with pytest.raises(DataError, match=r"rows\.jsonl: row 2 \(id 'b'\): candidate id 'c1' has another text"):
        load_xtreme_split(MEWSLIX, "test", "en", {"test": {"en": path}})
