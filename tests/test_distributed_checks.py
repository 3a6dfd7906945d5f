"""Schedule method names (`seq:`, `multi:`, `joint:`, `+fs<k>`, `@mix`, `lora+...`) are refused by `python -m
xltlib.app.distributed` and by the check `xlt run` / `xlt batch` make before a kernel starts, with the same one-line
error `run_experiment` gives, before the world is built or any model loads, and with nothing written under the
outputs folder or the world cache. A valid schedule that needs the world's languages (`@mix`) passes without the
world being built. Under several processes, a schedule's stage that cannot be split is refused as early."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from xltlib.app import cli, distributed
from xltlib.app.runner import plan_run
from xltlib.core.config import RunConfig
from xltlib.core.errors import ConfigError
from xltlib.run import loop
from xltlib.run.experiment import run_experiment

from test_cli import one_line_error, scratch_project

PARAMETERS = 'world_preset = "tiny"\ntasks = ["xnli"]\nmethods = ["standard"]\neval_langs = ["en", "rlx"]'

# (methods, eval_langs, what run_experiment says): each a schedule that parses as a name, wrong only as a schedule
BAD_SCHEDULES = [
    ("[seq:xnli]", "[en, rlx]", "'xnli' is the target itself"),
    ("[seq:mnli+fs4]", "[en]", "source language only"),
    ("[multi:mnli+image_text]", "[en, rlx]", "trains a module of its own"),
    ("[lora+joint:mnli]", "[en, rlx]", "a joint: stage shares one encoder"),
    ("[seq:hellaswagg]", "[en, rlx]", "unknown task 'hellaswagg'"),
    ("[seq:mnli+fs0]", "[en, rlx]", "k must be at least 1"),
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    return scratch_project(tmp_path, monkeypatch, "sched", PARAMETERS)


def nothing_written(root, tmp_path) -> bool:
    """No outputs folder entry (run directory, run store, distributed folder) and no world in the cache."""
    outputs = root / "outputs"
    worlds = tmp_path / "worlds"
    return not (outputs.exists() and any(outputs.iterdir())) and not (worlds.exists() and any(worlds.iterdir()))


def experiment_error(methods: str, eval_langs: str) -> str:
    """What the main path (`run_experiment`, in the notebook) says of the same parameters, before it loads anything."""
    import yaml

    cfg = RunConfig(world_preset="tiny", tasks=("xnli",), methods=tuple(yaml.safe_load(methods)),
                    eval_langs=tuple(yaml.safe_load(eval_langs)))
    with pytest.raises(ConfigError) as info:
        run_experiment(cfg, "unused")  # no world: the schedule's error comes before the world is needed
    return str(info.value)


@pytest.mark.parametrize("methods, eval_langs, fragment", BAD_SCHEDULES)
def test_distributed_refuses_a_bad_schedule_as_run_experiment_does_before_anything_loads(
        project, tmp_path, capsys, methods, eval_langs, fragment):
    expected = experiment_error(methods, eval_langs)
    assert fragment in expected
    assert distributed.main(["sched", "-p", "methods", methods, "-p", "eval_langs", eval_langs]) == 2
    err = one_line_error(capsys)
    assert err == f"error: sched.ipynb: {expected}\n"
    assert nothing_written(project, tmp_path)


@pytest.mark.parametrize("methods, eval_langs, fragment", BAD_SCHEDULES)
def test_xlt_run_refuses_a_bad_schedule_before_a_kernel_starts(project, tmp_path, capsys, methods, eval_langs,
                                                               fragment):
    expected = experiment_error(methods, eval_langs)
    assert cli.main(["run", "sched", "-p", "methods", methods, "-p", "eval_langs", eval_langs]) == 2
    assert one_line_error(capsys) == f"error: sched.ipynb: {expected}\n"
    assert nothing_written(project, tmp_path)


def test_xlt_batch_refuses_a_bad_schedule_in_a_params_file(project, tmp_path, capsys):
    params = project / "params" / "sched"
    params.mkdir(parents=True)
    (params / "bad.yaml").write_text("methods: [seq:xnli]\n")
    assert cli.main(["batch", str(params)]) == 2
    err = capsys.readouterr().err
    assert "'xnli' is the target itself" in err and "Traceback" not in err
    assert nothing_written(project, tmp_path)


def test_a_schedule_that_reads_the_worlds_languages_is_checked_without_building_it(project, tmp_path):
    # `@mix` mixes the languages the world writes MNLI in: known from the preset alone, so the unbuilt world passes
    run_plan = plan_run("sched", overrides={"methods": ["seq:mnli@mix", "standard+fs2"]})
    assert run_plan.params["methods"] == ["seq:mnli@mix", "standard+fs2"]
    assert nothing_written(project, tmp_path)


def test_distributed_refuses_a_schedule_stage_that_several_processes_cannot_split(project, tmp_path, capsys,
                                                                                  monkeypatch):
    monkeypatch.setattr(loop, "process_state", lambda: SimpleNamespace(num_processes=2, is_main_process=True))
    assert distributed.main(["sched", "-p", "methods", "[multi:mnli+squad]"]) == 2
    err = one_line_error(capsys)
    assert "stage mnli+squad on 2 processes: a multi-task stage draws one task per batch" in err
    assert distributed.main(["sched", "-p", "methods", "[seq:image_text]"]) == 2
    assert "image_text's loss uses the whole batch (in-batch negatives)" in one_line_error(capsys)
    assert nothing_written(project, tmp_path)


@pytest.mark.parametrize("methods, eval_langs, fragment", BAD_SCHEDULES[:3])
def test_a_notebook_run_directly_refuses_a_bad_schedule_before_the_world_is_built(
        project, tmp_path, methods, eval_langs, fragment):
    """A notebook opened in Jupyter (not through `xlt run`) checks in `setup`: the same error, nothing built."""
    import yaml

    from xltlib.app.notebook import setup

    namespace = {"world_preset": "tiny", "tasks": ["xnli"], "methods": yaml.safe_load(methods),
                 "eval_langs": yaml.safe_load(eval_langs)}
    with pytest.raises(ConfigError) as info:
        setup(namespace, "sched")
    assert str(info.value) == experiment_error(methods, eval_langs) and fragment in str(info.value)
    assert nothing_written(project, tmp_path)
