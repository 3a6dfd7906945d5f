"""Errors that a user can act on.

Every message names the file, field or value at fault and what was expected, so a bad parameter file or
data file is fixed from the message alone.
"""


class XltError(Exception):
    """Base of every error this library raises on purpose."""


class ConfigError(XltError, ValueError):
    """A parameter file or config value is malformed, unknown or of the wrong type."""


class UnknownNameError(ConfigError, KeyError):
    """A task, language, model, method or world name that no registry lists."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class DataError(XltError, ValueError):
    """A data file is missing, empty, or has a row that does not fit the task's schema."""


class TrainingError(XltError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); checkpoints written so far are kept."""


class HubError(XltError, OSError):
    """A model, tokenizer or data set could not be loaded from the Hugging Face hub (offline, unreachable, or no
    such repository) nor from the local cache."""


class HubDataError(HubError, DataError):
    """A data set could not be loaded from the hub (a DataError too: the way out is a local data file)."""
