"""The task catalogue: one entry per task, listed once, each read by the handler its `type` names.

XTREME's and XTREME-R's tasks with their hub ids and configs (the `google/xtreme` dataset's where it has the
task), and the intermediate tasks recipes train on first (`siqa`: XTREME-R's SIQA-then-COPA for XCOPA). The
embedded world serves every task in the same schema under the same name. A new task of an existing type is one
entry here.
"""
from __future__ import annotations

from ..core.languages import LANGUAGES
from ..core.registry import Registry
from .benchmarks import (BUCC_LANGS, LAREQA_LANGS, MEWSLIX_LANGS, MLQA_LANGS, PANX_LANGS, PANX_TAGS, PAWSX_LANGS,
                         TATOEBA_CODES, TATOEBA_LANGS, TYDIQA_LANGS, TYDIQA_NAMES, UDPOS_LANGS, UPOS_TAGS,
                         XCOPA_LANGS, XNLI_LANGS, XQUAD_LANGS)
from .spec import HubSource, HubSplit, HubUnion, TaskGroup, TaskSpec, XtremeHubSplit

TASKS: Registry[TaskSpec] = Registry("task")

XTREME_HUB = "google/xtreme"
NO_HUB = HubSplit("", "", "")  # no hub copy (or no such split, e.g. no training): local files only

TASKS.register("xnli", TaskSpec(
    name="xnli",
    type="pair_classification",
    group=TaskGroup.CLASSIFICATION,
    metric="accuracy",
    langs=XNLI_LANGS,
    # XNLI's English training set is MultiNLI's; XTREME trains on it and selects on XNLI's English dev.
    train=HubSplit("facebook/xnli", "en", "train"),
    dev=HubSplit("facebook/xnli", "en", "validation"),
    test=HubSplit("facebook/xnli", "{lang}", "test"),
    text_fields=("premise", "hypothesis"),
    labels=("entailment", "neutral", "contradiction"),
    submission_name="xnli",
    submission_format="labels",
))

TASKS.register("pawsx", TaskSpec(
    name="pawsx",
    type="pair_classification",
    group=TaskGroup.CLASSIFICATION,
    metric="accuracy",
    langs=PAWSX_LANGS,
    train=HubSplit("google-research-datasets/paws-x", "en", "train"),
    dev=HubSplit("google-research-datasets/paws-x", "en", "validation"),
    test=HubSplit("google-research-datasets/paws-x", "{lang}", "test"),
    text_fields=("sentence1", "sentence2"),
    labels=("0", "1"),  # the hub's ClassLabel names: 1 = paraphrase
    submission_name="pawsx",
    submission_format="labels",
))

_SQUAD_TRAIN = HubSplit(XTREME_HUB, "SQuAD", "train")
_SQUAD_DEV = HubSplit(XTREME_HUB, "SQuAD", "validation")
_QA_FIELDS = dict(text_fields=("question", "context"), label_field="answers")

TASKS.register("udpos", TaskSpec(
    name="udpos",
    type="tagging",
    group=TaskGroup.STRUCTURED_PREDICTION,
    metric="seqeval",  # XTREME scores POS with seqeval's chunk F1 over the tags, as it does NER
    langs=UDPOS_LANGS,
    train=HubSplit(XTREME_HUB, "udpos.English", "train"),
    dev=HubSplit(XTREME_HUB, "udpos.English", "validation"),
    test=XtremeHubSplit(XTREME_HUB, "udpos.{name}", "test",
                        names=tuple((code, LANGUAGES[code].name) for code in UDPOS_LANGS)),
    text_fields=("tokens",),
    label_field="pos_tags",
    labels=UPOS_TAGS,
    submission_name="udpos",
    submission_format="tags",
))

TASKS.register("panx", TaskSpec(
    name="panx",
    type="tagging",
    group=TaskGroup.STRUCTURED_PREDICTION,
    metric="seqeval",
    langs=PANX_LANGS,
    train=HubSplit(XTREME_HUB, "PAN-X.en", "train"),
    dev=HubSplit(XTREME_HUB, "PAN-X.en", "validation"),
    test=HubSplit(XTREME_HUB, "PAN-X.{lang}", "test"),
    text_fields=("tokens",),
    label_field="ner_tags",
    labels=PANX_TAGS,
    submission_name="panx",
    submission_format="tags",
))

TASKS.register("xquad", TaskSpec(
    name="xquad",
    type="span_qa",
    group=TaskGroup.QA,
    metric="squad",
    langs=XQUAD_LANGS,
    train=_SQUAD_TRAIN,
    dev=_SQUAD_DEV,
    test=HubSplit(XTREME_HUB, "XQuAD.{lang}", "validation"),  # XQuAD's only split is its test set
    **_QA_FIELDS,
    submission_name="xquad",
    submission_format="squad",
))

