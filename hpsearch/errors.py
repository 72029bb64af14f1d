"""One exception hierarchy. Each error formats its own short message; the CLI prints it as is.

    HPSearchError                every error hpsearch raises on purpose
    ├── InputError               bad input, caught before it costs anything: exit code 2
    │   ├── ConfigError          a config file's mistake, with file:line and key
    │   ├── ObjectiveError       an objective that cannot be set up
    │   ├── StoreError           a run folder that cannot be created, found or read
    │   └── StrategyError        a user's strategy that raised or broke the protocol
    ├── RunFailed                a search that ran and did not succeed: exit code 1
    │   ├── AllTrialsFailed
    │   ├── NoTrialCompleted
    │   ├── SearchStopped
    │   └── TrialFailedError
    ├── CommandFailed            inside a trial: a command objective that failed
    └── TrialPruned              inside a trial: early stopping stops it
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["HPSearchError", "InputError", "ConfigError", "ObjectiveError", "StoreError",
           "StrategyError", "RunFailed", "AllTrialsFailed", "NoTrialCompleted", "SearchStopped",
           "TrialFailedError", "CommandFailed",
           "TrialPruned", "did_you_mean"]


def did_you_mean(word: Any, options: Iterable[Any] | Mapping[Any, Any], *, n: int = 1,
                 end: str = " ") -> str:
    """"did you mean 'log'? " when an option is close to `word` (up to n of them), else "".

    With a mapping, `word` is matched against its keys and the values are shown (an alias is
    matched, its canonical name suggested)."""
    shown = options if isinstance(options, Mapping) else {o: o for o in options}
    texts = {str(k): v for k, v in shown.items()}
    close = difflib.get_close_matches(str(word), list(texts), n=n)
    return f"did you mean {', '.join(repr(str(texts[c])) for c in close)}?{end}" if close else ""


class HPSearchError(Exception):
    """Base of every error hpsearch raises on purpose."""


class InputError(HPSearchError):
    """Bad input (a config, an objective, a run folder, an option): the CLI prints the message in
    one or two lines and exits with code 2."""


class ConfigError(InputError):
    """A mistake in a config file: names the file, the line, the key, and the fix.

    Args:
        message: what is wrong and what would be right.
        file: the config file's path, when the config came from one.
        line: 1-based line where the YAML parser saw the key, when known.
        key: the dotted key path, such as ``space.lr.low``.
        origin: the override that set the key (``--set space.lr.low=0``), named instead of the
            file and line.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        origin: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.origin = origin

    def __str__(self) -> str:
        where = self.origin or self.file or "config"
        if self.line is not None and self.origin is None:
            where += f":{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ObjectiveError(InputError):
    """The objective cannot be set up: a module that does not import, a missing command, bad
    data."""


class StoreError(InputError):
    """A run store that cannot be created, found or read."""


class StrategyError(InputError):
    """A user's strategy (`search.strategy`) that raised, or answered the driver amiss: the run
    stops, its ended trials stored, resumable once the strategy is fixed."""


class RunFailed(HPSearchError):
    """A search that ran and did not succeed: the CLI exits with code 1. Every finished trial is
    stored."""


class AllTrialsFailed(RunFailed):
    """Every trial of a run failed; carries the first error."""

    def __init__(self, count: int, first_error: str) -> None:
        super().__init__(count, first_error)
        self.count = count
        self.first_error = first_error

    @property
    def summary(self) -> str:
        return (f"All {self.count} trials failed; the objective is likely misconfigured. "
                f"First error: {self.first_error}")

    def __str__(self) -> str:
        return (f"{self.summary}\nRerun with raise_errors=True to stop at the first failure "
                "with its full traceback.")


class NoTrialCompleted(RunFailed):
    """No trial of a run completed, some of them pruned by early stopping; carries the run."""

    def __init__(self, run: Any) -> None:
        super().__init__(run)
        self.run = run

    def __str__(self) -> str:
        pruned, failed = len(self.run.pruned), len(self.run.failed)
        best = sorted(self.run.pruned, key=lambda r: (-r.extra.get("epoch", 0), r.number))[:3]
        shown = ", ".join(f"trial {r.number} (epoch {r.extra.get('epoch', '?')})" for r in best)
        return (f"no trial completed: {pruned} pruned by early stopping"
                + (f" and {failed} failed" if failed else "")
                + f"; the furthest: {shown}. Early stopping compares trials with each other: "
                "give them more epochs before the first cut (search.early_stopping.min_epochs) "
                "or run more trials")


class SearchStopped(RunFailed):
    """A search stopped early by a limit of the config (search.max_failures)."""


class TrialFailedError(RunFailed):
    """Raised by ``run(..., raise_errors=True)`` at the first trial that did not complete (after
    storing it); carries its result."""

    def __init__(self, result: Any) -> None:
        super().__init__(result.error)
        self.result = result


class CommandFailed(HPSearchError):
    """A command objective that failed: its reason, the exact argv and the last lines of its
    stderr (kept in `details` as well, for the run's summary)."""

    def __init__(self, reason: str, stderr: str = "", argv: list[str] | None = None) -> None:
        tail = stderr.strip().splitlines()[-20:]
        text = reason + ("\n--- stderr (last lines) ---\n" + "\n".join(tail) if tail else "")
        super().__init__(text)
        self.details: dict[str, Any] = {"stderr": tail}
        if argv is not None:
            self.details["argv"] = list(argv)


class TrialPruned(HPSearchError):
    """Raised by ``report(epoch, score)`` inside an objective when early stopping stops the
    trial; the trial is recorded as pruned with the epoch it reached, its score and metrics
    there."""

    def __init__(self, epoch: int, reason: str, score: float | None = None,
                 metrics: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.epoch = epoch
        self.reason = reason
        self.score = score
        self.metrics = dict(metrics or {})  # what else it reported at that epoch
