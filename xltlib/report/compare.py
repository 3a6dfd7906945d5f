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


SCORE_BOUNDS = (0.0, 1.0)  # a score (accuracy, F1, mAP) as a fraction
GAIN_BOUNDS = (-1.0, 1.0)  # a difference of two scores


def points(summary: pd.DataFrame, bounds=SCORE_BOUNDS, scale: float = 100.0) -> pd.DataFrame:
    """`summarize` rows with mean and interval in points, the interval clipped to the metric's range (`bounds`,
    in the metric's own units): a t-interval over two seeds can run past 100, which no score can."""
    low, high = bounds
    return summary.assign(mean=scale * summary["mean"], ci_low=scale * summary["ci_low"].clip(low, high),
                          ci_high=scale * summary["ci_high"].clip(low, high))


def beyond_noise(summary: pd.DataFrame) -> pd.Series:
    """Per row of `summarize`: whether its 95% interval excludes zero (no interval, one seed: False)."""
    return (summary["ci_low"] > 0) | (summary["ci_high"] < 0)


def format_number(value, digits: int = 1, signed: bool = False) -> str:
    """`value` rounded to `digits`, never "-0.0" (a negative that rounds to zero is zero); blank when missing."""
    if value is None or pd.isna(value):
        return ""
    rounded = round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:{'+' if signed and rounded != 0 else ''}.{digits}f}"


def interval_cell(mean, low=None, high=None, signed: bool = False) -> str:
    """`mean [low, high]` (already in points); the mean alone without an interval; blank without a mean."""
    if mean is None or pd.isna(mean):
        return ""
    text = format_number(mean, signed=signed)
    if low is not None and high is not None and pd.notna(low) and pd.notna(high):
        text += f" [{format_number(low, signed=signed)}, {format_number(high, signed=signed)}]"
    return text


def gain_interval(low, high) -> str:
    """A gain's interval (fractions) as sentences give it: `[-1.2, +3.4]` in points, clipped to -100..100."""
    low, high = (100 * min(max(v, GAIN_BOUNDS[0]), GAIN_BOUNDS[1]) for v in (low, high))
    return f"[{format_number(low, signed=True)}, {format_number(high, signed=True)}]"


def interval_table(summary: pd.DataFrame, split: str = "test", index=("task", "method"), columns: str = "lang",
                   scale: float = 100.0, order=None, bounds=SCORE_BOUNDS, signed: bool = False) -> pd.DataFrame:
    """A readable table: `mean [low, high]` per cell in points (`scale`), the interval clipped to `bounds` (the
    metric's range in its own units); a cell with no result is blank."""
    data = points(summary[summary.split == split], bounds, scale)
    data = data.assign(cell=[interval_cell(r["mean"], r.ci_low, r.ci_high, signed) for _, r in data.iterrows()])
    table = data.pivot_table(index=list(index), columns=columns, values="cell", aggfunc="first", fill_value="")
    if order is not None:
        table = table[[c for c in order if c in table.columns]]
    table.columns.name = columns
    return table.fillna("")


def gain_table(gains: pd.DataFrame, split: str = "test", index=("task", "method"), columns: str = "lang",
               order=None) -> pd.DataFrame:
    """`interval_table` of paired gains (rows of `gain_summary`): signed points, intervals clipped to -100..100."""
    return interval_table(gains, split=split, index=index, columns=columns, order=order, bounds=GAIN_BOUNDS,
                          signed=True)


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


