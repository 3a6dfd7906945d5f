"""The tables notebook (10) and its helpers on small hand-made records: which runs are found and in what state, the
leaderboard's group scores and ordering, each notebook's tables and figure rebuilt from records alone, and the
notebook itself under papermill on a tiny metrics tree (and on none at all). Nothing here trains."""
import json
from pathlib import Path

import matplotlib
import pandas as pd
import papermill
import pytest

from xltlib.core.errors import ConfigError
from xltlib.report import leaderboard, runs, tables
from xltlib.report.results import write_metrics

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "10_tables.ipynb"
NOTEBOOKS = ["01_zero_shot_baseline", "02_robust_training", "03_xtreme_r_baseline"]
LADDER = {"en": 0, "rlx": 1, "adn": 2}
BASE = {"standard": 0.8, "scratch": 0.5, "at": 0.78}


def rows(task, methods, langs=("en", "rlx", "adn"), seeds=(1, 2, 3), metric="accuracy", split="test", shift=0.0):
    """Long records whose value is the method's base, minus 0.1 per language after the first, plus 0.01 x seed."""
    return [{"task": task, "lang": lang, "method": method, "seed": seed, "split": split, "metric": metric,
             "value": BASE[method] - 0.1 * i + 0.01 * seed + shift}
            for method in methods for i, lang in enumerate(langs) for seed in seeds]


def baseline_records():
    recs = []
    for task in ("xnli", "pawsx"):
        recs += rows(task, ["standard", "scratch"]) + rows(task, ["standard", "scratch"], ("en",), split="validation")
        recs += rows(task, ["standard", "scratch"], ("en-rlx", "rlx-en"), split="test_generalized")
    return pd.DataFrame(recs)


def robust_records():
    recs = rows("xnli", ["standard", "at"]) + rows("xnli", ["standard"], metric="accuracy_under_pgd", shift=-0.4)
    recs += rows("xnli", ["at"], ("en", "rlx"), metric="accuracy_under_pgd", shift=-0.2)  # no adn: a missing cell
    return pd.DataFrame(recs)


def xtreme_records():
    methods = ["standard", "scratch"]
    recs = (rows("xcopa", methods) + rows("udpos", methods, metric="seqeval") + rows("xquad", methods, metric="squad")
            + rows("xquad", methods, metric="exact_match") + rows("xquad", methods, metric="f1")
            + rows("tatoeba", methods, ("rlx", "adn")) + rows("bucc2018", methods, ("rlx",), metric="bucc_f1"))
    return pd.DataFrame(recs)


def write_run(run_dir: Path, records, status="finished", config=None):
    write_metrics(records, run_dir / "metrics.csv")
    (run_dir / "config.json").write_text(json.dumps({"config": {"world": "embedded", **(config or {})}}))
    if status is not None:
        (run_dir / "run.json").write_text(json.dumps({"status": status}))


@pytest.fixture
def tree(tmp_path):
    """outputs/<notebook>/default/ for 01 (finished), 02 (no run.json yet) and 03 (finished)."""
    outputs = tmp_path / "outputs"
    write_run(outputs / NOTEBOOKS[0] / "default", baseline_records())
    write_run(outputs / NOTEBOOKS[1] / "default", robust_records(), status=None)
    write_run(outputs / NOTEBOOKS[2] / "default", xtreme_records(), config={"xtreme_version": "xtreme-r"})
    return outputs


# -- finding runs -----------------------------------------------------------------------------------------------


def test_runs_are_named_by_notebook_and_run_with_their_status(tree):
    found = runs.find_runs(str(tree / "*" / "default" / "metrics.csv"), NOTEBOOKS)
    assert list(found.notebook) == NOTEBOOKS and set(found.run) == {"default"}
    assert list(found.status) == ["finished", runs.NO_RUN_RECORD, "finished"]
    assert set(found.world) == {"embedded"}
    text = runs.describe_runs(found, NOTEBOOKS + ["04_new"], "outputs/*/default/metrics.csv")
    assert "`02_robust_training/default` (no run.json)" in text and "No run (yet) of `04_new`" in text


