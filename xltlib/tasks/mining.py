"""Bitext mining with the ratio margin (Artetxe & Schwenk, ACL 2019), as XTREME scores BUCC 2018.

A pair's cosine similarity is divided by the mean similarity of both sentences to their k nearest neighbours
on the other side, so a "hub" sentence that is close to everything no longer wins every search. Candidates come
from both directions (each source's best target and each target's best source, "max" retrieval) and are kept
greedily from the highest score down while neither side is taken yet; the dev split then picks the threshold
(`xltlib.metrics_xtreme.bucc_best_threshold`). k = 4, as in LASER's and XTREME's mining.
"""
from __future__ import annotations

import numpy as np

NEIGHBOURHOOD = 4


def _normalized(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _top_k(similarity: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k largest values, best first (stable for ties)."""
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def ratio_margin_pairs(sources: np.ndarray, targets: np.ndarray, k: int = NEIGHBOURHOOD,
                       threshold: float = 0.0) -> list[tuple[int, int, float]]:
    """Mined (source index, target index, margin score) triples, best first; a sentence is in at most one pair
    and a pair is kept only above `threshold` (0, as in XTREME's candidate mining)."""
    if len(sources) == 0 or len(targets) == 0:
        return []
    x, y = _normalized(sources), _normalized(targets)
    similarity = x @ y.T
    forward = _top_k(similarity, min(k, len(y)))  # each source's nearest targets
    backward = _top_k(similarity.T, min(k, len(x)))  # each target's nearest sources
    forward_mean = np.take_along_axis(similarity, forward, 1).mean(1)
    backward_mean = np.take_along_axis(similarity.T, backward, 1).mean(1)
    margin = similarity / ((forward_mean[:, None] + backward_mean[None, :]) / 2)

    candidates = []
    for i, neighbours in enumerate(forward):
        j = neighbours[np.argmax(margin[i, neighbours])]
        candidates.append((i, int(j), float(margin[i, j])))
    for j, neighbours in enumerate(backward):
        i = neighbours[np.argmax(margin[neighbours, j])]
        candidates.append((int(i), j, float(margin[i, j])))
    mined, seen_sources, seen_targets = [], set(), set()
    for i, j, score in sorted(candidates, key=lambda c: -c[2]):  # stable: forward before backward on ties
        if i in seen_sources or j in seen_targets:
            continue
        seen_sources.add(i)
        seen_targets.add(j)
        if score > threshold:
            mined.append((i, j, score))
    return mined
