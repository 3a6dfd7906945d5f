"""Shared test setup: offline, single-threaded, caches inside the project; tiny models built (not downloaded)
in both real families (BERT + WordPiece, XLM-R + Unigram); small data files in the real tasks' schemas
(XNLI as on the hub, PAWS-X as in its original TSV release).
"""
import os
from pathlib import Path

# Before torch or transformers load anywhere: no network, no thread pools fighting over 2 shared cores.
_CACHE = Path(__file__).resolve().parent.parent / ".cache"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HOME", str(_CACHE / "huggingface"))
os.environ.setdefault("MPLCONFIGDIR", str(_CACHE / "matplotlib"))
Path(os.environ["MPLCONFIGDIR"]).mkdir(parents=True, exist_ok=True)

import json  # noqa: E402

import pytest  # noqa: E402

MAX_LENGTH = 128

# XNLI-style test rows, parallel across languages: 4 premises x (entailment, neutral, contradiction).
XNLI_LABELS = ("entailment", "neutral", "contradiction")
_XNLI = {
    "en": [
        ("The cat sleeps on the sofa.",
         ["An animal is sleeping.", "The cat is old.", "The cat is running outside."]),
        ("A man reads a book in the park.",
         ["Someone is reading.", "The book is a novel.", "The man is sleeping at home."]),
        ("The children play football after school.",
         ["Children are playing a sport.", "The children win the match.", "The children are in class."]),
        ("She drinks coffee every morning.",
         ["She drinks something in the morning.", "Her coffee is sweet.", "She never drinks coffee."]),
    ],
    "de": [
        ("Die Katze schläft auf dem Sofa.",
         ["Ein Tier schläft.", "Die Katze ist alt.", "Die Katze rennt draußen."]),
        ("Ein Mann liest ein Buch im Park.",
         ["Jemand liest.", "Das Buch ist ein Roman.", "Der Mann schläft zu Hause."]),
        ("Die Kinder spielen nach der Schule Fußball.",
         ["Kinder treiben Sport.", "Die Kinder gewinnen das Spiel.", "Die Kinder sind im Unterricht."]),
        ("Sie trinkt jeden Morgen Kaffee.",
         ["Sie trinkt morgens etwas.", "Ihr Kaffee ist süß.", "Sie trinkt nie Kaffee."]),
    ],
    "fr": [
        ("Le chat dort sur le canapé.",
         ["Un animal dort.", "Le chat est vieux.", "Le chat court dehors."]),
        ("Un homme lit un livre dans le parc.",
         ["Quelqu'un lit.", "Le livre est un roman.", "L'homme dort à la maison."]),
        ("Les enfants jouent au football après l'école.",
         ["Des enfants font du sport.", "Les enfants gagnent le match.", "Les enfants sont en classe."]),
        ("Elle boit du café chaque matin.",
         ["Elle boit quelque chose le matin.", "Son café est sucré.", "Elle ne boit jamais de café."]),
    ],
    "el": [
        ("Η γάτα κοιμάται στον καναπέ.",
         ["Ένα ζώο κοιμάται.", "Η γάτα είναι γέρικη.", "Η γάτα τρέχει έξω."]),
        ("Ένας άντρας διαβάζει ένα βιβλίο στο πάρκο.",
         ["Κάποιος διαβάζει.", "Το βιβλίο είναι μυθιστόρημα.", "Ο άντρας κοιμάται στο σπίτι."]),
        ("Τα παιδιά παίζουν ποδόσφαιρο μετά το σχολείο.",
         ["Παιδιά παίζουν ένα άθλημα.", "Τα παιδιά κερδίζουν τον αγώνα.", "Τα παιδιά είναι στην τάξη."]),
        ("Πίνει καφέ κάθε πρωί.",
         ["Πίνει κάτι το πρωί.", "Ο καφές της είναι γλυκός.", "Δεν πίνει ποτέ καφέ."]),
    ],
}
XNLI_ROWS = {
    lang: [{"premise": p, "hypothesis": h, "label": label}
           for p, hyps in items for label, h in enumerate(hyps)]
    for lang, items in _XNLI.items()
}

