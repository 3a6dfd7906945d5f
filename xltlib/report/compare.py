"""Comparisons between methods, and the words a notebook says about them.

Gains are paired by seed (method minus baseline, same seed, same task and language) and then summarized
with `results.summarize`, so a gain's interval reflects seed noise in the difference itself. Sentences are
generated from the numbers, so a notebook never states more than its own results show.
"""
from __future__ import annotations

import pandas as pd

from .results import summarize

KEYS = ["task", "lang", "seed", "split", "metric"]


def paired_gain(records: pd.DataFrame, method: str, baseline: str) -> pd.DataFrame:
    """Long records of `method` minus `baseline`, seed by seed; method is named `"<method>-<baseline>"`."""
    a = records[records.method == method].set_index(KEYS)["value"]
    b = records[records.method == baseline].set_index(KEYS)["value"]
    diff = (a - b).dropna().rename("value").reset_index()
    diff["method"] = f"{method}-{baseline}"
    return diff[["task", "lang", "method", "seed", "split", "metric", "value"]]


def interval_table(summary: pd.DataFrame, split: str = "test", index=("task", "method"), columns: str = "lang",
                   scale: float = 100.0, order=None) -> pd.DataFrame:
    """A readable table: `mean [low, high]` per cell (scaled to points by default)."""
    data = summary[summary.split == split].copy()

    def cell(row):
        if pd.isna(row.ci_low):
            return f"{scale * row['mean']:.1f}"
        return f"{scale * row['mean']:.1f} [{scale * row.ci_low:.1f}, {scale * row.ci_high:.1f}]"

    data["cell"] = data.apply(cell, axis=1)
    table = data.pivot_table(index=list(index), columns=columns, values="cell", aggfunc="first")
    if order is not None:
        table = table[[c for c in order if c in table.columns]]
    return table


def ladder_steps(records: pd.DataFrame, rungs: dict[str, int], method: str = "standard",
                 split: str = "test") -> pd.DataFrame:
    """Seed by seed, the change of the mean test score over a rung's languages from one rung to the next,
    summarized over seeds: one row per task and step (lang `"r->r+1"`), with its 95% interval."""
    data = records[(records.method == method) & (records.split == split) & records.lang.isin(rungs)]
    by_rung = (data.assign(rung=data.lang.map(rungs)).groupby(["task", "metric", "seed", "rung"])["value"]
               .mean().reset_index().sort_values("rung"))
    steps = []
    for (task, metric, seed), group in by_rung.groupby(["task", "metric", "seed"]):
        values = group.set_index("rung")["value"]
        for lower, upper in zip(values.index[:-1], values.index[1:]):
            steps.append({"task": task, "lang": f"{lower}->{upper}", "method": method, "seed": seed,
                          "split": split, "metric": metric, "value": values[upper] - values[lower]})
    return summarize(pd.DataFrame(steps))


def world_acceptance(summary: pd.DataFrame, gain_summary: pd.DataFrame, rungs: dict[str, int],
                     records: pd.DataFrame, near_rungs=(1, 2), min_english: float = 0.85,
                     min_gap: float = 0.10) -> pd.DataFrame:
    """The embedded world's acceptance criteria, one row per check.

    English test accuracy of each pair task >= `min_english`; each language on the near rungs beats the
    from-scratch control by >= `min_gap` (mean of the paired gain); accuracy falls with distance: the mean
    over a rung's languages never rises from one rung to the next beyond seed noise (no step's 95% interval,
    paired by seed, lies above zero). Two rungs at the chance floor differ by noise only, which a fixed
    threshold would count as a rise."""
    rows = []
    test = summary[(summary.split == "test") & (summary.method == "standard")]
    steps = ladder_steps(records, rungs)
    for task, group in test.groupby("task"):
        en = group[group.lang == "en"].iloc[0]
        rows.append({"check": "English accuracy >= %.0f%%" % (100 * min_english), "task": task, "lang": "en",
                     "value": en["mean"], "ci_low": en.ci_low, "ci_high": en.ci_high,
                     "passed": bool(en["mean"] >= min_english)})
        gains = gain_summary[(gain_summary.task == task) & (gain_summary.split == "test")]
        for lang, rung in rungs.items():
            if rung in near_rungs:
                g = gains[gains.lang == lang]
                if g.empty:
                    continue
                g = g.iloc[0]
                rows.append({"check": "gap over scratch >= %.0f points" % (100 * min_gap), "task": task,
                             "lang": lang, "value": g["mean"], "ci_low": g.ci_low, "ci_high": g.ci_high,
                             "passed": bool(g["mean"] >= min_gap)})
        by_rung = (group[group.lang.isin(rungs)].assign(rung=lambda d: d.lang.map(rungs))
                   .groupby("rung")["mean"].mean().sort_index())
        task_steps = steps[steps.task == task]
        rises = task_steps[task_steps.ci_low > 0].lang.tolist()
        rows.append({"check": "accuracy falls along the ladder", "task": task, "lang": "rungs " + "-".join(
            map(str, by_rung.index)), "value": " -> ".join(f"{v:.2f}" for v in by_rung)
            + (f" (rises beyond seed noise: {', '.join(rises)})" if rises else ""),
            "ci_low": None, "ci_high": None, "passed": not rises})
    return pd.DataFrame(rows)


