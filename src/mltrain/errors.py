"""Exit codes and the project's exception types; only the CLI turns them into exits."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in README.md."""

    OK = 0
    FAILURE = 1  # training failed, corrupted registry file, internal error
    USAGE = 2  # bad flag, config, preset, data file or a busy model lock
    NOT_PROMOTED = 3  # trained and saved, but not promoted: the gate refused it or production was better
    WORSE_THAN_BASELINE = 4  # models score: production's logged forecasts lose to a baseline beyond noise
    INTERRUPTED = 130  # Ctrl-C or SIGTERM


class MltrainError(Exception):
    """Base of every error the CLI reports as one line."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, exit_code: ExitCode | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(MltrainError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A bad config value, preset or config file."""


class DataError(UsageError):
    """A data file or series that cannot be used."""


class RegistryError(MltrainError):
    """A missing, corrupted or unwritable registry file (exit 1)."""


class LockBusyError(UsageError):
    """Another job holds the model's lock, or another writer the symbol's in the data store."""


class FetchError(MltrainError):
    """An exchange could not be reached, kept failing or answered with something unusable (exit 1)."""


class TrainingError(MltrainError):
    """Training itself failed."""


class Interrupted(MltrainError):
    exit_code = ExitCode.INTERRUPTED


def excerpt(value: object, limit: int = 60) -> str:
    """repr() of a value cut to `limit` characters: an error message never echoes a huge input in full."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "..."
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (Python's digit limit)
        return f"<{type(value).__name__} too long to show>"
    return text if len(text) <= limit + 2 else text[:limit] + "..."
