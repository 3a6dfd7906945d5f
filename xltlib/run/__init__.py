"""Running experiments: the one training loop (`loop`), schedules of stages and multi-task stages (`stages`,
`multitask`), the plan that checks a run before anything loads (`plan`), the experiment (`experiment`), finished
runs on disk (`store`) and step costs (`step_cost`).
May import `xltlib.core`, `xltlib.tasks`, `xltlib.methods` and `xltlib.robustness`.
"""