# PAWS-X-style pairs: word-scrambled near-paraphrases (label 0) and real paraphrases (label 1), with the
# unbalanced double quotes the original TSVs contain.
PAWSX_ROWS = {
    "en": [
        ("In 1990 he moved from Paris to Berlin.", "In 1990 he moved from Berlin to Paris.", 0),
        ("In 1990 he moved from Paris to Berlin.", "He moved from Paris to Berlin in 1990.", 1),
        ('The film "Blue Sky was released in 1994.', 'Released in 1994, the film "Blue Sky.', 1),
        ("The river flows north into the lake.", "The lake flows north into the river.", 0),
        ("She was born in Lyon and died in Rome.", "She was born in Rome and died in Lyon.", 0),
        ("She was born in Lyon and died in Rome.", "Born in Lyon, she died in Rome.", 1),
    ],
    "de": [
        ("1990 zog er von Paris nach Berlin.", "1990 zog er von Berlin nach Paris.", 0),
        ("1990 zog er von Paris nach Berlin.", "Er zog 1990 von Paris nach Berlin.", 1),
        ('Der Film "Blue Sky kam 1994 heraus.', '1994 kam der Film "Blue Sky heraus.', 1),
        ("Der Fluss fließt nach Norden in den See.", "Der See fließt nach Norden in den Fluss.", 0),
        ("Sie wurde in Lyon geboren und starb in Rom.", "Sie wurde in Rom geboren und starb in Lyon.", 0),
        ("Sie wurde in Lyon geboren und starb in Rom.", "In Lyon geboren, starb sie in Rom.", 1),
    ],
    "fr": [
        ("En 1990, il quitta Paris pour Berlin.", "En 1990, il quitta Berlin pour Paris.", 0),
        ("En 1990, il quitta Paris pour Berlin.", "Il quitta Paris pour Berlin en 1990.", 1),
        ('Le film "Blue Sky est sorti en 1994.', 'Sorti en 1994, le film "Blue Sky.', 1),
        ("La rivière coule vers le nord dans le lac.", "Le lac coule vers le nord dans la rivière.", 0),
        ("Elle est née à Lyon et morte à Rome.", "Elle est née à Rome et morte à Lyon.", 0),
        ("Elle est née à Lyon et morte à Rome.", "Née à Lyon, elle est morte à Rome.", 1),
    ],
}


def corpus() -> list[str]:
    """Every sentence above, English, German, French and Greek: the tiny tokenizers' training text."""
    sentences = [s for rows in XNLI_ROWS.values() for r in rows for s in (r["premise"], r["hypothesis"])]
    sentences += [s for rows in PAWSX_ROWS.values() for a, b, _ in rows for s in (a, b)]
    return sorted(set(sentences))