def test_a_smoke_run_folder_named_after_its_notebook_is_that_notebooks_run(tmp_path):
    write_run(tmp_path / "smoke-runs" / NOTEBOOKS[0], baseline_records(), status=None)
    found = runs.find_runs(str(tmp_path / "smoke-runs" / "*" / "metrics.csv"), NOTEBOOKS)
    assert found[["notebook", "run"]].values.tolist() == [[NOTEBOOKS[0], "smoke-runs"]]
    assert runs.missing_notebooks(found, NOTEBOOKS) == NOTEBOOKS[1:]


def test_nothing_found_is_an_empty_frame_and_says_so(tmp_path):
    found = runs.find_runs(str(tmp_path / "*" / "metrics.csv"), NOTEBOOKS)
    assert found.empty and list(found.columns) == list(runs.RUN_COLUMNS)
    assert runs.read_runs(found).empty
    assert runs.describe_runs(found, NOTEBOOKS, "x/*.csv").startswith("No metrics found under `x/*.csv`")
    assert leaderboard.leaderboard(runs.read_runs(found), found).empty


def test_read_runs_keeps_each_runs_records_apart(tree):
    found = runs.find_runs(str(tree / "*" / "default" / "metrics.csv"), NOTEBOOKS)
    records = runs.read_runs(found)
    assert len(runs.run_records(records, NOTEBOOKS[1], "default")) == len(robust_records())
    assert list(runs.run_records(records, NOTEBOOKS[0], "default").columns)[:7] == list(baseline_records().columns)


# -- the leaderboard ---------------------------------------------------------------------------------------------


def test_group_scores_are_means_of_their_tasks_and_the_score_the_mean_over_groups():
    records = xtreme_records().assign(notebook="nb", run="r")
    scores = leaderboard.seed_scores(records).set_index(["method", "seed"])
    row = scores.loc[("standard", 1)]
    udpos, xquad = 0.8 - 0.1 + 0.01, 0.8 - 0.1 + 0.01  # mean over en, rlx, adn
    tatoeba = 0.8 - 0.05 + 0.01  # rlx and adn
    assert row["structured_prediction"] == pytest.approx(udpos) and row["qa"] == pytest.approx(xquad)
    assert row["retrieval"] == pytest.approx(tatoeba)  # BUCC is in no XTREME-R group
    assert row["xtreme-r"] == pytest.approx((row.classification + udpos + xquad + tatoeba) / 4)


def test_pawsx_counts_in_xtreme_but_not_in_xtreme_r():
    records = baseline_records().assign(notebook="nb", run="r")
    r = leaderboard.seed_scores(records, "xtreme-r").set_index(["method", "seed"]).loc[("standard", 1)]
    x = leaderboard.seed_scores(records, "xtreme").set_index(["method", "seed"]).loc[("standard", 1)]
    assert r["classification"] == pytest.approx(r["xnli"]) and r["xtreme-r"] == pytest.approx(r["xnli"])
    assert x["classification"] == pytest.approx((x["xnli"] + x["pawsx"]) / 2)
    with pytest.raises(ConfigError, match="xtreme_version 'xtreme-x': unknown benchmark"):
        leaderboard.seed_scores(records, "xtreme-x")


def test_the_leaderboard_ranks_methods_within_each_run_in_points(tree):
    found = runs.find_runs(str(tree / "*" / "default" / "metrics.csv"), NOTEBOOKS)
    board = leaderboard.leaderboard(runs.read_runs(found), found)
    assert board[["notebook", "method", "rank"]].values.tolist() == [
        [NOTEBOOKS[0], "standard", 1], [NOTEBOOKS[0], "scratch", 2], [NOTEBOOKS[1], "standard", 1],
        [NOTEBOOKS[1], "at", 2], [NOTEBOOKS[2], "standard", 1], [NOTEBOOKS[2], "scratch", 2]]
    first = board.iloc[0]
    assert first.seeds == 3 and first.status == "finished" and first.world == "embedded"
    assert first.score == pytest.approx(100 * (0.8 - 0.1 + 0.02))  # xnli: mean over languages and seeds
    assert first.score_ci_low < first.score < first.score_ci_high
    assert pd.isna(board.set_index(["notebook", "method"]).loc[(NOTEBOOKS[0], "standard"), "udpos"])
    shown = leaderboard.leaderboard_table(board)
    assert shown.loc[(NOTEBOOKS[0], "default", "standard"), "udpos"] == ""  # no such task in that run: blank
    assert shown.loc[(NOTEBOOKS[0], "default", "standard"), "score (mean over groups) [95% CI]"].startswith("72.0 [")


