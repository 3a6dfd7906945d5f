"""The floor every layer stands on: the registry idiom, errors, paths, atomic files, the option-spec idiom, the
language registry, and the run configuration (types and ranges only; names are checked by `xltlib.run.plan`).
Imports nothing of xltlib outside this package.
"""
