"""Early stopping of hopeless trials in caviar mode.

A trial that reports a score every epoch is compared, at the same epoch, with every other trial
of the run that reached it (running or finished), and stopped when it is clearly worse:

- ``asha`` (asynchronous successive halving): at rungs of min_epochs · reduction^k epochs, a
  trial goes on only if it is in the top 1/reduction of the scores recorded at that rung;
- ``median``: from min_epochs on, a trial stops when its score is worse than the median of the
  others' at that epoch (once `startup` others have reached it).

Workers share the scores through the run's own store (`hpsearch.store.EpochScores`), so the rule
needs no server; it works wherever the workers see the run folder.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpsearch.errors import TrialPruned

if TYPE_CHECKING:
    from hpsearch.trial import Direction

__all__ = ["Pruner", "Reporter", "TrialPruned"]


@dataclass(frozen=True)
class Pruner:
    """The rule; see the module's docstring."""

    method: str = "asha"
    min_epochs: int = 4
    reduction: int = 3
    startup: int = 4

    def reason(self, epoch: int, value: float, others: list[float],
               direction: Direction) -> str | None:
        """Why a trial at `epoch` with `value` should stop, given the others' values at that
        epoch; None when it goes on."""
        if epoch < self.min_epochs:
            return None
        if self.method == "median":
            if len(others) < self.startup:
                return None
            median = statistics.median(others)
            if direction.better(median, value):
                return (f"pruned at epoch {epoch}: {value:.4g} is worse than the median "
                        f"{median:.4g} of {len(others)} trials at that epoch")
            return None
        rung = self.min_epochs
        while rung < epoch:
            rung *= self.reduction
        if rung != epoch:
            return None
        ranked = sorted([*others, value], key=lambda v: -direction.gain(v))
        keep = max(1, len(ranked) // self.reduction)
        if direction.better(ranked[keep - 1], value):
            return (f"pruned at epoch {epoch}: not in the top 1/{self.reduction} of the "
                    f"{len(ranked)} trials that reached it (asha)")
        return None


class Reporter:
    """``report(epoch, value)`` for one trial: records the value and raises TrialPruned when the
    rule says the trial is hopeless. Made inside the worker that runs the trial."""

    def __init__(self, database: str, trial: int, pruner: Pruner, direction: Direction) -> None:
        from hpsearch.store import EpochScores

        self.scores = EpochScores(database)
        self.trial, self.pruner, self.direction = trial, pruner, direction

    def __call__(self, epoch: int, value: float) -> None:
        self.scores.add(self.trial, int(epoch), float(value))
        others = self.scores.others(self.trial, int(epoch))
        why = self.pruner.reason(int(epoch), float(value), others, self.direction)
        if why is not None:
            raise TrialPruned(int(epoch), why)

    def close(self) -> None:
        self.scores.close()