def world_acceptance(summary: pd.DataFrame, gain_summary: pd.DataFrame | None, rungs: dict[str, int],
                     records: pd.DataFrame, near_rungs=(1, 2), min_english: float = 0.90,
                     min_gap: float = 0.15, chance: dict | None = None, max_from_chance: float = 0.10,
                     max_seed_sd: float = 0.015) -> pd.DataFrame:
    """The embedded world's acceptance criteria, one row per check (a check whose method did not run is left out).

    English test accuracy of each pair task >= `min_english`; each language on the near rungs beats the
    from-scratch control by >= `min_gap` (mean of the paired gain); the hypothesis-only control (sentence 2 alone)
    within `max_from_chance` of chance (`chance`: {task: chance accuracy}) in English, where a shortcut is easiest
    to learn; the standard deviation over fine-tuning seeds of the macro average <= `max_seed_sd`; and accuracy
    falls with distance: the mean over a rung's languages never rises from one rung to the next beyond seed noise
    (no step's 95% interval, paired by seed, lies above zero). Two rungs at the chance floor differ by noise only,
    which a fixed threshold would count as a rise. Values are fractions (`acceptance_table` shows them in points);
    `kind` says which range each row's value lives in (a score, a gain, a spread, or the ladder's rung means)."""
    rows = []
    test = summary[(summary.split == "test") & (summary.method == "standard")]
    steps = ladder_steps(records, rungs)
    for task, group in test.groupby("task"):
        en = group[group.lang == "en"].iloc[0]
        rows.append({"check": "English accuracy >= %.0f%%" % (100 * min_english), "task": task, "lang": "en",
                     "value": en["mean"], "ci_low": en.ci_low, "ci_high": en.ci_high, "kind": "score",
                     "passed": bool(en["mean"] >= min_english)})
        gains = (gain_summary[(gain_summary.task == task) & (gain_summary.split == "test")]
                 if gain_summary is not None else pd.DataFrame(columns=["lang"]))
        for lang, rung in rungs.items():
            if rung in near_rungs:
                g = gains[gains.lang == lang]
                if g.empty:
                    continue
                g = g.iloc[0]
                rows.append({"check": "gap over scratch >= %.0f points" % (100 * min_gap), "task": task,
                             "lang": lang, "value": g["mean"], "ci_low": g.ci_low, "ci_high": g.ci_high,
                             "kind": "gain", "passed": bool(g["mean"] >= min_gap)})
        control = summary[(summary.split == "test") & (summary.method == "hypothesis_only")
                          & (summary.task == task) & (summary.lang == "en")]
        if chance and task in chance and not control.empty:
            c = control.iloc[0]
            rows.append({"check": "hypothesis-only within %.0f points of chance (%.1f)"
                         % (100 * max_from_chance, 100 * chance[task]), "task": task, "lang": "en",
                         "value": c["mean"], "ci_low": c.ci_low, "ci_high": c.ci_high, "kind": "score",
                         "passed": bool(abs(c["mean"] - chance[task]) <= max_from_chance)})
        macro = records[(records.task == task) & (records.method == "standard") & (records.split == "test")
                        & (records.metric == "accuracy") & records.lang.isin(rungs)].groupby("seed")["value"].mean()
        if len(macro) >= 2:
            rows.append({"check": "seed s.d. of the macro average <= %.1f points" % (100 * max_seed_sd),
                         "task": task, "lang": "avg", "value": float(macro.std(ddof=1)), "ci_low": None,
                         "ci_high": None, "kind": "spread", "passed": bool(macro.std(ddof=1) <= max_seed_sd)})
        by_rung = (group[group.lang.isin(rungs)].assign(rung=lambda d: d.lang.map(rungs))
                   .groupby("rung")["mean"].mean().sort_index())
        task_steps = steps[steps.task == task]
        rises = task_steps[task_steps.ci_low > 0].lang.tolist()
        rows.append({"check": "accuracy falls along the ladder", "task": task, "lang": "rungs " + "-".join(
            map(str, by_rung.index)), "value": " -> ".join(format_number(100 * v) for v in by_rung)
            + (f" (rises beyond seed noise: {', '.join(rises)})" if rises else ""),
            "ci_low": None, "ci_high": None, "kind": "ladder", "passed": not rises})
    return pd.DataFrame(rows)


