"""Early stopping of hopeless trials in caviar mode.

A trial that reports a score every epoch is compared, at the same epoch, with every other trial
of the run that reached it (running or finished), and stopped when it is clearly worse:

- ``asha`` (asynchronous successive halving): at rungs of min_epochs · reduction^k epochs, a
  trial goes on only if it is in the top 1/reduction of the scores recorded at that rung;
- ``median``: from min_epochs on, a trial stops when its score is worse than the median of the
  others' at that epoch (once `startup` others have reached it).

Workers share the scores through the run's own SQLite store (WAL: many readers, short writes),
so the rule needs no server; it works wherever the workers see the run folder.
"""

from __future__ import annotations

import sqlite3
import statistics
from dataclasses import dataclass

from hpsearch.errors import TrialPruned

__all__ = ["Pruner", "Reporter", "TrialPruned"]

_TABLE = """CREATE TABLE IF NOT EXISTS intermediate (
    trial INTEGER NOT NULL, epoch INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (trial, epoch))"""


@dataclass(frozen=True)
class Pruner:
    """The rule; see the module's docstring."""

    method: str = "asha"
    min_epochs: int = 4
    reduction: int = 3
    startup: int = 4

    def reason(self, epoch: int, value: float, others: list[float], direction: str) -> str | None:
        """Why a trial at `epoch` with `value` should stop, given the others' values at that
        epoch; None when it goes on."""
        if epoch < self.min_epochs:
            return None
        sign = 1.0 if direction == "maximize" else -1.0
        if self.method == "median":
            if len(others) < self.startup:
                return None
            median = statistics.median(others)
            if sign * value < sign * median:
                return (f"pruned at epoch {epoch}: {value:.4g} is worse than the median "
                        f"{median:.4g} of {len(others)} trials at that epoch")
            return None
        rung = self.min_epochs
        while rung < epoch:
            rung *= self.reduction
        if rung != epoch:
            return None
        ranked = sorted([*others, value], key=lambda v: -sign * v)
        keep = max(1, len(ranked) // self.reduction)
        if sign * value < sign * ranked[keep - 1]:
            return (f"pruned at epoch {epoch}: not in the top 1/{self.reduction} of the "
                    f"{len(ranked)} trials that reached it (asha)")
        return None


class Reporter:
    """``report(epoch, value)`` for one trial: records the value and raises TrialPruned when the
    rule says the trial is hopeless. Opened inside the worker that runs the trial."""

    def __init__(self, database: str, trial: int, pruner: Pruner, direction: str) -> None:
        self.database, self.trial = database, trial
        self.pruner, self.direction = pruner, direction
        self._db: sqlite3.Connection | None = None

    def __call__(self, epoch: int, value: float) -> None:
        if self._db is None:
            self._db = sqlite3.connect(self.database, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute(_TABLE)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO intermediate VALUES (?, ?, ?)",
                             (self.trial, int(epoch), float(value)))
        others = [v for (v,) in self._db.execute(
            "SELECT value FROM intermediate WHERE epoch = ? AND trial != ?", (epoch, self.trial))]
        why = self.pruner.reason(epoch, float(value), others, self.direction)
        if why is not None:
            raise TrialPruned(epoch, why)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
