"""Reporting results: long-format records, intervals over seeds and atomic run files (`results`), paired
comparisons and the sentences notebooks say about them (`compare`), XTREME's scorer (`scorer`) and the XTREME-R
report (`xtreme`), figures and their panel layouts (`plots`), real examples as small tables (`examples`).
May import `xltlib.core` and `xltlib.tasks`; `examples` also `xltlib.methods` and `xltlib.robustness`.
"""