# -- each notebook's tables --------------------------------------------------------------------------------------


def test_half_width_table_gives_the_interval_and_its_verdict():
    gains = pd.DataFrame({"task": ["t", "t", "t"], "lang": ["avg"] * 3, "method": ["a-b", "c-b", "d-b"],
                          "split": ["test"] * 3, "metric": ["accuracy"] * 3, "n": [3, 3, 1], "mean": [0.05, 0.01, 0.02],
                          "std": [0, 0, None], "ci_low": [0.02, -0.01, None], "ci_high": [0.08, 0.03, None],
                          "half_width": [0.03, 0.02, None]})
    table = tables.half_width_table(gains)
    assert table["half-width"].tolist() == ["3.0", "2.0", ""]
    assert table.verdict.tolist() == ["beyond seed noise", "no significant difference", "one seed, no interval"]
    assert table["gain (points) [95% CI]"].iloc[0] == "+5.0 [+2.0, +8.0]"


def test_notebook_01_tables_with_and_without_the_ladder_and_the_control():
    records = baseline_records()
    named = tables.baseline_tables(records, rungs=LADDER)
    assert list(named) == ["test accuracy per language (points [95% CI])",
                           "gap standard - scratch per language (points [95% CI])",
                           "gap standard - scratch, macro averages",
                           "generalized setting, macro average over language pairs (points [95% CI])",
                           "acceptance checks of the embedded world"]
    gap = named["gap standard - scratch per language (points [95% CI])"]
    assert gap.loc[("xnli", "standard-scratch"), "rlx"] == "+30.0 [+30.0, +30.0]"  # the same gap on every seed
    assert list(gap.columns) == ["en", "rlx", "adn", "avg"]
    assert set(named["gap standard - scratch, macro averages"].split) == {"test", "test_generalized"}
    without = tables.baseline_tables(records[records.method == "standard"], rungs=None)
    assert list(without) == ["test accuracy per language (points [95% CI])",
                             "generalized setting, macro average over language pairs (points [95% CI])"]


def test_notebook_02_tables_give_the_gains_under_attack():
    named = tables.robust_tables(robust_records())
    under = named["gain over standard, accuracy under PGD (points [95% CI])"]
    assert under.loc[("xnli", "at-standard"), "rlx"] == "+18.0 [+18.0, +18.0]"  # (0.78 - 0.1 - 0.2) - (0.8 - 0.1 - 0.4)
    assert "adn" not in under.columns  # at was not attacked on adn: no pair to take a gain from
    scores = named["accuracy under PGD per language (points [95% CI])"]
    assert scores.loc[("xnli", "at"), "adn"] == "" and scores.loc[("xnli", "standard"), "adn"] != ""
    overview = named["gains over standard, macro averages"]
    assert set(overview.metric) == {"accuracy", "accuracy_under_pgd"}


def test_notebook_03_tables_rebuild_the_groups_and_the_score():
    named = tables.xtreme_tables(xtreme_records(), rungs=LADDER)
    groups = named["task groups and the xtreme-r score (points [95% CI])"]
    assert list(groups.columns) == ["classification", "qa", "retrieval", "structured_prediction", "xtreme-r"]
    assert "QA: exact match and F1 (points [95% CI])" in named
    overview = named["gap standard - scratch, macro averages, groups and score"].set_index("task")
    assert overview.loc["xtreme-r", "gain (points) [95% CI]"] == "+30.0 [+30.0, +30.0]"
    bench = tables.benchmark_records(xtreme_records())
    assert set(bench.task) == {"classification", "structured_prediction", "qa", "retrieval", "xtreme-r"}
    assert len(bench) == 5 * 2 * 3 and set(bench.lang) == {"avg"}


