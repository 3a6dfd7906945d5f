"""Ranking a large candidate pool: the full sort of each query's similarities against the top-k partition
`tasks.embeddings.rank_candidates` uses when k is below the pool size (Mewsli-X ranks a million entities for
mAP@20), measured side by side in one run on random unit vectors, with the two rankings checked equal.

Run: `make bench` (or `python benchmarks/ranking.py [--pool N] [--queries Q] [--repeats R]`).
Writes outputs/bench/ranking.json. Absolute times on a shared machine are noisy; the ratio is the result.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from xltlib.core.atomic import atomic_write_json
from xltlib.core.paths import outputs_dir
from xltlib.tasks.embeddings import rank_candidates


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    pool = rng.normal(size=(args.pool, args.dim)).astype(np.float32)
    full_sort = lambda: rank_candidates(queries, pool)[:, :args.k]  # noqa: E731
    top_k = lambda: rank_candidates(queries, pool, k=args.k)  # noqa: E731
    np.testing.assert_array_equal(full_sort(), top_k())
    times = {"full_sort": [], "top_k": []}
    for _ in range(args.repeats):  # interleaved, so a busy neighbour slows both alike
        times["full_sort"].append(seconds(full_sort))
        times["top_k"].append(seconds(top_k))
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {"pool": args.pool, "queries": args.queries, "dim": args.dim, "k": args.k, "repeats": args.repeats,
              "median_seconds": medians, "speedup_top_k": medians["full_sort"] / medians["top_k"],
              "machine": platform.platform(), "numpy": np.__version__}
    path = outputs_dir() / "bench" / "ranking.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
