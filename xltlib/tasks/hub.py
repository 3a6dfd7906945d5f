"""Loading from the Hugging Face hub with one-line errors: what could not be loaded, why (the hub is offline,
unreachable, or has no such repository) and how to point at a local copy instead. transformers' and datasets' own
errors say "couldn't connect" after their retries and name neither the setting nor the local alternative.
"""
from __future__ import annotations

import contextlib
import os

from ..core.errors import HubDataError, HubError

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_NOT_FOUND = ("RepositoryNotFoundError", "GatedRepoError", "RevisionNotFoundError", "EntryNotFoundError",
              "DatasetNotFoundError")
_UNREACHABLE = ("LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError", "ConnectError",
                "ConnectTimeout", "ReadTimeout", "TimeoutException", "Timeout", "TimeoutError")


def offline_setting() -> str | None:
    """The variable that puts the hub offline (`HF_HUB_OFFLINE=1`), or None."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return f"{name}={os.environ[name]}"
    return None


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def hub_reason(error: BaseException) -> str | None:
    """Why a hub load failed, in words, or None when `error` is not about reaching the hub."""
    names = {cls.__name__ for e in _chain(error) for cls in type(e).__mro__}
    text = " ".join(str(e) for e in _chain(error))
    # Unreachable first: huggingface_hub's "not in the cache, and the hub not asked" is a kind of EntryNotFoundError.
    if names & set(_UNREACHABLE) or "couldn't connect" in text.lower() or "couldn't reach" in text.lower():
        setting = offline_setting()
        if setting:
            return f"the hub is offline ({setting}) and it is not in the local cache"
        return ("the hub is unreachable (no network?) and it is not in the local cache; set HF_HUB_OFFLINE=1 to "
                "fail at once instead of after the retries")
    if names & set(_NOT_FOUND) or "is not a valid model identifier" in text:
        return ("the hub has no such repository (a misspelt id, or a private or gated one: log in with "
                "`hf auth login`)")
    return None


@contextlib.contextmanager
def from_hub(what: str, local_hint: str, data: bool = False):
    """Turn a failure to reach the hub inside the block into one HubError line (HubDataError for a data set,
    `data`): `what` could not be loaded, why, and `local_hint` (how to give a local copy). Other errors pass
    through unchanged."""
    try:
        yield
    except HubError:
        raise
    except Exception as e:
        reason = hub_reason(e)
        if reason is None:
            raise
        error = HubDataError if data else HubError
        raise error(f"could not load {what}: {reason}; to use a local copy, {local_hint}") from e
