"""World presets: the sizes of the embedded world. `default` is what the notebooks use; `tiny` is the
smoke-test world (same code, small corpus and budget) that the test suite builds in seconds."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..core.registry import Registry


@dataclass(frozen=True)
class WorldPreset:
    name: str
    seed: int = 0
    langs: tuple[str, ...] = ("en", "rlx", "adn", "low", "vfc", "vfx")
    pretrain_docs: int = 10000  # two-sentence documents per full-resource language
    low_resource_share: float = 0.1  # share of pretrain_docs for a low-resource language
    code_switch_share: float = 0.1  # share of each non-English language's sentences code-switched
    code_switch_rate: float = 0.3  # share of content words switched to English in such a sentence
    # Share of English sentences with some words of another language (code-switching both ways). Off: at 0.3,
    # with code_switch_share 0.3, it did not raise word-translation precision (world.meters; measured).
    source_code_switch_share: float = 0.0
    gloss_rate: float = 0.3  # share of content words glossed in a glossed sentence (see LanguageDef)
    hidden_size: int = 64
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 256
    mlm_steps: int = 800
    mlm_batch_size: int = 128
    mlm_learning_rate: float = 1e-3
    # Identity-preserving MLM: the loss also reconstructs the unmasked tokens. Without it a tiny encoder's
    # top layers keep only "what fits this slot", so a synonym and an antonym in the same slot look alike
    # and pair tasks cannot be fine-tuned (measured); large real encoders keep token identity by scale.
    reconstruct_unmasked: bool = False
    # Restatement: a share of documents whose second sentence restates the first with one or two words
    # swapped for others of their class (as real text restates and contrasts). It trains the attention
    # across the two sentences that large encoders learn from long documents; without it a tiny encoder's
    # attention stays within each sentence and pair tasks cannot be fine-tuned at all (measured).
    restate_share: float = 0.0
    # Discourse documents: a share of documents whose second sentence opens with a connective ("indeed", "but",
    # "and", each language's own word) and restates, contrasts with or adds to the first (synonyms, an antonym,
    # a word of another dimension). Real text signals how sentences relate with such words, which is where
    # large encoders learn the features NLI reads; predicting the masked connective teaches the same comparison
    # in every language.
    discourse_share: float = 0.0
    nsp: bool = True  # next-sentence prediction, as mBERT was pretrained
    # Translation language modelling (XLM, Conneau & Lample 2019): a share of each non-English language's
    # documents pair an English sentence with its translation, so a masked word can be predicted from its
    # counterpart. At CPU scale this is the signal that aligns the languages (with MLM and shared anchors
    # alone, not even English synonyms became neighbours in 1,500 steps: measured); it models the parallel
    # and comparable text that large encoders see at scale.
    parallel_share: float = 0.0
    # Shared frames: a share of each language's documents renders the same frames as the other languages'
    # documents with the same index, each in its own language and never side by side (not translation
    # pairs). It models the near-parallel content of real multilingual corpora (Wikipedia articles on the
    # same topics, translated news, religious texts): Dufter & Schuetze (2020) measured that small BERTs
    # become multilingual when trained on a parallel corpus and much less on a comparable one. Off: at 1.0 it
    # did not make the pair tasks transfer at this scale (measured with a linear probe on the encoder).
    shared_frame_share: float = 0.0
    # The pair tasks' design (`xltlib.world.tasks.pairs.PAIR_DESIGNS`): "lexical", the label a property of sentence
    # 2's one changed adjective (premises fixed to one pole), or "relational", the label the relation of three
    # word pairs across the two sentences (a hypothesis-only control at chance by construction).
    pair_design: str = "lexical"
    n_train: int = 6000  # English training pairs per task
    n_dev: int = 500  # English dev pairs per task
    n_test: int = 1000  # test pairs per task and language (parallel across languages)


def with_seed(preset: WorldPreset, seed: int | None) -> WorldPreset:
    """`preset` built from generator seed `seed` (None or its own seed: unchanged), named apart so each seed's world
    has its own cache folder (`default-seed1-<fingerprint>`)."""
    if seed is None or seed == preset.seed:
        return preset
    return replace(preset, name=f"{preset.name}-seed{seed}", seed=seed)


PRESETS: Registry[WorldPreset] = Registry("world preset")
PRESETS.register("default", WorldPreset("default"))
PRESETS.register("tiny", WorldPreset(
    "tiny", pretrain_docs=1500, mlm_steps=60, mlm_batch_size=64, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=2, intermediate_size=64, n_train=400, n_dev=100, n_test=100))