def test_run_tables_uses_the_ladder_only_in_the_embedded_world():
    records = baseline_records()
    assert "acceptance checks of the embedded world" in tables.run_tables(NOTEBOOKS[0], records, {}, LADDER)
    assert "acceptance checks of the embedded world" not in tables.run_tables(NOTEBOOKS[0], records,
                                                                                {"world": "real"}, LADDER)
    assert tables.run_rungs(records, {"en": 0, "rlx": 1}) is None  # adn is not on that ladder
    assert list(tables.run_tables("04_new", records, {}, LADDER)) == [
        "headline score per task and language (points [95% CI])"]
    assert tables.chance_levels(["xnli", "pawsx", "udpos"]) == {"xnli": pytest.approx(1 / 3), "pawsx": 0.5}


def test_save_tables_writes_each_table_and_drops_stale_ones(tmp_path):
    (tmp_path / "09_old.csv").write_text("stale\n")
    named = tables.robust_tables(robust_records())
    paths = tables.save_tables(tmp_path, named)
    assert [p.name for p in paths][:2] == ["01_clean-accuracy-per-language.csv",
                                           "02_gain-over-standard-clean-accuracy.csv"]
    assert sorted(tmp_path.glob("*.csv")) == sorted(paths)
    assert pd.read_csv(paths[0]).shape[0] == 2  # at and standard on xnli


def test_each_notebooks_figure_is_drawn_from_records_with_missing_cells():
    import matplotlib.pyplot as plt

    sparse = baseline_records()
    sparse = sparse[~((sparse.method == "scratch") & (sparse.lang == "adn"))]
    for notebook, records in [(NOTEBOOKS[0], sparse), (NOTEBOOKS[1], robust_records()),
                              (NOTEBOOKS[2], xtreme_records())]:
        fig = tables.run_figure(notebook, records, {}, LADDER)
        assert fig is not None and fig.axes, notebook
        plt.close(fig)
    assert tables.run_figure("04_new", sparse, {}, LADDER) is None
    assert tables.run_figure(NOTEBOOKS[1], robust_records().query("method == 'at'"), {}, LADDER) is None


# -- the notebook ------------------------------------------------------------------------------------------------


def _execute(tmp_path, runs_glob):
    out = tmp_path / "tables.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"runs_glob": runs_glob,
                                                                    "output_dir": str(tmp_path / "run")},
                               kernel_name="python3", progress_bar=False, cwd=str(ROOT))
    executed = json.loads(out.read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in executed["cells"]
                   for o in c.get("outputs", []))
    return executed, text


def test_the_notebook_rebuilds_every_table_from_a_metrics_tree(tree, tmp_path):
    executed, text = _execute(tmp_path, str(tree / "*" / "default" / "metrics.csv"))
    assert "Not finished (read as they stand): `02_robust_training/default` (no run.json)" in text
    board = pd.read_csv(tmp_path / "run" / "leaderboard.csv")
    assert len(board) == 6 and set(board.notebook) == set(NOTEBOOKS)
    written = {p.parent.parent.name for p in (tmp_path / "run" / "tables").glob("*/*/*.csv")}
    assert written == set(NOTEBOOKS)
    images = [o for c in executed["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3  # one figure per notebook's run


def test_the_notebook_ends_cleanly_without_any_metrics(tmp_path):
    _, text = _execute(tmp_path, str(tmp_path / "nothing" / "*" / "metrics.csv"))
    assert "No metrics found under" in text
    assert pd.read_csv(tmp_path / "run" / "leaderboard.csv").empty


def test_project_root_is_the_checkout_from_any_working_directory(tmp_path, monkeypatch):
    """nbval runs a notebook in its own folder (.cache/smoke/): the tables notebook's relative glob and its list of
    notebooks must still be the checkout's."""
    from xltlib.core.paths import project_root

    monkeypatch.delenv("XLT_PROJECT_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert project_root() == ROOT
