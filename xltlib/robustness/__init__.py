"""Robustness evaluation after a model is trained: test-time attacks (`attacks`: embedding PGD, greedy synonym
substitution, code-switching) and smoothed prediction with certified radii (`smoothing`).
May import `xltlib.core`, `xltlib.tasks` and `xltlib.methods`.
"""
