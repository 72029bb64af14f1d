"""One exception hierarchy. Each error formats its own short message; the CLI prints it as is."""

from __future__ import annotations


class HPSearchError(Exception):
    """Base of every error a user can cause. The CLI maps it to exit code 2."""


class ConfigError(HPSearchError):
    """A mistake in a config file: names the file, the line, the key, and the fix.

    Args:
        message: what is wrong and what would be right.
        file: the config file's path, when the config came from one.
        line: 1-based line where the YAML parser saw the key, when known.
        key: the dotted key path, such as ``space.lr.low``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.key = key

    def __str__(self) -> str:
        where = self.file or "config"
        if self.line is not None:
            where += f":{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ObjectiveError(HPSearchError):
    """The objective cannot be set up: a module that does not import, a missing command, bad
    data."""


class StoreError(HPSearchError):
    """A run store that cannot be created, found or read."""


class AllTrialsFailed(Exception):
    """Every trial of a run failed; carries the first error. Not bad input: exit code 1."""

    def __init__(self, count: int, first_error: str) -> None:
        super().__init__(count, first_error)
        self.count = count
        self.first_error = first_error

    def __str__(self) -> str:
        return (
            f"All {self.count} trials failed; the objective is likely misconfigured. "
            f"First error: {self.first_error}\nRerun with --raise to see the full traceback."
        )


class SearchStopped(Exception):
    """A search stopped early by a limit of the config (search.max_failures). Exit code 1."""


class TrialPruned(Exception):
    """Raised by ``report(epoch, score)`` inside an objective when early stopping stops the
    trial; the trial is recorded as pruned with the epoch it reached."""

    def __init__(self, epoch: int, reason: str) -> None:
        super().__init__(reason)
        self.epoch = epoch
        self.reason = reason
