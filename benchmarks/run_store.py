"""The run store's hit rate: how many of the fine-tuning runs that the notebooks asked for were read back from the
shared store (`outputs/store/`) rather than run (hits), and how many more were only evaluated, on a model another
notebook had trained (trained hits), and the optimizer steps of shared warm-ups that runs started from instead of
training them (`warmup_hits`; `warmup_sharing.py` counts them for notebook 02's plan without running it), per
notebook run, from each run's `store.json`. Run it after `make reproduce`; results to outputs/bench/run_store.json."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs", help="the outputs folder to sum over")
    args = parser.parse_args()
    rows = []
    for path in sorted(args.outputs.glob("*/*/store.json")):
        record = json.loads(path.read_text())
        rows.append({"run": f"{path.parent.parent.name}/{path.parent.name}", "hits": len(record["hits"]),
                     "trained_hits": len(record.get("trained_hits", [])), "misses": len(record["misses"]),
                     "warmup_steps_saved": sum(hit["steps"] for hit in record.get("warmup_hits", []))})
    if not rows:
        print("no outputs/*/*/store.json: run `make reproduce` first", file=sys.stderr)
        return 2
    hits, asked = sum(r["hits"] for r in rows), sum(r["hits"] + r["misses"] for r in rows)
    trained = sum(r["trained_hits"] for r in rows)
    warmup_steps = sum(r["warmup_steps_saved"] for r in rows)
    for r in rows:
        print(f"{r['run']:<40} {r['hits']:>4} hits, {r['trained_hits']:>4} trained hits of {r['hits'] + r['misses']:>4}"
              f", {r['warmup_steps_saved']:>6} warm-up steps saved")
    print(f"{'all':<40} {hits:>4} hits, {trained:>4} trained hits of {asked:>4} "
          f"({100 * hits / asked:.1f}% read back, {100 * (hits + trained) / asked:.1f}% not trained), "
          f"{warmup_steps} warm-up steps saved")
    out = args.outputs / "bench" / "run_store.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": rows, "hits": hits, "trained_hits": trained, "asked": asked,
                               "hit_rate": hits / asked, "not_trained_rate": (hits + trained) / asked,
                               "warmup_steps_saved": warmup_steps}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
