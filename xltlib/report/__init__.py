"""Reporting results: long-format records, intervals over seeds and atomic run files (`results`), paired
comparisons and the sentences notebooks say about them (`compare`), XTREME's scorer (`scorer`) and the XTREME-R
report (`xtreme`), figures (`plots`), real examples as small tables (`examples`), and for the tables notebook the
runs on disk (`runs`), each notebook's tables rebuilt from records (`tables`) and the leaderboard (`leaderboard`).
May import `xltlib.core` and `xltlib.tasks`; `examples` also `xltlib.methods` and `xltlib.robustness`.
"""