def describe_gains(gain_summary: pd.DataFrame, split: str = "test", what: str = "the gain") -> str:
    """One sentence per task: where the gain's 95% interval excludes zero, and where it does not."""
    lines = []
    data = gain_summary[(gain_summary.split == split) & (gain_summary.lang != "avg")]
    for (task, method), group in data.groupby(["task", "method"]):
        above = group[group.ci_low > 0].lang.tolist()
        below = group[group.ci_high < 0].lang.tolist()
        unclear = group[~group.lang.isin(above + below)].lang.tolist()
        parts = []
        if above:
            parts.append(f"positive beyond seed noise in {', '.join(above)}")
        if below:
            parts.append(f"negative beyond seed noise in {', '.join(below)}")
        if unclear:
            parts.append(f"no significant difference in {', '.join(unclear)}")
        avg = gain_summary[(gain_summary.task == task) & (gain_summary.method == method)
                           & (gain_summary.split == split) & (gain_summary.lang == "avg")]
        avg_text = ""
        if not avg.empty:
            a = avg.iloc[0]
            avg_text = f" (average over languages {100 * a['mean']:+.1f} points"
            if pd.notna(a.ci_low):
                half = (a.ci_high - a.ci_low) / 2
                power = "" if half <= POWER_TARGET else f": too wide to see a {100 * POWER_TARGET:.0f}-point effect"
                avg_text += (f", 95% CI [{100 * a.ci_low:+.1f}, {100 * a.ci_high:+.1f}], half-width "
                             f"{100 * half:.1f} points{power})")
            else:
                avg_text += ")"
        lines.append(f"- **{task}**, {what} (`{method}`): " + "; ".join(parts) + avg_text + ".")
    return "\n".join(lines)


def describe_contrast(records: pd.DataFrame, lang: str, reference: str, method: str = "standard",
                      baseline: str = "scratch", split: str = "test") -> str:
    """One sentence per task: the gap `method - baseline` in `lang` and in `reference`, and their difference
    paired by seed (e.g. a low-resource language against the language of the same grammar with full data)."""
    gains = paired_gain(records[records.split == split], method, baseline)
    lines = []
    for (task, metric), group in gains.groupby(["task", "metric"]):
        by_lang = group.pivot_table(index="seed", columns="lang", values="value")
        if lang not in by_lang or reference not in by_lang:
            continue
        diff = (by_lang[lang] - by_lang[reference]).dropna()
        d = summarize(pd.DataFrame({"task": task, "lang": lang, "method": method, "split": split,
                                    "metric": metric, "seed": diff.index, "value": diff.values})).iloc[0]
        verdict = ("no interval (one seed)" if pd.isna(d.ci_low) else
                   "beyond seed noise" if d.ci_low > 0 or d.ci_high < 0 else "no significant difference")
        interval = "" if pd.isna(d.ci_low) else f", 95% CI [{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}]"
        lines.append(f"- **{task}**: gap over `{baseline}` {100 * by_lang[lang].mean():+.1f} points in `{lang}`, "
                     f"{100 * by_lang[reference].mean():+.1f} in `{reference}`; difference {100 * d['mean']:+.1f} "
                     f"points{interval}: {verdict}.")
    return "\n".join(lines)


