"""Build, cache and load the embedded world: corpus -> tokenizer -> MLM-pretrained encoder -> task files.

Everything is derived from the preset and its seed, so the same preset gives the same world on any
machine. The world is built once into `outputs/world/<preset>-<fingerprint>/` (written to a temporary
folder and renamed, so an interrupted build never leaves half a world) and reused by every notebook.
Task data are written as JSON lines in the hub schema of the real task, and read back by the same loader
as a user's local copy of XNLI or PAWS-X.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path

from ..core.paths import world_cache_dir
from .grammar import (CASE_PARTICLES, CONNECTIVES, FUNCTION_WORDS, LADDER_BY_CODE, LEXICON, NAMES, NUMBERS,
                      PREPOSITIONS, FrameSampler, LanguageDef, build_semantics, render, render_english_order,
                      translation_table)
from .tasks.pairs import (CONTRADICTION, ENTAILMENT, NEUTRAL, PAIR_DESIGNS, XNLI_LABELS, random_same_class_substitution,
                          reword)
from .tasks.image_text import IMAGE_TEXT_TASKS, image_text_files, missing_image_text, write_image_text_files
from .tasks.intermediate import (INTERMEDIATE_WORLD_TASKS, intermediate_files, missing_intermediate,
                                 write_intermediate_files)
from .tasks.target_pools import POOL_TASKS, missing_target_pools, pool_files, write_target_pools
from .tasks.xtreme import XTREME_WORLD_TASKS, task_files, world_task_langs, write_xtreme_task_files
from .presets import PRESETS, WorldPreset

GENERATOR_VERSION = 16  # bump when a change to the generator changes the world it builds
WORLD_TASKS = ("xnli", "pawsx")
# SIQA-like rows are XCOPA-like's `intermediate` split on disk (as the generator has always written them), read as
# the task `siqa`'s training set: {task: (the task whose folder holds it, {its split: the split written})}.
FILED_WITH = {"siqa": ("xcopa", {"train": "intermediate"})}
_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_NOT_SWITCHED = set(FUNCTION_WORDS + CASE_PARTICLES + PREPOSITIONS + NAMES + NUMBERS + tuple(CONNECTIVES.values()))


def fingerprint(preset: WorldPreset) -> str:
    blob = json.dumps({"preset": asdict(preset), "version": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


@dataclass
class World:
    preset: WorldPreset
    directory: Path

    @property
    def encoder_dir(self) -> Path:
        return self.directory / "encoder"

    @property
    def langs(self) -> tuple[str, ...]:
        return self.preset.langs

    def langs_for(self, task: str) -> tuple[str, ...]:
        return world_task_langs(task, self.langs)

    def language(self, code: str) -> LanguageDef:
        return LADDER_BY_CODE[code]

    @property
    def rungs(self) -> dict[str, int]:
        """{language: its rung on the ladder of distance from English (0 = English)}."""
        return {code: self.language(code).rung for code in self.langs}

    @property
    def generated_tasks(self) -> tuple[str, ...]:
        """The tasks whose files the world writes (an intermediate task filed beside the task it serves included)."""
        return WORLD_TASKS + XTREME_WORLD_TASKS + tuple(FILED_WITH) + IMAGE_TEXT_TASKS + INTERMEDIATE_WORLD_TASKS

    def data_files(self, task: str) -> dict[str, dict[str, str]]:
        """`{split: {lang: path}}` in the hub schema, as a user would give `data_files`; a target task's train and
        validation splits in every language for POOL_TASKS (English written with the task, the others as pools)."""
        files = self._task_files(task)
        if task in POOL_TASKS:
            for split, by_lang in pool_files(task, self.directory, self.langs).items():
                files[split] = {**files[split], **by_lang}
        return files

    def _task_files(self, task: str) -> dict[str, dict[str, str]]:
        if task in INTERMEDIATE_WORLD_TASKS:
            return intermediate_files(task, self.directory, self.langs)
        if task in FILED_WITH:  # an intermediate task written beside the task it serves
            home, splits = FILED_WITH[task]
            files = task_files(home, self.directory, self.langs)
            return {split: files[written] for split, written in splits.items()}
        if task in IMAGE_TEXT_TASKS:
            return image_text_files(self.directory, self.langs)
        if task in XTREME_WORLD_TASKS:
            lodgers = {written for home, splits in FILED_WITH.values() if home == task for written in splits.values()}
            return {split: paths for split, paths in task_files(task, self.directory, self.langs).items()
                    if split not in lodgers}
        root = self.directory / "tasks" / task
        return {
            "train": {"en": str(root / "train-en.jsonl")},
            "validation": {"en": str(root / "validation-en.jsonl")},
            "test": {lang: str(root / f"test-{lang}.jsonl") for lang in self.langs},
        }

    def translation(self, code: str) -> dict[str, str]:
        """English word -> the word of language `code`."""
        return translation_table(self.language(code), self.preset.seed)

    def synonyms(self, code: str) -> dict[str, list[str]]:
        """Synonym sets in language `code` (the world's counterpart of counter-fitted neighbours)."""
        table = self.translation(code)
        return {table[w]: [table[s] for s in syns] for w, syns in LEXICON.synonyms.items() if syns}

    @cached_property
    def manifest(self) -> dict:
        return json.loads((self.directory / "world.json").read_text())

    def languages_table(self):
        """One row per language: its rung and the knobs that set how it relates to English."""
        import pandas as pd

        m = self.manifest
        rows = []
        for code in self.langs:
            lang = self.language(code)
            rows.append({"lang": code, "name": lang.name, "rung": lang.rung,
                         "word order": ("verb-final, case particles" if lang.verb_final else
                                        "adjective after noun" if lang.adj_after_noun else "English"),
                         "shared with English": ", ".join(("names, digits",) * lang.shared_anchors
                                                          + lang.shared_classes) or "nothing",
                         "glossed sentences": lang.gloss_share,
                         "code-switched sentences": 0.0 if lang.is_source else self.preset.code_switch_share,
                         "pretraining docs": m["pretrain_docs"][code],
                         "en->lang retrieval@1": round(m["alignment"][code]["best"], 3)})
        return pd.DataFrame(rows).set_index("lang")

    def describe(self) -> str:
        m = self.manifest
        lines = [f"embedded world '{self.preset.name}' at {self.directory}",
                 f"built in {m['build_seconds']:.0f} s; vocabulary {m['vocab_size']}; "
                 f"encoder {self.preset.num_hidden_layers} layers x {self.preset.hidden_size}",
                 "language  rung  pretraining docs  en->lang retrieval@1 (best layer)  description"]
        for code in self.langs:
            lang = self.language(code)
            lines.append(f"{code:<9} {lang.rung:<5} {m['pretrain_docs'][code]:<17} "
                         f"{m['alignment'][code]['best']:<33.2f} {lang.description}")
        return "\n".join(lines)


def world_langs_for(task: str, preset: str = "default") -> tuple[str, ...]:
    """The embedded world's languages for `task` without building the world."""
    return world_task_langs(task, PRESETS[preset].langs)


def world_dir(preset: str | WorldPreset = "default") -> Path:
    """Where `preset`'s world is cached (built when it holds world.json)."""
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    return world_cache_dir() / f"{preset.name}-{fingerprint(preset)}"


def get_world(preset: str | WorldPreset = "default", rebuild: bool = False) -> World:
    """The world of `preset`, built on first use and checked on every later one (`world_damage`): a cached world
    that is damaged (world.json unreadable or another world's, a file it lists missing or of the wrong size) is
    rebuilt, with a warning saying what was wrong. A rebuild is written beside the cache and swapped in, so the
    folder holds a whole world (the old one or the new one) at every moment another process may look."""
    preset = PRESETS[preset] if isinstance(preset, str) else preset
    directory = world_dir(preset)
    if rebuild or world_damage(preset, directory):
        directory.parent.mkdir(parents=True, exist_ok=True)
        # Notebooks run side by side (`xlt batch --jobs`) need the same world: one builds, the others wait for
        # it rather than build it again. The OS drops the lock if the builder dies.
        with open(directory.with_name(directory.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            damage = "a rebuild was asked for" if rebuild else world_damage(preset, directory)
            if damage:
                from ..core.quiet import quiet_libraries

                if directory.exists() and not rebuild:
                    warnings.warn(f"embedded world cache {directory}: {damage}; rebuilding it", stacklevel=2)
                quiet_libraries()
                _replace_world(preset, directory)
    return World(preset, directory)


def world_damage(preset: WorldPreset, directory: Path) -> str | None:
    """What is wrong with the cached world in `directory`, in words, or None if it is whole: world.json parses and
    is `preset`'s (its fingerprint), and every file its `files` list names exists with the size it was built
    with (a world built before the list was written: the encoder and task files it serves are there)."""
    manifest_path = directory / "world.json"
    if not manifest_path.is_file():
        return "not built yet" if not directory.exists() else "world.json is missing"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return f"world.json is not valid JSON ({e})"
    if not isinstance(manifest, dict) or manifest.get("fingerprint") != fingerprint(preset):
        found = manifest.get("fingerprint") if isinstance(manifest, dict) else None
        return f"world.json has fingerprint {found!r}, expected {fingerprint(preset)!r}"
    listed = manifest.get("files")
    if not isinstance(listed, dict):  # built before the file list: the files a run reads
        world = World(preset, directory)
        needed = [world.encoder_dir / "config.json", world.encoder_dir / "model.safetensors"]
        needed += [Path(p) for task in list(manifest.get("tasks", WORLD_TASKS)) + list(XTREME_WORLD_TASKS)
                   + list(IMAGE_TEXT_TASKS)
                   for by_lang in world.data_files(task).values() for p in by_lang.values()]
        missing = [p for p in needed if not p.is_file()]
        return f"{missing[0].relative_to(directory)} is missing" if missing else None
    for name, size in listed.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, expected {size} (truncated or overwritten)"
    return (missing_image_text(directory, listed) or missing_intermediate(directory, listed)
            or missing_target_pools(directory, listed))


def _file_sizes(directory: Path) -> dict[str, int]:
    """{path relative to `directory`: its size in bytes} of every file below it: the world's file list."""
    return {str(p.relative_to(directory)): p.stat().st_size for p in sorted(directory.rglob("*")) if p.is_file()}


def _replace_world(preset: WorldPreset, directory: Path) -> None:
    """Build the world, and put it in place of a damaged or stale one: the old folder is moved aside first (a
    rename), so `_build`'s own rename lands, and deleted once the new world is in place."""
    old = directory.with_name(directory.name + f".old-{os.getpid()}")
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    try:
        _build(preset, directory)
    except BaseException:
        if old.exists() and not directory.exists():
            os.replace(old, directory)  # a failed or interrupted build leaves the cache as it was
        raise
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------


def _code_switched(frame, lang: LanguageDef, table: dict, rng: random.Random, rate: float) -> str:
    """A sentence of `lang` with some content words left in English: models the code-switching, loan
    words and shared subwords that tie languages together in real multilingual pretraining data."""
    return " ".join(w if (w not in _NOT_SWITCHED and rng.random() < rate) else table[w]
                    for w in render_english_order(frame, lang))


def _with_words_of(frame, other: LanguageDef, other_table: dict, rng: random.Random, rate: float) -> str:
    """An English sentence with some content words in `other`: code-switching goes both ways in real text,
    so a word of either language is seen in the other's contexts."""
    return " ".join(other_table[w] if (w not in _NOT_SWITCHED and w in other_table and rng.random() < rate)
                    else w for w in render_english_order(frame, LADDER_BY_CODE["en"]))


def _glossed(frame, lang: LanguageDef, table: dict, rng: random.Random, rate: float) -> str:
    """A sentence of `lang` in which some content words are followed by their English gloss."""
    words = []
    for w in render_english_order(frame, lang):
        words.append(table[w])
        if w not in _NOT_SWITCHED and table[w] != w and rng.random() < rate:
            words.append(w)
    return " ".join(words)


def _continuation(sampler: FrameSampler, rng: random.Random, first):
    """A next sentence about someone from the first one: documents are coherent, so next-sentence
    prediction can only be solved by matching the two sentences' words (what pair tasks need)."""
    frame = sampler.frame(rng)
    carried = first.subj if rng.random() < 0.5 else first.obj
    return replace(frame, subj=carried) if rng.random() < 0.5 else replace(frame, obj=carried)


def _restatement(rng: random.Random, first):
    """The first frame with one or two words replaced by random words of the same class."""
    second = first
    for _ in range(rng.choice((1, 2))):
        second = random_same_class_substitution(rng, second)
    return second


def _discourse_follow(rng: random.Random, first):
    """A second sentence that relates to the first as a connective says: the first frame with one to three of
    its adjectives and verb replaced. A restatement replaces each by a synonym; a contrast turns the first replaced
    word into its antonym, an addition into a word of another dimension (the others become synonyms)."""
    relation = rng.choice(tuple(CONNECTIVES))
    label = {"restatement": ENTAILMENT, "contrast": CONTRADICTION, "addition": NEUTRAL}[relation]
    slots = [role for role in ("subj", "obj") if getattr(first, role).adj] + ["verb"]
    rng.shuffle(slots)
    return relation, reword(rng, first, slots[:rng.randint(1, len(slots))], label)


def _shares_frames(preset: WorldPreset, index: int) -> bool:
    """Whether document `index` renders the same two frames in every language (a per-index draw, the
    same for all languages)."""
    return random.Random(f"shared|{preset.seed}|{index}").random() < preset.shared_frame_share


def pretraining_corpus(preset: WorldPreset) -> tuple[list[dict], dict[str, int]]:
    """Two-sentence documents per language (comparable, not parallel: each draws its own frames)."""
    sampler = FrameSampler(build_semantics(preset.seed))
    tables_en = translation_table(LADDER_BY_CODE["en"], preset.seed)
    docs, counts = [], {}
    for code in preset.langs:
        lang = LADDER_BY_CODE[code]
        table = translation_table(lang, preset.seed)
        rng = random.Random(f"corpus|{preset.seed}|{code}")
        n = int(preset.pretrain_docs * (preset.low_resource_share if lang.low_resource else 1.0))
        counts[code] = n
        for i in range(n):
            shared = _shares_frames(preset, i)
            frame_rng = random.Random(f"frames|{preset.seed}|{i}") if shared else rng
            first = sampler.frame(frame_rng)
            if not lang.is_source and rng.random() < preset.parallel_share:
                english = render(first, LADDER_BY_CODE["en"], tables_en)
                pair = [english, render(first, lang, table)]
                rng.shuffle(pair)  # either language first
                docs.append({"text": pair[0], "text_pair": pair[1], "lang": code, "parallel": True})
                continue
            if preset.discourse_share and frame_rng.random() < preset.discourse_share:
                relation, follow = _discourse_follow(frame_rng, first)
                docs.append({"text": render(first, lang, table),
                             "text_pair": f"{table[CONNECTIVES[relation]]} {render(follow, lang, table)}",
                             "lang": code, "parallel": False})
                continue
            sentences = []
            follow = (_restatement(frame_rng, first) if frame_rng.random() < preset.restate_share
                      else _continuation(sampler, frame_rng, first))
            for frame in (first, follow):
                if not lang.is_source and rng.random() < lang.gloss_share:
                    sentences.append(_glossed(frame, lang, table, rng, preset.gloss_rate))
                elif not lang.is_source and rng.random() < preset.code_switch_share:
                    sentences.append(_code_switched(frame, lang, table, rng, preset.code_switch_rate))
                elif lang.is_source and rng.random() < preset.source_code_switch_share:
                    other = LADDER_BY_CODE[rng.choice([c for c in preset.langs if c != code])]
                    sentences.append(_with_words_of(frame, other, translation_table(other, preset.seed), rng,
                                                    preset.code_switch_rate))
                else:
                    sentences.append(render(frame, lang, table))
            docs.append({"text": sentences[0], "text_pair": sentences[1], "lang": code, "parallel": False})
    random.Random(f"shuffle|{preset.seed}").shuffle(docs)
    return docs, counts


def train_tokenizer(docs: list[dict], directory: Path):
    """A WordPiece tokenizer whose vocabulary is counted from the corpus, saved as a transformers fast
    tokenizer: every word seen twice is one token, and single characters (word-initial and `##`) cover
    the rest. The vocabulary is ordered by (count, word) so every build gives the same ids: the
    `tokenizers` WordPiece trainer broke ties differently in two processes on the same corpus (measured),
    which changed every token id and so every downstream number."""
    from collections import Counter

    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    counts = Counter(w for d in docs for k in ("text", "text_pair") for w in d[k].split())
    chars = sorted({ch for word in counts for ch in word})
    words = sorted((w for w, c in counts.items() if c >= 2), key=lambda w: (-counts[w], w))
    ordered = dict.fromkeys(_SPECIALS + chars + ["##" + ch for ch in chars] + words)
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(ordered)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    fast.save_pretrained(directory)
    return fast


def pretrain_encoder(preset: WorldPreset, docs: list[dict], tokenizer, directory: Path) -> float:
    """mBERT's pretraining objectives, with the project's one training loop: masked language modelling
    (15% of tokens, 80/10/10) and next-sentence prediction (half the second sentences drawn from another
    document of the same language). NSP is what trains [CLS] and the pooler to relate two sentences;
    with MLM alone [CLS] is never a target, and a tiny encoder then fine-tunes on pair tasks slower than
    one with no pretraining at all (measured)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertForPreTraining, DataCollatorForLanguageModeling

    from ..core.config import TrainArgs
    from ..run.loop import train

    config = BertConfig(vocab_size=len(tokenizer), hidden_size=preset.hidden_size,
                        num_hidden_layers=preset.num_hidden_layers,
                        num_attention_heads=preset.num_attention_heads,
                        intermediate_size=preset.intermediate_size, max_position_embeddings=64,
                        type_vocab_size=2, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(preset.seed)
    model = BertForPreTraining(config) if preset.nsp else BertForMaskedLM(config)
    masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, return_tensors="pt")
    by_lang: dict[str, list[str]] = {}
    for doc in docs:
        if not doc["parallel"]:
            by_lang.setdefault(doc["lang"], []).append(doc["text_pair"])

    def collate(examples):
        # The loop seeds torch's generator per batch, so the NSP draws repeat exactly.
        is_random = (torch.rand(len(examples)) < (0.5 if preset.nsp else 0.0)) & torch.tensor(
            [not e["parallel"] for e in examples])
        seconds = []
        for example, swap in zip(examples, is_random.tolist()):
            pool = by_lang[example["lang"]]
            seconds.append(pool[int(torch.randint(len(pool), ()))] if swap else example["text_pair"])
        enc = tokenizer([e["text"] for e in examples], seconds,
                        padding="longest", truncation=True, max_length=64, return_tensors="pt")
        original = enc["input_ids"].clone()
        enc["input_ids"], enc["labels"] = masker.torch_mask_tokens(enc["input_ids"])
        if preset.reconstruct_unmasked:
            special = torch.tensor([tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
                                    for ids in original.tolist()], dtype=torch.bool)
            enc["labels"] = original.masked_fill(special, -100)
        if preset.nsp:
            enc["next_sentence_label"] = is_random.long()
        return dict(enc)

    args = TrainArgs(learning_rate=preset.mlm_learning_rate, per_device_train_batch_size=preset.mlm_batch_size,
                     warmup_ratio=0.06, weight_decay=0.01, save_steps=10**9, num_train_epochs=1.0)
    result = train(model, docs, collate, args, seed=preset.seed, max_steps=preset.mlm_steps, desc="pretrain")
    model.save_pretrained(directory)
    return result.history[-1]["loss"] if result.history else float("nan")


def write_task_files(preset: WorldPreset, directory: Path) -> None:
    """XNLI- and PAWS-X-shaped data in their hub schemas; test sets parallel across languages."""
    sampler = FrameSampler(build_semantics(preset.seed))
    tables = {code: translation_table(LADDER_BY_CODE[code], preset.seed) for code in preset.langs}
    makers = PAIR_DESIGNS[preset.pair_design]
    sizes = {"train": preset.n_train, "validation": preset.n_dev, "test": preset.n_test}
    for task, make_pair in makers.items():
        for split, n in sizes.items():
            rng = random.Random(f"{task}|{split}|{preset.seed}")
            pairs = [make_pair(rng, sampler) for _ in range(n)]
            langs = preset.langs if split == "test" else ("en",)
            for code in langs:
                lang, table = LADDER_BY_CODE[code], tables[code]
                rows = []
                for i, (first, second, label) in enumerate(pairs):
                    a, b = render(first, lang, table), render(second, lang, table)
                    rows.append({"premise": a, "hypothesis": b, "label": label} if task == "xnli"
                                else {"id": i, "sentence1": a, "sentence2": b, "label": label})
                path = directory / "tasks" / task / f"{split}-{code}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def alignment_probe(preset: WorldPreset, directory: Path, n: int = 300) -> dict:
    """en -> lang retrieval of parallel sentences from mean-pooled hidden states, per layer: a cheap
    meter of how aligned the pretrained encoder's languages are."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory / "encoder")
    model = AutoModel.from_pretrained(directory / "encoder").eval()
    sampler = FrameSampler(build_semantics(preset.seed))
    rng = random.Random(f"probe|{preset.seed}")
    frames = [sampler.frame(rng) for _ in range(n)]

    def embed(code):
        lang = LADDER_BY_CODE[code]
        table = translation_table(lang, preset.seed)
        enc = tokenizer([render(f, lang, table) for f in frames], padding=True, return_tensors="pt")
        with torch.no_grad():
            states = model(**enc, output_hidden_states=True).hidden_states
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return [torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1) for h in states]

    english = embed("en")
    out = {}
    for code in preset.langs:
        target = embed(code)
        per_layer = [float((e @ t.T).argmax(1).eq(torch.arange(n)).float().mean())
                     for e, t in zip(english, target)]
        out[code] = {"per_layer": per_layer, "best": max(per_layer)}
    return out


def _build(preset: WorldPreset, directory: Path) -> None:
    started = time.time()
    tmp = directory.with_name(directory.name + f".building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    docs, counts = pretraining_corpus(preset)
    tokenizer = train_tokenizer(docs, tmp / "encoder")
    final_loss = pretrain_encoder(preset, docs, tokenizer, tmp / "encoder")
    write_task_files(preset, tmp)
    write_xtreme_task_files(preset, tmp)
    write_image_text_files(preset, tmp)
    write_intermediate_files(preset, tmp)
    write_target_pools(preset, tmp)
    alignment = alignment_probe(preset, tmp)
    manifest = {"preset": asdict(preset), "fingerprint": fingerprint(preset), "version": GENERATOR_VERSION,
                "vocab_size": len(tokenizer), "pretrain_docs": counts, "mlm_final_loss": final_loss,
                "alignment": alignment, "build_seconds": time.time() - started,
                "tasks": list(WORLD_TASKS), "xnli_labels": list(XNLI_LABELS)}
    manifest["files"] = _file_sizes(tmp)  # what `world_damage` checks a cached world against
    (tmp / "world.json").write_text(json.dumps(manifest, indent=1))
    if directory.exists():  # another process finished the same world first: keep theirs
        shutil.rmtree(tmp)
        return
    os.replace(tmp, directory)
