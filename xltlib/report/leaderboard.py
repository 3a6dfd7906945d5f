"""An XTREME-R-style leaderboard across runs (notebook 10), from long records alone: per run, method and seed, each
task's headline score averaged over its test languages, each task group the mean of its tasks present, and the
score the mean over groups (Ruder et al., EMNLP 2021, restricted to the tasks a run has, as `scorer.score_tasks`
scores them); then the mean over seeds, with the score's 95% interval. A task in no group of the benchmark
(PAWS-X in XTREME-R, BUCC) keeps its column and counts in no group.
"""
from __future__ import annotations

import pandas as pd

from ..core.errors import ConfigError
from ..tasks.benchmarks import BENCHMARKS
from ..tasks.spec import TaskGroup
from .compare import SCORE_BOUNDS, interval_cell, points
from .results import summarize
from .xtreme import OVERALL, headline_records

RUN_KEYS = ["notebook", "run", "method"]
SCORE = "score"  # the leaderboard's column of the mean over groups


def seed_scores(records: pd.DataFrame, xtreme_version: str = "xtreme-r") -> pd.DataFrame:
    """Per notebook, run, method and seed (records with `notebook` and `run` columns, as `runs.read_runs` gives):
    one row with each task's test macro average over languages, each group's mean over its tasks present, and
    `OVERALL`, the mean over groups (missing when no task of the run is in a group). Fractions, not points."""
    if xtreme_version not in BENCHMARKS:
        raise ConfigError(f"xtreme_version {xtreme_version!r}: unknown benchmark; expected one of "
                          f"{', '.join(BENCHMARKS)}")
    test = headline_records(records[records.split == "test"])
    test = test[test.lang != "avg"]
    keys = [*RUN_KEYS, "seed"]
    if test.empty:
        return pd.DataFrame(columns=keys)
    tasks = test.groupby([*keys, "task"])["value"].mean().unstack("task")
    groups = {TaskGroup(group).value: [t for t in members if t in tasks.columns]
              for group, members in BENCHMARKS[xtreme_version]["groups"].items()}
    scores = pd.DataFrame({group: tasks[members].mean(axis=1) for group, members in groups.items() if members},
                          index=tasks.index)
    scores[OVERALL] = scores.mean(axis=1) if len(scores.columns) else float("nan")
    return pd.concat([tasks, scores], axis=1).reset_index()


def leaderboard(records: pd.DataFrame, runs: pd.DataFrame | None = None, xtreme_version: str = "xtreme-r"):
    """One row per (notebook, run, method): the number of seeds, each task's and group's mean over seeds and the
    score (mean over groups) with its 95% t-interval over seeds, all in points; the run's world and status from
    `runs` (`runs.find_runs`) when given. Sorted by notebook and run, best score first within a run (a run's
    methods share its tasks, languages and budgets; different runs do not), with the rank within the run."""
    per_seed = seed_scores(records, xtreme_version)
    if per_seed.empty:
        return pd.DataFrame(columns=[*RUN_KEYS, "rank", "seeds", SCORE, "score_ci_low", "score_ci_high"])
    columns = [c for c in per_seed.columns if c not in (*RUN_KEYS, "seed")]
    means = 100 * per_seed.groupby(RUN_KEYS)[columns].mean()
    overall = per_seed[[*RUN_KEYS, "seed", OVERALL]].rename(columns={OVERALL: "value"})
    spread = points(summarize(overall, by=RUN_KEYS), SCORE_BOUNDS).set_index(RUN_KEYS)
    board = means.drop(columns=OVERALL).assign(
        seeds=per_seed.groupby(RUN_KEYS)["seed"].nunique(), **{SCORE: spread["mean"]},
        score_ci_low=spread.ci_low, score_ci_high=spread.ci_high).reset_index()
    if runs is not None and not runs.empty:
        board = board.merge(runs[["notebook", "run", "world", "status"]], on=["notebook", "run"], how="left")
    board = board.sort_values(["notebook", "run", SCORE], ascending=[True, True, False], na_position="last")
    board.insert(3, "rank", board.groupby(["notebook", "run"]).cumcount() + 1)
    front = [*RUN_KEYS, "rank", "seeds", *(c for c in ("world", "status") if c in board.columns), SCORE,
             "score_ci_low", "score_ci_high", *(g.value for g in TaskGroup if g.value in board.columns)]
    return board[front + sorted(c for c in board.columns if c not in front)].reset_index(drop=True)


def leaderboard_table(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as a reader sees it: scores to one decimal, the score with its interval
    (`mean [low, high]`), a blank where a run has no such task or group."""
    shown = board.drop(columns=["score_ci_low", "score_ci_high"]).copy()
    shown[SCORE] = [interval_cell(r[SCORE], r.score_ci_low, r.score_ci_high) for _, r in board.iterrows()]
    numeric = [c for c in shown.columns if c not in (*RUN_KEYS, "rank", "seeds", "world", "status", SCORE)]
    for column in numeric:
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    return shown.rename(columns={SCORE: "score (mean over groups) [95% CI]"}).set_index(["notebook", "run", "method"])