def acceptance_table(acceptance: pd.DataFrame) -> pd.DataFrame:
    """`world_acceptance`'s rows as a reader sees them: each value in points with its 95% interval, clipped to
    the range of its kind (a score 0-100, a gain -100..100); the ladder row's rung means are already points."""
    def shown(row) -> str:
        if row.kind == "ladder":
            return row.value
        if row.kind == "spread":
            return format_number(100 * row.value)
        low, high = SCORE_BOUNDS if row.kind == "score" else GAIN_BOUNDS
        clip = (lambda v: None if v is None or pd.isna(v) else 100 * min(max(v, low), high))
        return interval_cell(100 * row.value, clip(row.ci_low), clip(row.ci_high), signed=row.kind == "gain")

    return pd.DataFrame({"check": acceptance.check, "task": acceptance.task, "lang": acceptance.lang,
                         "value (points, 95% CI)": [shown(r) for r in acceptance.itertuples()],
                         "passed": acceptance.passed})


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
                avg_text += (f", 95% CI {gain_interval(a.ci_low, a.ci_high)}, half-width "
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
        interval = "" if pd.isna(d.ci_low) else f", 95% CI {gain_interval(d.ci_low, d.ci_high)}"
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
            lines.append(head + f", 95% CI {gain_interval(r.ci_low, r.ci_high)} (half-width "
                                f"{100 * half:.1f}): {verdict}.")
    return "\n".join(lines)


def gain_rows(gains: pd.DataFrame, views=None) -> pd.DataFrame:
    """The macro-average gains (lang `"avg"`) of each view (`gain_views`) as rows with a `view` column (what the
    view is called), in the views' order: what the forest plot and `describe_gain_overview` sum up."""
    frames = [gains[(gains.split == split) & (gains.metric == metric) & (gains.lang == "avg")].assign(view=what)
              for split, metric, what in (gain_views() if views is None else views)]
    rows = pd.concat(frames, ignore_index=True) if frames else gains.iloc[:0].assign(view="")
    return rows.reset_index(drop=True)


def describe_gain_overview(gains: pd.DataFrame, views=None) -> str:
    """A few lines beside the forest plot (`plots.gain_forest`): how many macro-average gains (`gain_rows`) differ
    from the baseline beyond seed noise, those named with their intervals (one line per view), and the range of
    the intervals' half-widths (`gain_summary`'s `half_width`) against the 2-point effect a comparison should
    be able to see (`POWER_TARGET`)."""
    rows = gain_rows(gains, views)
    if rows.empty:
        return "No gains to sum up."
    found = points(rows[beyond_noise(rows)], GAIN_BOUNDS)
    head = (f"**{len(found)} of {len(rows)}** macro-average gains differ from the baseline beyond seed noise"
            + (":" if len(found) else "."))
    named = "\n".join(f"- {view}: " + "; ".join(
        f"`{r.method}` on {r.task} {interval_cell(r['mean'], r.ci_low, r.ci_high, signed=True)}"
        for _, r in group.iterrows()) + " points." for view, group in found.groupby("view", sort=False))
    half = ((rows.ci_high - rows.ci_low) / 2).dropna()  # gain_summary's half_width
    if half.empty:
        widths = "One seed: no intervals, so no difference can be told from seed noise."
    else:
        wide = int((half > POWER_TARGET).sum())
        widths = (f"Half-widths of the 95% intervals: {format_number(100 * half.min())} to "
                  f"{format_number(100 * half.max())} points (median {format_number(100 * half.median())}); "
                  f"{wide} of {len(half)} are wider than {100 * POWER_TARGET:.0f} points, where a "
                  f"{100 * POWER_TARGET:.0f}-point effect could go unseen."
                  + _one_seed_note(len(rows) - len(half)))
    return "\n\n".join(part for part in (head, named, widths) if part)  # blank lines: the list ends before


def _one_seed_note(count: int) -> str:
    return "" if not count else f" {count} {'has' if count == 1 else 'have'} one seed and no interval."


def describe_attack_rows(cfg) -> str:
    """Which test rows the clean scores and the attacks of a run used, from its config (a `RunConfig`, per-task
    settings included): clean scores on the first `max_eval_samples` rows of each language's test set, the
    attacks on the first `max_robustness_samples` of those, so a caption never claims the same rows when they
    are not."""
    def rows(n) -> str:
        return "every test row" if n is None else f"the first {n} test rows"

    phrases = {}
    for task in cfg.tasks:
        task_cfg = cfg.for_task(task)
        clean, attacked = task_cfg.max_eval_samples, task_cfg.max_robustness_samples
        if attacked is None or (clean is not None and attacked >= clean):
            phrase = f"the attacks and clean accuracy used the same rows: {rows(clean)} of each language"
        else:
            phrase = (f"the attacks used {rows(attacked)} of each language (`max_robustness_samples`), clean "
                      f"accuracy {rows(clean)} (`max_eval_samples`): not the same rows")
        phrases.setdefault(phrase, []).append(task)
    if len(phrases) == 1:
        phrase = next(iter(phrases))
        return phrase[0].upper() + phrase[1:] + "."
    return " ".join(f"{', '.join(tasks)}: {phrase}." for phrase, tasks in phrases.items())


def describe_step_costs(step_costs: pd.DataFrame) -> str:
    """Each method's cost per training step relative to `standard` (rows of `step_cost_table`)."""
    return "Cost per step relative to `standard`: " + ", ".join(
        f"`{r.method}` {r.ratio_to_standard:.2f}x" for r in step_costs.itertuples()) + "."
