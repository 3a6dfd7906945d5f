"""End to end on the real path: a locally built tiny model and real-schema files through the same code
the notebooks use; seeded determinism; resuming after SIGKILL; a NaN loss."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from xltlib.core.config import RunConfig, TrainArgs
from xltlib.core.errors import TrainingError
from xltlib.methods import Perturbation
from xltlib.run.experiment import run_experiment
from xltlib.run.loop import train

LANGS = ["en", "de", "fr", "el"]


def real_config(model_dir, xnli_files, **changes) -> RunConfig:
    base = dict(world="real", tasks=["xnli"], model_name_or_path=str(model_dir), methods=["standard"],
                seeds=[1], eval_langs=LANGS, data_files={"xnli": xnli_files}, num_train_epochs=2.0,
                per_device_train_batch_size=4, per_device_eval_batch_size=8, learning_rate=1e-3,
                evals_per_epoch=2)
    return RunConfig(**{**base, **changes})


@pytest.mark.parametrize("model_fixture", ["tiny_model_dir", "tiny_xlmr_dir"])
def test_real_path_runs_end_to_end_on_local_files(model_fixture, request, xnli_files, tmp_path):
    model_dir = request.getfixturevalue(model_fixture)
    records = run_experiment(real_config(model_dir, xnli_files), tmp_path / "run")
    assert list(records.columns) == ["task", "lang", "method", "seed", "split", "metric", "value"]
    test = records[records.split == "test"]
    assert sorted(test.lang) == sorted(LANGS)
    assert test.value.between(0, 1).all()
    generalized = records[records.split == "test_generalized"]
    assert len(generalized) == len(LANGS) ** 2  # every ordered pair, the diagonal included
    diagonal = generalized.set_index("lang").loc[[f"{l}-{l}" for l in LANGS], "value"].to_numpy()
    assert (diagonal == test.set_index("lang").loc[LANGS, "value"].to_numpy()).all()
    assert len(records[records.split == "validation"]) == 1  # English dev only: the zero-shot protocol
    # Predictions in the XTREME submission layout, one label name per line.
    for lang in LANGS:
        lines = (tmp_path / "run/predictions/standard/seed1/xnli" / f"test-{lang}.tsv").read_text().splitlines()
        n_rows = sum(1 for _ in open(xnli_files["test"][lang]))
        assert len(lines) == n_rows and set(lines) <= {"entailment", "neutral", "contradiction"}


def test_generalized_pairs_can_be_capped_and_the_diagonal_is_scored_on_the_same_prefix(tiny_model_dir, xnli_files,
                                                                                        tmp_path):
    records = run_experiment(real_config(tiny_model_dir, xnli_files, max_generalized_samples=3), tmp_path / "run")
    generalized = records[records.split == "test_generalized"].set_index("lang")["value"]
    assert len(generalized) == len(LANGS) ** 2
    for lang in LANGS:  # the diagonal: this language's own predictions on its first 3 test pairs
        predicted = (tmp_path / "run/predictions/standard/seed1/xnli" / f"test-{lang}.tsv").read_text().split()[:3]
        gold = [json.loads(line)["label"] for line in open(xnli_files["test"][lang])][:3]
        names = ["entailment", "neutral", "contradiction"]
        gold = [names[g] if isinstance(g, int) else g for g in gold]
        assert generalized[f"{lang}-{lang}"] == pytest.approx(sum(p == g for p, g in zip(predicted, gold)) / 3)
    assert set((generalized * 3).round(6)) <= {0.0, 1.0, 2.0, 3.0}  # every pair scored on 3 examples


def test_same_params_and_seed_give_the_same_metrics(tiny_model_dir, xnli_files, tmp_path):
    cfg = real_config(tiny_model_dir, xnli_files, generalized=False, export_predictions=False)
    first = run_experiment(cfg, tmp_path / "a")
    second = run_experiment(cfg, tmp_path / "b")
    pd.testing.assert_frame_equal(first, second)


def test_a_finished_fine_tuning_is_read_back_not_rerun(tiny_model_dir, xnli_files, tmp_path):
    cfg = real_config(tiny_model_dir, xnli_files, generalized=False, export_predictions=False)
    first = run_experiment(cfg, tmp_path / "run")
    done = next((tmp_path / "run/work").glob("*/eval-*/records.json"))
    stamp = done.stat().st_mtime_ns
    again = run_experiment(cfg, tmp_path / "run")
    assert done.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first, again)


_KILLABLE = textwrap.dedent("""
    import json, sys
    from xltlib.core.config import RunConfig
    from xltlib.run.experiment import run_experiment
    cfg = RunConfig(**json.loads(sys.argv[1]))
    run_experiment(cfg, sys.argv[2])
""")


def test_sigkill_then_rerun_resumes_from_the_checkpoint_with_identical_results(tiny_model_dir, xnli_files,
                                                                                tmp_path):
    cfg = real_config(tiny_model_dir, xnli_files, generalized=False, export_predictions=False,
                      num_train_epochs=40.0, save_steps=3, evals_per_epoch=1)
    params = json.dumps(cfg.to_dict())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, params, str(tmp_path / "killed")], env=env)
    deadline = time.time() + 120
    state = None
    while time.time() < deadline and proc.poll() is None:
        # checkpoint-<stage>-<tasks>/: one checkpoint folder per stage of the run's schedule (here one stage)
        states = list((tmp_path / "killed/work").glob("*/checkpoint*/last/trainer_state.json"))
        if states and json.loads(states[0].read_text())["global_step"] >= 6:
            state = states[0]
            break
        time.sleep(0.05)
    assert state is not None and proc.poll() is None, "the run ended before a checkpoint could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = run_experiment(cfg, tmp_path / "killed")
    train_log = json.loads(next((tmp_path / "killed/work").glob("*/train.json")).read_text())
    assert train_log["resumed_from_step"] >= 6
    uninterrupted = run_experiment(cfg, tmp_path / "clean")
    pd.testing.assert_frame_equal(resumed, uninterrupted)


class _NaNAfter(Perturbation):
    def __init__(self, step):
        self.calls, self.step = 0, step

    def training_loss(self, forward, embeds, backward, generator, mask=None):
        self.calls += 1
        loss = forward(embeds).loss
        return loss * float("nan") if self.calls > self.step else loss


def test_nan_loss_is_a_clear_error_and_keeps_the_checkpoint(tiny_model_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    examples = [{"text": f"the dog {i}", "label": i % 2} for i in range(40)]

    def collate(batch):
        enc = dict(tokenizer([e["text"] for e in batch], padding=True, return_tensors="pt"))
        enc["labels"] = torch.tensor([e["label"] for e in batch])
        return enc

    args = TrainArgs(learning_rate=1e-3, per_device_train_batch_size=4, num_train_epochs=3.0, save_steps=2)
    # The loss is read at logging and checkpoint steps (every 2 here): step 5's NaN is found at step 6, before the
    # checkpoint there would save its weights.
    with pytest.raises(TrainingError, match=r"loss became nan in steps 5-6 .*learning_rate 0.001.*checkpoints"):
        train(model, examples, collate, args, seed=1, perturbation=_NaNAfter(4), checkpoint_dir=tmp_path / "ckpt")
    state = json.loads((tmp_path / "ckpt/last/trainer_state.json").read_text())
    assert state["global_step"] == 4
