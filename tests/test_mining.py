"""Ratio-margin mining (XTREME's BUCC candidates) on vectors whose scores are worked out by hand."""
import numpy as np
import pytest

from xltlib.tasks.mining import ratio_margin_pairs


def _unit(*angles_deg):
    return np.array([[np.cos(np.radians(a)), np.sin(np.radians(a))] for a in angles_deg])


def test_margin_beats_a_hub_that_nearest_neighbour_search_would_pick():
    # Three sources on three axes; targets: two translations, a "hub" equally close to every source (cos 0.577),
    # and source 2's translation, half turned away (cos 0.5): plain cosine search sends source 2 to the hub.
    e = np.eye(4)
    sources = e[:3]
    hub = e[:3].sum(0) / np.sqrt(3)
    targets = np.stack([e[0], e[1], hub, 0.5 * e[2] + np.sqrt(0.75) * e[3]])
    cos = sources @ targets.T
    assert cos[2].argmax() == 2
    mined = ratio_margin_pairs(sources, targets, k=2)
    assert sorted((i, j) for i, j, _ in mined) == [(0, 0), (1, 1), (2, 3)]
    # by hand (k = 2): source 2's neighbourhood mean (0.577 + 0.5) / 2, its translation's (0.5 + 0) / 2
    expected = 0.5 / (((1 / np.sqrt(3) + 0.5) / 2 + 0.25) / 2)
    assert dict(((i, j), s) for i, j, s in mined)[(2, 3)] == pytest.approx(expected)


def test_each_sentence_is_used_once_and_scores_fall():
    rng = np.random.default_rng(0)
    sources = rng.normal(size=(6, 8))
    targets = np.vstack([sources[:4] + 0.05 * rng.normal(size=(4, 8)), rng.normal(size=(3, 8))])
    mined = ratio_margin_pairs(sources, targets)
    assert len({i for i, _, _ in mined}) == len(mined) == len({j for _, j, _ in mined})
    assert [s for _, _, s in mined] == sorted((s for _, _, s in mined), reverse=True)
    assert {(i, i) for i in range(4)} <= {(i, j) for i, j, _ in mined}  # the true pairs are found


def test_threshold_and_empty_sides():
    sources, targets = _unit(0, 90), _unit(0, 90)
    assert ratio_margin_pairs(sources, targets, threshold=10.0) == []
    assert ratio_margin_pairs(sources[:0], targets) == []
    assert len(ratio_margin_pairs(sources, targets, k=8)) == 2  # k larger than a side: the whole side
