"""`classifier_pooling: mean`: a sentence-level head reads the mean of the last layer over the real tokens, through
BERT's own pooler weights; padding never changes an example's output, a saved model loads back mean-pooling, and
a model without a pooler is refused in one line."""
import pytest
import torch
from transformers import (BertConfig, BertForMultipleChoice, BertForSequenceClassification, RobertaConfig,
                          RobertaForSequenceClassification)

from xltlib.core.config import RunConfig, train_key
from xltlib.core.errors import ConfigError
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.models import InitFrom, load_model, use_pooling

TINY = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)


def _model(pooling="mean"):
    torch.manual_seed(0)
    return use_pooling(BertForSequenceClassification(BertConfig(**TINY, num_labels=3)), pooling).eval()


def test_the_mean_over_real_tokens_feeds_the_pooler_and_padding_does_not_change_it():
    model = _model()
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    alone = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    padded_ids = torch.tensor([[2, 5, 6, 7, 3, 0, 0], [2, 9, 9, 9, 9, 9, 3]])
    mask = (torch.arange(7) < torch.tensor([[5], [7]])).long()
    in_batch = model(input_ids=padded_ids, attention_mask=mask).logits
    torch.testing.assert_close(in_batch[:1], alone, rtol=1e-5, atol=1e-6)
    hidden = model.bert(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    expected = model.classifier(torch.tanh(model.bert.pooler.dense(hidden.mean(1))))
    torch.testing.assert_close(alone, expected)
    assert not torch.allclose(alone, _model("cls")(input_ids=ids).logits)  # not the first token's state


def test_multiple_choice_heads_mean_pool_each_choice():
    torch.manual_seed(0)
    model = use_pooling(BertForMultipleChoice(BertConfig(**TINY)), "mean").eval()
    ids = torch.tensor([[[2, 5, 3, 0], [2, 6, 7, 3]]])
    mask = (ids != 0).long()
    logits = model(input_ids=ids, attention_mask=mask).logits
    first = model(input_ids=ids[:, :1, :3], attention_mask=mask[:, :1, :3]).logits
    torch.testing.assert_close(logits[:, :1], first, rtol=1e-5, atol=1e-6)


def test_a_saved_mean_pooling_model_loads_back_mean_pooling(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(str(tmp_path / "m"), TASKS["xnli"], InitFrom.PRETRAINED_ENCODER, seed=0).eval()
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    torch.testing.assert_close(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    assert loaded.config.classifier_pooling == "mean"


def test_a_model_without_a_pooler_is_refused_naming_the_field():
    roberta = RobertaForSequenceClassification(RobertaConfig(**TINY, num_labels=3))
    with pytest.raises(ConfigError, match="classifier_pooling: 'mean' needs a BERT-like model with a pooler"):
        use_pooling(roberta, "mean")
    assert use_pooling(roberta, "cls") is roberta


def test_an_unknown_pooling_is_refused_and_cls_keeps_old_run_keys():
    with pytest.raises(ConfigError, match="field 'classifier_pooling' must be one of 'cls', 'mean', got 'max'"):
        RunConfig(classifier_pooling="max")
    assert "classifier_pooling" not in train_key(RunConfig())
    assert train_key(RunConfig(classifier_pooling="mean"))["classifier_pooling"] == "mean"
