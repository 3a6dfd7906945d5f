"""MAD-X's language adapters for a run, trained before it (`train_language_adapters(cfg, world, run_dir)`, a
notebook's call before `run_experiment`): in the embedded world on each language's share of the world's
pretraining corpus, on the real path on the plain-text files `method_options.madx.lang_corpus` names. Each is
trained once per (model, language, settings, text) into the run store (`xltlib.run.adapters`)."""
from __future__ import annotations

from pathlib import Path

from ..core.config import RunConfig
from ..methods.spec import METHODS
from ..run.adapters import read_texts
from ..run.adapters import train_language_adapters as train_into_store
from ..run.store import store_root
from ..tasks.models import load_tokenizer, resolve_model_path


def world_texts(world, langs) -> dict[str, list[str]]:
    """Each language's sentences of the world's pretraining corpus (both sentences of every document)."""
    from ..world.build import pretraining_corpus

    docs, _ = pretraining_corpus(world.preset)
    return {lang: [s for d in docs if d["lang"] == lang for s in (d["text"], d["text_pair"])] for lang in langs}


def train_language_adapters(cfg: RunConfig, world, run_dir: str | Path) -> dict[str, Path]:
    """{lang: its language adapter folder} for the run's languages (its `eval_langs`, or every language of the
    world, and English), with the run's `madx` settings; those in the store already are not trained again."""
    options = METHODS["madx"].resolve(cfg.method_options.get("madx"))
    model_path = resolve_model_path(cfg.model_name_or_path, world)
    if world is not None:
        langs = [lang for lang in world.langs if cfg.eval_langs is None or lang in cfg.eval_langs or lang == "en"]
        texts = world_texts(world, langs)
    else:
        texts = {lang: read_texts(path) for lang, path in options["lang_corpus"].items()}
    return train_into_store(store_root(Path(run_dir)), model_path, load_tokenizer(model_path), options, texts, world)