TASKS.register("mlqa", TaskSpec(
    name="mlqa",
    type="span_qa",
    group=TaskGroup.QA,
    metric="mlqa",  # MLQA's own script: per-language articles, Chinese split into characters
    langs=MLQA_LANGS,
    train=_SQUAD_TRAIN,
    dev=_SQUAD_DEV,
    test=HubSplit(XTREME_HUB, "MLQA.{lang}.{lang}", "test"),  # question and context in the same language
    **_QA_FIELDS,
    submission_name="mlqa",
    submission_format="squad",
))

_TYDI = dict(names=tuple(TYDIQA_NAMES.items()), id_prefix="{name}-")
TASKS.register("tydiqa", TaskSpec(
    name="tydiqa",
    type="span_qa",
    group=TaskGroup.QA,
    metric="squad",
    langs=TYDIQA_LANGS,
    # TyDiQA-GoldP mixes languages in one config; XTREME trains on the English part of its train set and
    # tests on each language's part of its dev set.
    train=XtremeHubSplit(XTREME_HUB, "tydiqa", "train", **_TYDI),
    dev=XtremeHubSplit(XTREME_HUB, "tydiqa", "validation", **_TYDI),
    test=XtremeHubSplit(XTREME_HUB, "tydiqa", "validation", **_TYDI),
    **_QA_FIELDS,
    submission_name="tydiqa",
    submission_format="squad",
))

TASKS.register("xcopa", TaskSpec(
    name="xcopa",
    type="multiple_choice",
    group=TaskGroup.CLASSIFICATION,
    metric="accuracy",
    langs=XCOPA_LANGS,
    # XTREME-R trains on SIQA first, then on English COPA (third_party/run_xcopa.py), selecting on COPA dev: the
    # two-stage recipe `stages: {xcopa: [{tasks: [siqa]}, {tasks: [xcopa], init: previous}]}`.
    train=HubSplit("aps/super_glue", "copa", "train"),
    dev=HubSplit("aps/super_glue", "copa", "validation"),
    test=HubSplit("cambridgeltl/xcopa", "{lang}", "test"),
    text_fields=("premise", "choices"),  # as loaded; `question` only names the relation (cause/effect)
    labels=("choice1", "choice2"),
    submission_name="xcopa",
    submission_format="choice_index",
))

TASKS.register("tatoeba", TaskSpec(
    name="tatoeba",
    type="sentence_retrieval",
    group=TaskGroup.RETRIEVAL,
    metric="accuracy",  # the share of sentences whose nearest English neighbour is their translation
    langs=TATOEBA_LANGS,
    train=NO_HUB,  # no fine-tuning: sentence embeddings from the pretrained encoder
    dev=NO_HUB,
    test=XtremeHubSplit(XTREME_HUB, "tatoeba.{name}", "validation", names=tuple(TATOEBA_CODES.items())),
    text_fields=("source_sentence", "target_sentence"),
    submission_name="tatoeba",
    submission_format="target_index",
))

TASKS.register("bucc2018", TaskSpec(
    name="bucc2018",
    type="bitext_mining",
    group=TaskGroup.RETRIEVAL,
    metric="bucc_f1",
    langs=BUCC_LANGS,
    train=NO_HUB,  # no fine-tuning; the similarity threshold is chosen on the dev split's gold pairs
    dev=HubSplit(XTREME_HUB, "bucc18.{lang}", "validation"),
    test=HubSplit(XTREME_HUB, "bucc18.{lang}", "test"),
    text_fields=("source_sentence", "target_sentence"),
    submission_name="bucc2018",
    submission_format="id_pairs",
))

TASKS.register("lareqa", TaskSpec(
    name="lareqa",
    type="dense_retrieval",
    group=TaskGroup.RETRIEVAL,
    metric="map_at_20",
    langs=LAREQA_LANGS,
    # XTREME-R fine-tunes a dual encoder on English SQuAD v1.1 (question, answer sentence) pairs. The hub copy of
    # XQuAD-R drops the release's sentence breaks; they are then inferred (xltlib.data_xtreme).
    train=_SQUAD_TRAIN,
    dev=_SQUAD_DEV,
    test=HubSplit("google-research-datasets/xquad_r", "{lang}", "validation"),
    **_QA_FIELDS,
    submission_name="lareqa",
    submission_format="ranking",
))