def _tiny_encoder_kwargs(vocab_size: int) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny multilingual BERT (WordPiece, cased) saved with save_pretrained: BertForMaskedLM + tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    out = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=500, special_tokens=specials))
    # BertTokenizer adds the [CLS] A [SEP] B [SEP] post-processor with token_type_ids 0/1.
    tokenizer = BertTokenizer(vocab=wordpiece.get_vocab(), do_lower_case=False, strip_accents=False,
                              model_max_length=MAX_LENGTH)
    tokenizer.save_pretrained(out)
    torch.manual_seed(12345)  # not a seed the tests use, so a seeded scratch init can't coincide
    config = BertConfig(**_tiny_encoder_kwargs(len(tokenizer)), max_position_embeddings=MAX_LENGTH,
                        pad_token_id=tokenizer.pad_token_id)
    BertForMaskedLM(config).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_xlmr_dir(tmp_path_factory) -> Path:
    """A tiny XLM-R (Unigram, <s> </s> <pad> <unk> <mask>) saved with save_pretrained: XLMRobertaForMaskedLM."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaTokenizer

    out = tmp_path_factory.mktemp("tiny-xlmr")
    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    # XLM-R's fixed ids: <s>=0 <pad>=1 </s>=2 <unk>=3; <mask> is the last piece.
    unigram.train_from_iterator(corpus(), trainers.UnigramTrainer(
        vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    pieces = [tuple(p) for p in json.loads(unigram.to_str())["model"]["vocab"]] + [("<mask>", 0.0)]
    tokenizer = XLMRobertaTokenizer(vocab=pieces, model_max_length=MAX_LENGTH)
    tokenizer.save_pretrained(out)
    torch.manual_seed(12345)
    config = XLMRobertaConfig(**_tiny_encoder_kwargs(len(tokenizer)),
                              max_position_embeddings=MAX_LENGTH + 2,  # RoBERTa offsets positions by pad+1
                              pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                              eos_token_id=tokenizer.eos_token_id)
    XLMRobertaForMaskedLM(config).save_pretrained(out)
    return out


def _write_jsonl(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return str(path)


@pytest.fixture
def xnli_files(tmp_path) -> dict:
    """XNLI in the hub schema (premise, hypothesis, label 0-2) as JSON lines: en train/validation and
    parallel en/de/fr/el test sets of 12 rows. Returns the per-task data_files {split: {lang: path}}."""
    root = tmp_path / "xnli"
    return {
        "train": {"en": _write_jsonl(root / "train-en.jsonl", XNLI_ROWS["en"])},
        "validation": {"en": _write_jsonl(root / "validation-en.jsonl", XNLI_ROWS["en"])},
        "test": {lang: _write_jsonl(root / f"test-{lang}.jsonl", rows) for lang, rows in XNLI_ROWS.items()},
    }


def _write_pawsx_tsv(path: Path, rows) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["id\tsentence1\tsentence2\tlabel"]
    lines += [f"{i}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(rows, 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def pawsx_files(tmp_path) -> dict:
    """PAWS-X in its original release layout (x-final/<lang>/{train,dev_2k,test_2k}.tsv, header
    id/sentence1/sentence2/label). Returns the per-task data_files {split: {lang: path}}."""
    root = tmp_path / "x-final"
    return {
        "train": {"en": _write_pawsx_tsv(root / "en" / "train.tsv", PAWSX_ROWS["en"] * 2)},
        "validation": {"en": _write_pawsx_tsv(root / "en" / "dev_2k.tsv", PAWSX_ROWS["en"])},
        "test": {lang: _write_pawsx_tsv(root / lang / "test_2k.tsv", rows) for lang, rows in PAWSX_ROWS.items()},
    }


@pytest.fixture
def xnli_rows() -> dict:
    """The rows `xnli_files` writes, by language: [{premise, hypothesis, label}]."""
    return XNLI_ROWS


@pytest.fixture
def pawsx_rows() -> dict:
    """The rows `pawsx_files` writes for test, by language: [(sentence1, sentence2, label)]."""
    return PAWSX_ROWS


@pytest.fixture(scope="module")
def cached_tiny_world():
    """The tiny world, built once into the project's cache (.cache/test-worlds) and reused by later modules and runs.
    Where the notebooks' cache (outputs/world) already holds it whole, as after `make test`'s smoke notebooks, it is
    copied from there rather than built a second time."""
    from xltlib.world.build import get_world

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XLT_WORLD_CACHE", str(_CACHE / "test-worlds"))
        _copy_the_notebooks_tiny_world()
        yield get_world("tiny")


def _copy_the_notebooks_tiny_world() -> None:
    """Copy outputs/world's tiny world into the (current) test cache if the cache has none and that one is whole (the
    check `get_world` makes of any cached world); under the cache's build lock, so a concurrent build or copy by the
    other test worker is waited for, not raced."""
    import fcntl
    import shutil

    from xltlib.world.build import world_damage, world_dir
    from xltlib.world.presets import PRESETS

    target = world_dir("tiny")
    source = _CACHE.parent / "outputs" / "world" / target.name
    if target.exists() or world_damage(PRESETS["tiny"], source):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            partial = target.with_name(f"{target.name}.copy-{os.getpid()}")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(source, partial)
            os.replace(partial, target)  # whole or absent, for anyone who looks


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    """The tiny embedded world, built once per test module into a temporary cache."""
    import os

    from xltlib.world.build import get_world

    os.environ["XLT_WORLD_CACHE"] = str(tmp_path_factory.mktemp("worlds"))
    try:
        yield get_world("tiny")
    finally:
        del os.environ["XLT_WORLD_CACHE"]
