"""Every benchmark still imports: `make bench` runs them on demand only, so a library refactor that moves what they
import would otherwise go unnoticed (session 5's refactor broke three of them this way). Each module is loaded
in-process, as `python benchmarks/<name>.py` would load it, without running its main(). The HF Trainer comparison
runs once on a few steps of the tiny world; the GPU throughput benchmark runs where there is a GPU."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_imports(script):
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)  # its imports resolve; main() runs only under __main__
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"


def _load(name: str):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_hf_trainer_comparison_runs_every_row_on_the_same_data(cached_tiny_world):
    bench = _load("hf_trainer")
    report = bench.compare("tiny", "xnli", epochs=1.0, repeats=1, max_train_samples=64)
    assert [r["row"] for r in report["rows"]] == [name for name, _, _ in bench.ROWS]
    assert report["optimizer_steps"] == 2
    for row in report["rows"]:
        assert row["examples_per_second"] > 0 and 0 <= row["dev_accuracy"] <= 1
        assert row["runs"][0]["test_accuracy"].keys() == report["rows"][0]["runs"][0]["test_accuracy"].keys()
    assert "| HF Trainer | " in bench.markdown(report)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_throughput_measures_tokens_utilisation_and_memory():
    bench = _load("gpu_throughput")
    for _, options in bench.ROWS[:2]:  # compile is the benchmark's own (a minute of compiling)
        row = bench.measure("mbert", options, steps=4, warmup=4, every=2, batch_size=8, max_length=64)
        assert row["timed_steps"] == 4 and row["tokens_per_second"] > 0 and row["peak_memory_gib"] > 0.5
        assert row["utilisation"] is None or 0 < row["utilisation"] < 1
