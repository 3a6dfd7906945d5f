"""xltlib.tasks.models on locally built models of both real families (BERT, XLM-R): a local directory works as
`model_name_or_path`, each InitFrom loads what it promises, head init is seeded, names resolve offline."""
import socket

import pytest
import torch

from xltlib.core.errors import UnknownNameError
from xltlib.methods.recipes import Stage
from xltlib.run.stages import StageInputs, start_model
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import TaskData
from xltlib.tasks.models import InitFrom, MODELS, check_model_name, load_model, load_tokenizer, resolve_model_path

XNLI = TASKS["xnli"]
PAWSX = TASKS["pawsx"]


@pytest.fixture(params=["bert", "xlmr"])
def model_dir(request, tiny_model_dir, tiny_xlmr_dir):
    return {"bert": tiny_model_dir, "xlmr": tiny_xlmr_dir}[request.param]


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails the test: name resolution must stay offline."""
    def refuse(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _encoder_weight(model) -> torch.Tensor:
    """A pretrained (not head) tensor, present in the MLM checkpoint and every task model."""
    return model.base_model.encoder.layer[0].attention.self.query.weight


def _saved_encoder_weight(path) -> torch.Tensor:
    from transformers import AutoModelForMaskedLM

    return _encoder_weight(AutoModelForMaskedLM.from_pretrained(path))


def _head(model) -> dict:
    return {name: p.detach().clone() for name, p in model.named_parameters() if name.startswith("classifier")}


def test_local_directory_is_a_valid_model_name(model_dir):
    check_model_name(str(model_dir), "real")
    check_model_name(str(model_dir), "embedded")
    assert resolve_model_path(str(model_dir)) == str(model_dir.resolve())


def test_tokenizer_loads_from_local_directory(tiny_model_dir, tiny_xlmr_dir):
    bert = load_tokenizer(resolve_model_path(str(tiny_model_dir)))
    pair = bert("The cat sleeps.", "Η γάτα κοιμάται.")
    tokens = bert.convert_ids_to_tokens(pair["input_ids"])
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and "[UNK]" not in tokens
    first_sep = tokens.index("[SEP]")
    assert pair["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)

    xlmr = load_tokenizer(resolve_model_path(str(tiny_xlmr_dir)))
    tokens = xlmr.convert_ids_to_tokens(xlmr("Die Katze schläft.", "Le chat dort.")["input_ids"])
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and tokens.count("</s>") == 3
    assert (xlmr.pad_token_id, xlmr.unk_token_id) == (1, 3)
    assert xlmr.mask_token_id == len(xlmr) - 1


def test_pretrained_encoder_keeps_weights_and_adds_task_head(model_dir):
    model = load_model(resolve_model_path(str(model_dir)), XNLI, InitFrom.PRETRAINED_ENCODER, seed=1)
    assert torch.equal(_encoder_weight(model), _saved_encoder_weight(model_dir))
    assert model.config.num_labels == 3
    assert model.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    assert model.config.label2id == {"entailment": 0, "neutral": 1, "contradiction": 2}
    tokenizer = load_tokenizer(str(model_dir))
    batch = tokenizer(["The cat sleeps."], ["An animal is sleeping."], return_tensors="pt")
    with torch.no_grad():
        assert model(**batch).logits.shape == (1, 3)


def test_head_follows_the_task(tiny_model_dir):
    model = load_model(str(tiny_model_dir), PAWSX, InitFrom.PRETRAINED_ENCODER, seed=1)
    assert model.config.num_labels == 2 and model.config.id2label == {0: "0", 1: "1"}


def test_scratch_has_same_shapes_but_random_encoder(model_dir):
    scratch = load_model(str(model_dir), XNLI, InitFrom.SCRATCH, seed=1)
    pretrained = _saved_encoder_weight(model_dir)
    assert _encoder_weight(scratch).shape == pretrained.shape
    assert not torch.allclose(_encoder_weight(scratch), pretrained)
    assert scratch.config.num_labels == 3
    standard = load_model(str(model_dir), XNLI, InitFrom.PRETRAINED_ENCODER, seed=1)
    assert {n: p.shape for n, p in scratch.named_parameters()} == \
        {n: p.shape for n, p in standard.named_parameters()}


def test_same_seed_same_head_init(model_dir):
    first = _head(load_model(str(model_dir), XNLI, InitFrom.PRETRAINED_ENCODER, seed=7))
    again = _head(load_model(str(model_dir), XNLI, InitFrom.PRETRAINED_ENCODER, seed=7))
    other = _head(load_model(str(model_dir), XNLI, InitFrom.PRETRAINED_ENCODER, seed=8))
    assert first and first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_same_seed_same_scratch_init(tiny_model_dir):
    first = load_model(str(tiny_model_dir), XNLI, InitFrom.SCRATCH, seed=3)
    again = load_model(str(tiny_model_dir), XNLI, InitFrom.SCRATCH, seed=3)
    assert torch.equal(_encoder_weight(first), _encoder_weight(again))


def test_previous_starts_a_stage_from_the_fine_tuned_classifier_with_its_head(model_dir):
    # InitFrom.FULL (reload a saved fine-tuned model, head included) is now InitFrom.PREVIOUS: a later stage
    # starts from the previous stage's whole model (xltlib.run.stages.start_model), not from a path.
    tuned = load_model(str(model_dir), XNLI, InitFrom.PRETRAINED_ENCODER, seed=1)
    with torch.no_grad():  # stand-in for fine-tuning: move both the head and the encoder
        for p in tuned.parameters():
            p.add_(0.5)
    with pytest.raises(ValueError, match="previous"):
        load_model(str(model_dir), XNLI, InitFrom.PREVIOUS, seed=99)
    inputs = StageInputs(target=TaskData(XNLI), stage_data={}, model_path=str(model_dir),
                         first_init=InitFrom.PRETRAINED_ENCODER, perturbation=None, seed=99, tokenizer=None,
                         method="standard")
    reloaded = start_model(Stage(("xnli",), init=InitFrom.PREVIOUS), 1, tuned, inputs)
    head, head_again = _head(tuned), _head(reloaded)
    assert head.keys() == head_again.keys() and all(torch.equal(head[k], head_again[k]) for k in head)
    assert torch.equal(_encoder_weight(reloaded), _encoder_weight(tuned))
    assert reloaded.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}


def test_registered_name_resolves_to_hub_id_offline(no_network):
    assert resolve_model_path("xlm-roberta-base") == "FacebookAI/xlm-roberta-base"
    assert resolve_model_path("bert-base-multilingual-cased") == "google-bert/bert-base-multilingual-cased"
    check_model_name("xlm-roberta-large", "real")
    check_model_name("some-org/some-model", "real")  # a hub id is accepted as is, not looked up
    assert resolve_model_path("some-org/some-model") == "some-org/some-model"


def test_unknown_model_lists_registered_models():
    with pytest.raises(UnknownNameError) as info:
        check_model_name("xlm-roberta-bas", "real")
    message = str(info.value)
    assert "'xlm-roberta-bas'" in message
    assert all(name in message for name in MODELS.names())


def test_embedded_model_only_in_embedded_world():
    check_model_name("embedded", "embedded")
    with pytest.raises(UnknownNameError, match="world 'real'.*xlm-roberta-base"):
        check_model_name("embedded", "real")
