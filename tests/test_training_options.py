"""The loop's throughput options (issue 16): pre-tokenized training sets, DataLoader workers, length-grouped batches,
fused AdamW and torch.compile (refused without CUDA), and the loss read at logging steps only. With the new
options off, training is what it was, to the bit; pre-tokenized batches are the on-the-fly ones."""
import pytest
import torch

from xltlib.core.config import TRAIN_FIELDS, RunConfig, TrainArgs, train_key
from xltlib.core.errors import ConfigError, TrainingError
from xltlib.methods import Perturbation
from xltlib.run.experiment import load_task_data
from xltlib.run.loop import _loader, train, training_rows
from xltlib.run.plan import plan
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for
from xltlib.tasks.handlers.base import Collator
from xltlib.tasks.models import InitFrom, load_model, load_tokenizer

NEW_FIELDS = ("pretokenize", "dataloader_num_workers", "dataloader_pin_memory", "group_by_length", "optim",
              "torch_compile", "classifier_pooling")  # fields added after runs were stored: keyed only when set
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="the refusals are for machines without a GPU")


@pytest.fixture(scope="module")
def world(cached_tiny_world):
    return cached_tiny_world


def _task(world, task: str, cfg: RunConfig | None = None, **changes):
    cfg = cfg or RunConfig(world_preset="tiny", tasks=(task,), max_train_samples=48, max_eval_samples=8, **changes)
    spec = TASKS[task]
    handler = handler_for(spec)
    data = load_task_data(cfg, task, world)
    tokenizer = load_tokenizer(str(world.encoder_dir))
    return spec, handler, data, tokenizer, cfg


def _collator(world, task: str, **changes):
    spec, handler, data, tokenizer, cfg = _task(world, task, **changes)
    return handler.collate(spec, tokenizer, cfg, cfg.max_seq_length), data.train


@pytest.mark.parametrize("task", ["xnli", "udpos", "xcopa"])
@pytest.mark.parametrize("pad_to_max_length", [False, True])
def test_pretokenized_batches_are_the_on_the_fly_ones(world, task, pad_to_max_length):
    collate, rows = _collator(world, task, pad_to_max_length=pad_to_max_length)
    assert isinstance(collate, Collator)
    features = collate.encode(rows)
    for start in range(0, len(rows), 7):
        whole, padded = collate(rows[start:start + 7]), collate.pad(features[start:start + 7])
        assert whole.keys() == padded.keys()
        for key in whole:
            assert whole[key].dtype == padded[key].dtype and torch.equal(whole[key], padded[key]), key


def _train(world, task="xnli", perturbation=None, **options):
    spec, handler, data, tokenizer, cfg = _task(world, task)
    args = TrainArgs(learning_rate=3e-4, per_device_train_batch_size=8, num_train_epochs=2.0, evals_per_epoch=2,
                     save_steps=10**9, **options)
    model = load_model(str(world.encoder_dir), spec, InitFrom.PRETRAINED_ENCODER, seed=1)
    collate = handler.collate(spec, tokenizer, args, args.max_seq_length)
    result = train(model, data.train, collate, args, seed=3, perturbation=perturbation, desc="test")
    return result.history, {k: v.clone() for k, v in model.state_dict().items()}


def test_pretokenized_training_and_workers_train_exactly_as_per_batch_tokenization(world):
    before, weights = _train(world, pretokenize=False)  # the loop as it was: tokenized per batch, in the loop
    for options in ({}, {"dataloader_num_workers": 2}):
        history, trained = _train(world, **options)
        assert history == before
        assert all(torch.equal(trained[k], weights[k]) for k in weights)


def test_group_by_length_changes_training_only_when_asked(world):
    plain, _ = _train(world)
    grouped, _ = _train(world, group_by_length=True)
    assert [h["step"] for h in grouped] == [h["step"] for h in plain]
    assert grouped != plain


def _epoch_batches(world, task, generator_seed, **options):
    collate, rows = _collator(world, task)
    args = TrainArgs(per_device_train_batch_size=4, **options)
    loader_rows, collate_fn, _, lengths = training_rows(rows, collate, args, Perturbation(), args.group_by_length)
    indices = list(range(len(loader_rows)))
    generator = torch.Generator().manual_seed(generator_seed)
    loader = _loader(indices, lambda batch: batch, args, generator, None, lengths)
    token_lengths = [collate.length(f) for f in collate.encode(rows)]
    return [list(batch) for batch in loader], token_lengths