POWER_TARGET = 0.02  # the half-width a comparison needs to see a 2-point effect (the papers' effects are 1-2 points)


def gain_summary(records: pd.DataFrame, method: str, baseline: str) -> pd.DataFrame:
    """Summarize the paired gain (with its macro average over languages); `half_width` is the 95% interval's."""
    from .results import macro_average

    out = summarize(macro_average(paired_gain(records, method, baseline)))
    out["half_width"] = (out["ci_high"] - out["ci_low"]) / 2
    return out


# -- the closing summaries of the notebooks ("What the numbers show") ----------------------------------


def describe_macro_averages(summary: pd.DataFrame, split: str = "test") -> str:
    """One bullet per task and method: its macro average over languages (rows with lang `"avg"`, from
    `results.macro_average`) in points, and over how many seeds (notebook 01)."""
    avg = summary[(summary.lang == "avg") & (summary.split == split)]
    return "\n".join(f"- **{r.task}**, `{r.method}`: macro-average {r.metric} {100 * r['mean']:.1f} points over "
                     f"{int(r.n)} seed(s)." for _, r in avg.iterrows())


def describe_task_averages(summary: pd.DataFrame, split: str = "test") -> str:
    """One bullet per task and method: its headline metric averaged over languages in points, and over how
    many seeds (notebook 03)."""
    avg = summary[(summary.lang == "avg") & (summary.split == split)]
    return "\n".join(f"- **{r.task}** ({r.metric}), `{r.method}`: {100 * r['mean']:.1f} points averaged over "
                     f"languages, {int(r.n)} seed(s)." for _, r in avg.iterrows())


def describe_acceptance(acceptance: pd.DataFrame) -> str:
    """How many of `world_acceptance`'s checks pass, pointing at the failing rows if any do not."""
    passed = bool(acceptance.passed.all())
    return (f"Acceptance checks of the embedded world: **{int(acceptance.passed.sum())} of {len(acceptance)} pass**"
            + ("." if passed else "; the failing rows are listed above."))


def gain_views(attack_metrics=()) -> list[tuple[str, str, str]]:
    """(split, metric, what the sentence calls it) for each gain notebook 02 sums up: clean accuracy, the
    generalized setting, then accuracy under each attack (`accuracy_under_<attack>`)."""
    return [("test", "accuracy", "clean accuracy"), ("test_generalized", "accuracy", "generalized setting"),
            *[("test", m, m.replace("_", " ")) for m in attack_metrics]]


def describe_gain_verdicts(gains: pd.DataFrame, views=None) -> str:
    """One bullet per view (`gain_views`), task and method: the macro-average gain (rows of `gain_summary`,
    lang `"avg"`) in points with its 95% interval, "beyond seed noise" when the interval excludes zero, else
    "no significant difference" (one seed: no interval, no verdict). The interval's half-width is stated, and a
    null verdict says when it is wider than a 2-point effect (`POWER_TARGET`)."""
    lines = []
    for split, metric, what in (gain_views() if views is None else views):
        rows = gains[(gains.metric == metric) & (gains.split == split) & (gains.lang == "avg")]
        for _, r in rows.iterrows():
            head = f"- **{r.task}**, `{r.method}`, {what} (macro average): {100 * r['mean']:+.1f} points"
            if pd.isna(r.ci_low):
                lines.append(head + ", one seed, no interval.")
                continue
            verdict = "beyond seed noise" if r.ci_low > 0 or r.ci_high < 0 else "no significant difference"
            half = (r.ci_high - r.ci_low) / 2
            if verdict != "beyond seed noise" and half > POWER_TARGET:
                verdict += f", and the design could not have seen a {100 * POWER_TARGET:.0f}-point effect"
            lines.append(head + f", 95% CI [{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}] (half-width "
                                f"{100 * half:.1f}): {verdict}.")
    return "\n".join(lines)


def describe_step_costs(step_costs: pd.DataFrame) -> str:
    """Each method's cost per training step relative to `standard` (rows of `step_cost_table`)."""
    return "Cost per step relative to `standard`: " + ", ".join(
        f"`{r.method}` {r.ratio_to_standard:.2f}x" for r in step_costs.itertuples()) + "."
