"""Are two runs' results the same? Compares each notebook's `metrics.csv` under two outputs folders, row by row.

A refactor must not change a number: run `make reproduce` before and after (two clones), then
    python benchmarks/compare_metrics.py BEFORE/outputs AFTER/outputs [--run default]
Rows are matched on (task, lang, method, seed, split, metric), in any order; values must be equal (exactly, or
within --atol). Prints a line per notebook and writes outputs/bench/compare_metrics.json; exits 1 on a difference.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

KEY = ["task", "lang", "method", "seed", "split", "metric"]


def compare(before: Path, after: Path, atol: float = 0.0) -> dict:
    a, b = pd.read_csv(before, keep_default_na=False), pd.read_csv(after, keep_default_na=False)
    for df in (a, b):
        df["value"] = pd.to_numeric(df["value"].replace("", "nan"))
    merged = a.merge(b, on=KEY, how="outer", suffixes=("_before", "_after"), indicator=True)
    only_before = merged[merged._merge == "left_only"]
    only_after = merged[merged._merge == "right_only"]
    both = merged[merged._merge == "both"]
    same = (both.value_before - both.value_after).abs().le(atol) | (both.value_before.isna() & both.value_after.isna())
    differing = both[~same]
    return {"before": str(before), "after": str(after), "rows_before": len(a), "rows_after": len(b),
            "only_before": len(only_before), "only_after": len(only_after), "different": len(differing),
            "max_abs_difference": float((both.value_before - both.value_after).abs().max()) if len(both) else 0.0,
            "examples": differing.head(5)[KEY + ["value_before", "value_after"]].to_dict(orient="records")
            + only_before.head(3)[KEY].to_dict(orient="records") + only_after.head(3)[KEY].to_dict(orient="records")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="an outputs/ folder (the reference)")
    parser.add_argument("after", type=Path, help="an outputs/ folder to check against it")
    parser.add_argument("--run", default="default", help="the run name under outputs/<notebook>/ (default: default)")
    parser.add_argument("--atol", type=float, default=0.0, help="largest allowed absolute difference (default 0)")
    parser.add_argument("--json", type=Path, default=Path("outputs/bench/compare_metrics.json"))
    args = parser.parse_args(argv)
    results, ok = [], True
    notebooks = sorted(p.parent.parent.name for p in args.before.glob(f"*/{args.run}/metrics.csv"))
    if not notebooks:
        print(f"{args.before}: no */{args.run}/metrics.csv", file=sys.stderr)
        return 2
    for notebook in notebooks:
        after = args.after / notebook / args.run / "metrics.csv"
        if not after.is_file():
            print(f"{notebook}: {after} missing")
            ok = False
            continue
        r = {"notebook": notebook, **compare(args.before / notebook / args.run / "metrics.csv", after, args.atol)}
        same = r["only_before"] == r["only_after"] == r["different"] == 0
        ok &= same
        print(f"{notebook}: {r['rows_before']} rows before, {r['rows_after']} after; {r['only_before']} only before, "
              f"{r['only_after']} only after, {r['different']} different -> {'identical' if same else 'DIFFERENT'}")
        for example in r["examples"]:
            print(f"    {example}")
        results.append(r)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