def test_group_by_length_batches_similar_lengths_and_covers_every_example_once(world):
    grouped, lengths = _epoch_batches(world, "udpos", 5, group_by_length=True)
    shuffled, _ = _epoch_batches(world, "udpos", 5)
    assert sorted(i for batch in grouped for i in batch) == list(range(len(lengths)))

    def padding(batches):  # padded positions in all the epoch's batches
        return sum(max(lengths[i] for i in batch) * len(batch) - sum(lengths[i] for i in batch) for batch in batches)

    assert padding(grouped) < padding(shuffled) / 2
    assert max(lengths[i] for i in grouped[0]) == max(lengths)  # the longest batch first: out of memory early
    again, _ = _epoch_batches(world, "udpos", 5, group_by_length=True)
    other, _ = _epoch_batches(world, "udpos", 6, group_by_length=True)
    assert again == grouped and other != grouped  # seeded by the epoch's generator


class _NaNFrom(Perturbation):
    def __init__(self, step):
        self.calls, self.step = 0, step

    def training_loss(self, forward, embeds, backward, generator, mask=None):
        self.calls += 1
        loss = forward(embeds).loss
        return loss * float("nan") if self.calls >= self.step else loss


def test_a_nan_loss_is_found_at_the_next_logging_step_naming_the_steps_and_learning_rate(world):
    # 48 examples, batch 8: 6 steps an epoch, logged every 3; the NaN of step 2 is read at step 3.
    with pytest.raises(TrainingError, match=r"test: the loss became nan in steps 1-3 \(epoch 0, learning_rate "
                                            r"0.0003\); checkpoints so far are kept\. Try a lower learning_rate"):
        _train(world, perturbation=_NaNFrom(2))


class _Rewriting(Perturbation):
    """Empties every first sentence, and counts the batches it rewrote."""

    def __init__(self):
        self.batches = 0

    def perturb_examples(self, examples, rng):
        self.batches += 1
        return [{**e, "premise": ""} for e in examples]


def test_a_perturbation_that_rewrites_text_is_tokenized_per_batch(world):
    collate, rows = _collator(world, "xnli")
    args = TrainArgs()
    assert training_rows(rows, collate, args, Perturbation(), False)[2] is True
    loader_rows, _, pretokenized, _ = training_rows(rows, collate, args, _Rewriting(), False)
    assert pretokenized is False and loader_rows == rows
    rewriting = _Rewriting()
    history, _ = _train(world, perturbation=rewriting)
    assert rewriting.batches == 12  # 2 epochs of 6 batches
    assert history != _train(world)[0]


def test_new_options_are_validated_naming_the_field():
    with pytest.raises(ConfigError, match="field 'optim' must be one of adamw_torch, adamw_torch_fused; got 'adam'"):
        TrainArgs(optim="adam")
    with pytest.raises(ConfigError, match="'dataloader_num_workers' must be 0 or more, got -1"):
        TrainArgs(dataloader_num_workers=-1)
    with pytest.raises(ConfigError, match="field 'group_by_length' must be true or false"):
        TrainArgs.from_params({"group_by_length": "yes"})
    with pytest.raises(ConfigError, match="task_overrides\\['xnli'\\]: field 'optim'"):
        RunConfig(task_overrides={"xnli": {"optim": "sgd"}})


@no_cuda
@pytest.mark.parametrize("option, message", [
    ({"optim": "adamw_torch_fused"}, "optim 'adamw_torch_fused' needs CUDA, and this machine has no GPU; use "
                                     "'adamw_torch'"),
    ({"torch_compile": True}, "torch_compile: true needs CUDA, and this machine has no GPU; set it false"),
])
def test_gpu_only_options_are_refused_without_a_gpu_when_the_run_is_planned(option, message):
    with pytest.raises(ConfigError, match=message):
        plan(RunConfig(world_preset="tiny", tasks=("xnli",), **option))
    with pytest.raises(ConfigError, match=message):  # and by the loop, for a stage budget that sets one
        train(torch.nn.Linear(1, 1), [], lambda batch: batch, TrainArgs(**option), seed=1)


def test_group_by_length_is_refused_where_there_are_no_lengths(world):
    args = TrainArgs(group_by_length=True)
    with pytest.raises(ConfigError, match="group_by_length needs a task's collator"):
        training_rows([{"text": "a"}], lambda batch: batch, args, Perturbation(), True)
    with pytest.raises(ConfigError, match="group_by_length does not apply to a multi-task stage"):
        train(torch.nn.Linear(1, 1), [], lambda batch: batch, args, seed=1, batch_sampler=lambda g: [])


def test_run_keys_ignore_throughput_options_and_keep_the_keys_of_runs_stored_before_them():
    default = TrainArgs()
    assert set(train_key(default)) == set(TRAIN_FIELDS) - set(NEW_FIELDS)
    fast = default.replace(pretokenize=False, dataloader_num_workers=4, dataloader_pin_memory=False)
    assert train_key(fast) == train_key(default)
    for changed in ({"group_by_length": True}, {"optim": "adamw_torch_fused"}, {"torch_compile": True},
                    {"classifier_pooling": "mean"}):
        assert train_key(default.replace(**changed)) == {**train_key(default), **changed}
