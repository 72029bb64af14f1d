"""A run's results, grown one trial at a time: counts, the best so far and the ranking follow
each result as it arrives, so a live view never re-ranks the whole run per finished trial."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from hpsearch.space import Space
from hpsearch.trial import Direction, Status, TrialResult, ranked

__all__ = ["RunResult"]


class RunResult:
    """A run's trials and what follows from them.

    Attributes:
        path: the run's folder.
        space: the run's (first round's) space.
        direction: which scores are better.
        status: running, finished or interrupted.
    """

    def __init__(self, path: Path, space: Space, direction: Direction,
                 results: Iterable[TrialResult] = (), status: str = "finished") -> None:
        self.path = path
        self.space = space
        self.direction = Direction(direction)
        self.status = status
        self._results: list[TrialResult] = []
        self._failed: list[TrialResult] = []
        self._pruned: list[TrialResult] = []
        self._complete = 0
        self._best: TrialResult | None = None
        self._ranked: list[tuple[int | None, TrialResult]] | None = None
        for result in results:
            self.add(result)

    def add(self, result: TrialResult) -> None:
        """One more finished trial: O(1), whatever the number of trials so far."""
        self._results.append(result)
        self._ranked = None
        if result.status is Status.COMPLETE:
            self._complete += 1
            best = self._best
            if best is None or self.direction.better(result.mean, best.mean) or (
                    result.mean == best.mean and result.number < best.number):
                self._best = result
        elif result.status is Status.PRUNED:
            self._pruned.append(result)
        else:
            self._failed.append(result)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def results(self) -> list[TrialResult]:
        """Every trial, in the order they ended (read only: `add` grows it)."""
        return self._results

    def ranked(self) -> list[tuple[int | None, TrialResult]]:
        """Best first, with ranks (ties share the lowest; trials without a score last);
        computed once per change."""
        if self._ranked is None:
            self._ranked = ranked(self._results, self.direction)
        return self._ranked

    @property
    def best(self) -> TrialResult | None:
        """The best complete trial (the lowest number among equals), or None."""
        return self._best

    @property
    def complete(self) -> int:
        return self._complete

    @property
    def failed(self) -> list[TrialResult]:
        """Trials that failed, crashed or timed out (not the ones pruned on purpose)."""
        return self._failed

    @property
    def pruned(self) -> list[TrialResult]:
        return self._pruned

    @property
    def next_round(self) -> int:
        """The number the run's next round gets."""
        return max((r.trial.round for r in self._results), default=0) + 1

    @property
    def next_trial(self) -> int:
        """The first trial number no trial of the run has."""
        return max((r.number for r in self._results), default=-1) + 1

    def failure_summary(self) -> Counter[str]:
        """How often each distinct error line occurred."""
        return Counter(r.error_line for r in self._failed)
