"""What a run leaves besides its metrics, on request: the selected model of each (task, method, seed) as a folder
`from_pretrained` loads (`save_model: true`), and the training loss and English-dev score in TensorBoard
(`report_to: tensorboard`, refused with the install command when the package is missing). The tiny world, a few
training steps.
"""
import importlib.util
import json

import pytest
import torch

import xltlib.run.plan as plan_module
from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError
from xltlib.run.experiment import load_task_data, run_experiment
from xltlib.run.plan import plan
from xltlib.tasks.catalogue import TASKS
from xltlib.tasks.handlers import handler_for

BUDGET = dict(world_preset="tiny", tasks=["xnli"], methods=["standard"], seeds=[1], eval_langs=["en", "rlx"],
              generalized=False, max_train_samples=64, max_eval_samples=24, num_train_epochs=1.0,
              per_device_train_batch_size=16, per_device_eval_batch_size=64, learning_rate=1e-3, warmup_ratio=0.0,
              evals_per_epoch=2, export_predictions=True)
HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def _predicted_labels(run_dir, lang: str) -> list[str]:
    return (run_dir / "predictions" / "standard" / "seed1" / "xnli" / f"test-{lang}.tsv").read_text().split()


def test_a_saved_model_loads_back_and_predicts_as_the_run_did(cached_tiny_world, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    cfg = RunConfig(**BUDGET, save_model=True)
    run_dir = tmp_path / "run"
    metrics = run_experiment(cfg, run_dir, cached_tiny_world)
    folder = run_dir / "models" / "xnli-standard-seed1"
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    spec, handler = TASKS["xnli"], handler_for(TASKS["xnli"])
    data = load_task_data(cfg, "xnli", cached_tiny_world)
    for lang in ("en", "rlx"):
        predicted = handler.predict(spec, model, tokenizer, data.tests[lang], cfg, handler.max_length(model, cfg))
        assert handler.submission_items(spec, predicted) == _predicted_labels(run_dir, lang)
    accuracy = metrics.query("lang == 'en' and split == 'test'")["value"].item()
    gold = [spec.labels[r["label"]] for r in data.tests["en"]]
    assert accuracy == pytest.approx(sum(p == g for p, g in zip(_predicted_labels(run_dir, "en"), gold)) / len(gold))


def test_a_stored_run_without_its_model_is_trained_again_to_keep_it(cached_tiny_world, tmp_path):
    run_dir = tmp_path / "run"
    first = run_experiment(RunConfig(**BUDGET), run_dir, cached_tiny_world)
    assert not (run_dir / "models").exists()  # off by default: nothing but metrics and predictions
    second = run_experiment(RunConfig(**BUDGET, save_model=True), run_dir, cached_tiny_world)
    assert (run_dir / "models" / "xnli-standard-seed1" / "model.safetensors").is_file()
    assert first.equals(second)  # the same seeded run, trained again
    third = run_experiment(RunConfig(**BUDGET, save_model=True), run_dir, cached_tiny_world)
    assert first.equals(third)
    assert json.loads((run_dir / "store.json").read_text())["misses"] == []  # read back, model and all


def test_report_to_tensorboard_is_refused_naming_the_install_when_the_package_is_missing(monkeypatch):
    monkeypatch.setattr(plan_module, "_package_installed", lambda name: False)
    with pytest.raises(ConfigError) as info:
        plan(RunConfig(report_to="tensorboard"))
    message = str(info.value)
    for fragment in ("report_to: 'tensorboard'", "'tensorboard' package", "not installed",
                     "pip install 'xlt-companion[tracking]'", "report_to: none"):
        assert fragment in message, message
    assert set(plan(RunConfig(report_to="none"))) == {"xnli", "pawsx"}


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard is not installed (pip install 'xlt-companion[tracking]')")
def test_report_to_tensorboard_logs_loss_and_dev_score(cached_tiny_world, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    run_experiment(RunConfig(**BUDGET, report_to="tensorboard"), run_dir, cached_tiny_world)
    logs = run_dir / "tensorboard" / "xnli-standard-seed1" / "0-xnli"
    events = EventAccumulator(str(logs))
    events.Reload()
    assert {"train/loss", "dev/score"} <= set(events.Tags()["scalars"])
    history = [e.step for e in events.Scalars("dev/score")]
    assert history == sorted(history) and len(history) == 2  # two evaluations in the one epoch
    assert all(torch.isfinite(torch.tensor(e.value)) for e in events.Scalars("train/loss"))