TASKS.register("mewslix", TaskSpec(
    name="mewslix",
    type="dense_retrieval",
    group=TaskGroup.RETRIEVAL,
    metric="map_at_20",
    langs=MEWSLIX_LANGS,
    # Mewsli-X is released by google-research (dense_representations_for_entity_retrieval/mel/mewsli_x),
    # not on the hub: English Wikipedia mention-entity pairs to fine-tune, WikiNews mentions to test.
    train=NO_HUB,
    dev=NO_HUB,
    test=NO_HUB,
    text_fields=("mention", "entity"),
    submission_name="mewslix",
    submission_format="entity_ranking",
))

TASKS.register("siqa", TaskSpec(
    name="siqa",
    type="multiple_choice",
    group=None,  # an intermediate task, no benchmark's
    metric="accuracy",
    langs=("en",),
    train=HubSplit("allenai/social_i_qa", "default", "train"),
    dev=HubSplit("allenai/social_i_qa", "default", "validation"),
    test=NO_HUB,
    text_fields=("premise", "choices"),  # as loaded: SIQA's context and question become premise and question
    labels=("answerA", "answerB", "answerC"),
    description="Social IQa (Sap et al., EMNLP 2019): commonsense multiple choice, XTREME-R's intermediate task "
                "for XCOPA",
))

# Phang et al.'s (AACL 2020) English intermediate tasks, each read by the handler of its type (real path).


def _intermediate(name: str, type: str, path: str, config: str, dev: str, text_fields, labels=(), metric="accuracy",
                  what: str = "", **fields) -> None:
    TASKS.register(name, TaskSpec(
        name=name, type=type, group=None, metric=metric, langs=("en",), train=HubSplit(path, config, "train"),
        dev=HubSplit(path, config, dev), test=NO_HUB,  # their test labels are hidden, or there is no test split
        text_fields=text_fields, labels=labels, description=f"{what}: English intermediate task (Phang et al., 2020)",
        **fields))


_intermediate("mnli", "pair_classification", "nyu-mll/glue", "mnli", "validation_matched", ("premise", "hypothesis"),
              ("entailment", "neutral", "contradiction"), what="MultiNLI (Williams et al., NAACL 2018), GLUE's labels")
_intermediate("qqp", "pair_classification", "nyu-mll/glue", "qqp", "validation", ("question1", "question2"),
              ("not_duplicate", "duplicate"), what="Quora Question Pairs (paraphrase)")

# ANLI+ (Phang et al.): ANLI's three rounds, MNLI and SNLI as one 3-class NLI task. Their hub cards (checked) give
# each the same label ids, ClassLabel 0 entailment, 1 neutral, 2 contradiction: `facebook/anli` config plain_text
# (train_r1/r2/r3: 16,946 + 45,460 + 100,459 rows; dev_r1/r2/r3: 1,000 + 1,000 + 1,200), `nyu-mll/glue` mnli
# (train: 392,702), `stanfordnlp/snli` plain_text (train: 550,152, of which the pairs without a gold label are -1 and
# dropped). The sources are still mapped by label name (`files.source_rows`), so a source ordered otherwise would be
# read right. Dev: ANLI's three dev rounds (3,200 rows), not MNLI's or SNLI's: the adversarial rounds are what ANLI+
# adds over `mnli` (which selects on MNLI's dev), and all three so that selection favours no round; with
# `max_eval_samples` the first rows (round 1's) are kept. The embedded world does not generate it (its NLI
# intermediate task is `mnli`): a world run asking for it is refused naming the tasks the world has, unless its
# files are given in data_files (one file per split, already concatenated).
_NLI_LABELS = ("entailment", "neutral", "contradiction")
_ANLI_ROUNDS = ("r1", "r2", "r3")
TASKS.register("anli_plus", TaskSpec(
    name="anli_plus", type="pair_classification", group=None, metric="accuracy", langs=("en",),
    train=HubUnion(tuple(HubSource("facebook/anli", "plain_text", f"train_{r}", _NLI_LABELS) for r in _ANLI_ROUNDS)
                   + (HubSource("nyu-mll/glue", "mnli", "train", _NLI_LABELS),
                      HubSource("stanfordnlp/snli", "plain_text", "train", _NLI_LABELS))),
    dev=HubUnion(tuple(HubSource("facebook/anli", "plain_text", f"dev_{r}", _NLI_LABELS) for r in _ANLI_ROUNDS)),
    test=NO_HUB, text_fields=("premise", "hypothesis"), labels=_NLI_LABELS, includes=("mnli",),
    description="ANLI+ (ANLI rounds 1-3 + MNLI + SNLI): English intermediate task (Phang et al., 2020)"))

