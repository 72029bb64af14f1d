"""What a running search tells whoever watches it: the command line's progress bar, a notebook,
your own code. The driver calls each method in order, in the driver's process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpsearch.result import RunResult
    from hpsearch.search.region import Region
    from hpsearch.trial import TrialResult

__all__ = ["RunEvents", "Watchers"]


class RunEvents:
    """What a running search tells whoever watches it (the CLI's progress bar, a notebook).
    Subclass it and override what you need; each method is called in the driver, in order."""

    def run_started(self, run: RunResult, total: int) -> None:
        """The run is taken and about to run trials: `total` trials when it ends (those it
        already has included)."""

    def round_started(self, number: int, region: Region, size: int) -> None:
        """A round of `size` trials begins in `region` (round 1 is the whole space)."""

    def trial_done(self, result: TrialResult) -> None:
        """A trial ended and is stored (`run.results` holds it already)."""

    def decided(self, lines: Sequence[str]) -> None:
        """What a new run decided by itself (`auto`: its rounds, early stopping), one line
        each; told before `run_started`."""


class Watchers(RunEvents):
    """Several watchers of one run (a progress line and your own events), told in turn."""

    def __init__(self, *watchers: RunEvents) -> None:
        self.watchers = watchers

    def run_started(self, run: RunResult, total: int) -> None:
        for watcher in self.watchers:
            watcher.run_started(run, total)

    def round_started(self, number: int, region: Region, size: int) -> None:
        for watcher in self.watchers:
            watcher.round_started(number, region, size)

    def trial_done(self, result: TrialResult) -> None:
        for watcher in self.watchers:
            watcher.trial_done(result)

    def decided(self, lines: Sequence[str]) -> None:
        for watcher in self.watchers:
            watcher.decided(lines)
