"""Tasks: what a task is (`spec`), the catalogue of tasks (`catalogue`) and benchmarks (`benchmarks`), one handler
per task type (`handlers`: rows, batches, head, prediction, metric, submission files), the loaders they share
(`files`), metrics, the submission layout, and the models and heads (`models`).
May import `xltlib.core` only.
"""
