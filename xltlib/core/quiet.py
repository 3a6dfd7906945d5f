"""Keep notebooks readable: library progress bars and load reports off, warnings that say nothing
actionable for this project silenced. Our own progress bars (training) stay."""
from __future__ import annotations

import warnings


def quiet_libraries() -> None:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    # accelerate warns on CPU-only machines that mixed precision is off: that is the intent here.
    warnings.filterwarnings("ignore", message=".*mixed precision.*")