# SQuAD v1.1, not v2: Phang et al. train on v2.0, but the span-QA head predicts a span for every question and has no
# "unanswerable" output; v1.1 is also what XQuAD, MLQA and TyDiQA-GoldP are modelled on.
_intermediate("squad", "span_qa", "rajpurkar/squad", "plain_text", "validation", metric="squad",
              what="SQuAD v1.1 (Rajpurkar et al., EMNLP 2016)", **_QA_FIELDS)
# Multiple choice, as loaded: the context (with its question, if any) and the choices (handlers/multiple_choice.py)
_intermediate("hellaswag", "multiple_choice", "Rowan/hellaswag", "default", "validation", ("premise", "choices"),
              tuple(f"ending{i}" for i in range(4)), what="HellaSwag (Zellers et al., ACL 2019): sentence completion")
_intermediate("cosmosqa", "multiple_choice", "allenai/cosmos_qa", "default", "validation", ("premise", "choices"),
              tuple(f"answer{i}" for i in range(4)), what="Cosmos QA (Huang et al., EMNLP 2019): reading comprehension")
_intermediate("commonsenseqa", "multiple_choice", "tau/commonsense_qa", "default", "validation",
              ("premise", "choices"), tuple("ABCDE"), what="CommonsenseQA (Talmor et al., NAACL 2019)")
# One sentence: a pair-classification task with one text field (the handler then encodes a single segment).
_intermediate("sst2", "pair_classification", "nyu-mll/glue", "sst2", "validation", ("sentence",),
              ("negative", "positive"), what="SST-2 (Socher et al., EMNLP 2013), GLUE's binary sentiment")

# CCG supertags. CCGbank (LDC2005T13) is licensed and not on the hub: its files are given by path. The real path
# reads its AUTO files (xltlib.tasks.ccgbank): one .auto file, a folder of them, or the data/AUTO folder itself, of
# which each split reads the standard sections (train 02-21, validation 00, test 23: Hockenmaier & Steedman 2007,
# Clark & Curran 2007). Its tag set is then the inventory of the training files: the categories seen at least 10
# times (425 on 02-21), every other one tagged `<unk>`, and the head is built on it (handlers/tagging.py,
# `spec_for`). jiant's own preparation (scripts/ccg/ccg_proc.py and ccg_to_num.py, read for this entry) differs:
# sections 00-18 train, 19-21 dev, 22-24 test, and every category of the three sets numbered, 1,363 tags
# (jiant/tasks/lib/ccg.py), no cut-off. The embedded world's supertagging-like task
# (xltlib.world.tasks.intermediate.supertags: a word's class and the role of its phrase) keeps this fixed inventory,
# CCG_TAGS, in JSON lines {"tokens": [...], "ccg_tags": [...]} (one sentence a line; tags by name), a tag outside
# it refused by name. Scored by token accuracy, as jiant and the supertagging literature report CCG (seqeval's chunk
# F1, UD-POS's metric, would read a supertag as a chunk label).
CCG_TAGS = tuple(f"{c}/{r}" for r in ("subj", "obj") for c in ("DET", "NUM", "ADJ", "N", "NAME")) + (
    "DET/place", "N/place", "V", "P", "CASE/subj", "CASE/obj", "ADV")
TASKS.register("ccg", TaskSpec(
    name="ccg", type="tagging", group=None, metric="token_accuracy", langs=("en",), train=NO_HUB, dev=NO_HUB,
    test=NO_HUB,
    text_fields=("tokens",), label_field="ccg_tags", labels=CCG_TAGS,
    description="CCG supertagging (Hockenmaier & Steedman 2007's CCGbank; its AUTO files by path): English "
                "intermediate task (Phang et al., 2020)"))

# Image-text alignment (research question 5): English captions and a frozen image encoder's features, an intermediate
# task for the text encoder. Its data set is whichever caption files `data_files` names, in COCO Captions',
# Flickr30k's, Conceptual Captions' or Multi30k's schema (handlers/image_text.py, CAPTION_SCHEMAS), images by path; the
# hub copies hold image URLs or one split with a split column, so none is read from the hub. The embedded world
# writes its own (xltlib.world.tasks.image_text).
TASKS.register("image_text", TaskSpec(
    name="image_text",
    type="image_text",
    group=None,
    metric="retrieval_recall_at_1",  # the mean of text->image and image->text recall@1 on held-out captions
    langs=("en",),
    train=NO_HUB,
    dev=NO_HUB,
    test=NO_HUB,
    text_fields=("caption",),
    description="image-text alignment (CLIP-style InfoNCE against frozen image features): intermediate task",
))
