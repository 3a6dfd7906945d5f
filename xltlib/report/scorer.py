"""Score predictions in the XTREME submission layout against gold labels in the same layout, computing what
google-research/xtreme's official `evaluate.py` computes, for `--xtreme-version xtreme` or `xtreme-r`.

The layout and each format's reading and scoring are `xltlib.tasks.submission`'s. Per language, each task's metrics (x100); per task their
average over its languages and its score (QA: (EM + F1) / 2; else F1, accuracy or mAP@20); per group the mean
of its tasks' scores; overall the mean over all tasks (the official `all_task`), plus the mean over groups.
A group (or the overall score) is reported only when all its tasks were scored, as officially. Groups are
named by `TaskGroup` (the official script's "tagging" is "structured_prediction" here).

Beyond the official script: bad input is a DataError naming the file and row (labels outside the task's
label set, answers absent from their context, mismatched ids or line counts); Mewsli-X's score is its
mAP@20 (the official script computes it but never takes it as the task's score); LAReQA is scored (mAP@20
on XQuAD-R's languages; the official script lists no languages for it) and counted in XTREME-R's retrieval
group as the XTREME-R paper does.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..core.atomic import atomic_write_text
from ..core.errors import ConfigError, DataError
from ..tasks.benchmarks import BENCHMARKS
from ..tasks.catalogue import TASKS
from ..tasks.metrics import headline
from ..tasks.spec import TaskGroup
from ..tasks.submission import FORMATS, submission_path

VERSIONS = tuple(BENCHMARKS)


# -- the whole folder ---------------------------------------------------------------------------------


def score_task(predictions_dir: Path, labels_dir: Path, task: str, langs) -> dict:
    """{metric: {lang: value}, 'avg_<metric>': ..., 'avg_metric': the task's score}, as the official script."""
    spec = TASKS[task]
    score_one = FORMATS[spec.submission_format].score
    per_metric: dict[str, dict[str, float]] = {}
    for lang in langs:
        pred_path, gold_path = submission_path(predictions_dir, spec, lang), submission_path(labels_dir, spec, lang)
        for path in (pred_path, gold_path):
            if not path.is_file():
                raise DataError(f"{path}: file not found; task {task!r} is scored on {', '.join(langs)}")
        for metric, value in score_one(pred_path, gold_path, spec, lang).items():
            per_metric.setdefault(metric, {})[lang] = value
    result: dict = dict(per_metric)
    averages = {m: sum(v.values()) / len(v) for m, v in per_metric.items()}
    result.update({f"avg_{m}": v for m, v in averages.items()})
    # The official order: QA (EM + F1) / 2, else F1, else accuracy; and mAP@20 for the retrieval rankings.
    result["avg_metric"] = headline(TASKS[task].metric, averages if len(averages) > 1 else averages.popitem()[1])
    return result


def score_submission(predictions_dir, labels_dir, xtreme_version: str = "xtreme") -> dict:
    """Score every task of `xtreme_version` whose folder is in both directories."""
    if xtreme_version not in BENCHMARKS:
        raise ConfigError(f"unknown XTREME version {xtreme_version!r}; allowed: {', '.join(VERSIONS)}")
    predictions_dir, labels_dir = Path(predictions_dir), Path(labels_dir)
    check_folders(predictions_dir, labels_dir)
    bench = BENCHMARKS[xtreme_version]
    tasks, missing = {}, []
    for task, langs in bench["tasks"].items():
        folder = TASKS[task].folder
        if (predictions_dir / folder).is_dir() and (labels_dir / folder).is_dir():
            tasks[task] = score_task(predictions_dir, labels_dir, task, langs)
        else:
            missing.append(task)
    groups = {}
    for group, members in bench["groups"].items():
        if all(t in tasks for t in members):
            groups[TaskGroup(group).value] = sum(tasks[t]["avg_metric"] for t in members) / len(members)
    complete = not missing
    return {
        "xtreme_version": xtreme_version,
        "overall": sum(t["avg_metric"] for t in tasks.values()) / len(tasks) if complete else None,
        "group_mean": sum(groups.values()) / len(groups) if complete else None,
        "groups": groups,
        "tasks": tasks,
        "missing_tasks": missing,
    }


def check_folders(predictions_dir, labels_dir) -> None:
    for what, directory in (("predictions", Path(predictions_dir)), ("labels", Path(labels_dir))):
        if not directory.is_dir():
            raise DataError(f"{directory}: {what} directory not found (absolute: {directory.resolve()})")


def score_tasks(predictions_dir, labels_dir, task_langs: dict, xtreme_version: str = "xtreme-r") -> dict:
    """Score the given tasks on the given languages (e.g. the embedded world's), grouped by `xtreme_version`'s
    groups restricted to the tasks given: each group the mean of its tasks here, overall the mean over groups."""
    if xtreme_version not in BENCHMARKS:
        raise ConfigError(f"unknown XTREME version {xtreme_version!r}; allowed: {', '.join(VERSIONS)}")
    tasks = {task: score_task(Path(predictions_dir), Path(labels_dir), task, langs)
             for task, langs in task_langs.items()}
    groups = {}
    for group, members in BENCHMARKS[xtreme_version]["groups"].items():
        present = [t for t in members if t in tasks]
        if present:
            groups[TaskGroup(group).value] = sum(tasks[t]["avg_metric"] for t in present) / len(present)
    return {"xtreme_version": xtreme_version, "group_mean": sum(groups.values()) / len(groups) if groups else None,
            "groups": groups, "tasks": tasks}


# -- the languages of a run -----------------------------------------------------------------------------


def run_task_langs(*folders) -> dict | None:
    """{task: languages} from the run that holds one of `folders` (e.g. outputs/<nb>/<run>/predictions/standard/
    seed1 or outputs/<nb>/<run>/labels): the test languages of its metrics.csv, in order. None outside a run."""
    import csv

    for folder in folders:
        for directory in (Path(folder).resolve(), *Path(folder).resolve().parents):
            metrics = directory / "metrics.csv"
            if metrics.is_file():
                task_langs: dict[str, list[str]] = {}
                with open(metrics, newline="", encoding="utf-8") as f:
                    for row in csv.DictReader(f):
                        langs = task_langs.setdefault(row["task"], []) if row.get("split") == "test" else None
                        if langs is not None and row["lang"] not in langs:
                            langs.append(row["lang"])
                return {task: tuple(langs) for task, langs in task_langs.items() if langs}
    return None


def present_tasks(predictions_dir, labels_dir) -> list[str]:
    """The tasks whose folder is in both directories."""
    return [t for t in TASKS if (Path(predictions_dir) / TASKS[t].folder).is_dir()
            and (Path(labels_dir) / TASKS[t].folder).is_dir()]


# -- the `xlt score` subcommand -----------------------------------------------------------------------


def add_score_command(subparsers) -> None:
    p = subparsers.add_parser(
        "score", help="score an XTREME-layout predictions folder against gold labels",
        description="Score <task>/test-<lang>.<ext> predictions against gold labels in the same layout. Languages: "
                    "--langs; else, for folders inside a run directory (outputs/<notebook>/<run>/predictions/"
                    "<method>/seed<N> and .../labels), the test languages of the run's metrics.csv, which is how "
                    "embedded-world submissions are scored; else the benchmark's own languages.")
    # XTREME's evaluate.py spells them --prediction_folder and --label_folder: both spellings work.
    p.add_argument("--predictions", "--prediction_folder", dest="predictions", required=True, metavar="DIR",
                   help="predictions: <task>/test-<lang>.<ext>")
    p.add_argument("--labels", "--label_folder", dest="labels", required=True, metavar="DIR",
                   help="gold labels in the same layout")
    p.add_argument("--xtreme-version", "--xtreme_version", dest="xtreme_version", default="xtreme",
                   choices=VERSIONS,
                   help="which benchmark's tasks, languages and groups (default: xtreme, as the official script)")
    p.add_argument("--langs", metavar="LANG,LANG",
                   help="score every task present in both folders on these languages (comma-separated)")
    p.add_argument("--output", metavar="FILE.json", help="also write the scores to this file")
    p.set_defaults(func=cmd_score)


def cmd_score(args) -> int:
    check_folders(args.predictions, args.labels)
    if args.langs:
        langs = tuple(lang.strip() for lang in args.langs.split(",") if lang.strip())
        if not langs:
            raise ConfigError(f"--langs {args.langs!r}: expected comma-separated language codes, e.g. en,de")
        task_langs = {task: langs for task in present_tasks(args.predictions, args.labels)}
    else:
        task_langs = run_task_langs(args.predictions, args.labels)
        if task_langs is not None:  # only the tasks this submission holds
            task_langs = {t: langs for t, langs in task_langs.items() if t in present_tasks(args.predictions,
                                                                                            args.labels)}
    if task_langs is not None and not task_langs:
        raise DataError(f"{args.predictions}, {args.labels}: no task folder (e.g. xnli/) is in both directories")
    if task_langs is None:
        scores = score_submission(args.predictions, args.labels, args.xtreme_version)
    else:
        scores = score_tasks(args.predictions, args.labels, task_langs, args.xtreme_version)
    text = json.dumps(scores, indent=2, ensure_ascii=False)
    if args.output:
        try:
            atomic_write_text(args.output, text + "\n")
        except OSError as e:
            raise ConfigError(f"--output {args.output}: cannot write the scores there: {e.strerror or e}") from None
    print(text)
    if scores.get("missing_tasks"):
        print(f"not scored (no folder in both directories): {', '.join(scores['missing_tasks'])}", file=sys.stderr)
    return 0
