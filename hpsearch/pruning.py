"""Early stopping of hopeless trials in caviar mode.

A trial that reports a score every epoch is compared, at the same epoch, with every other trial
of the run that reached it (running or finished), and stopped when it is clearly worse:

- ``asha`` (asynchronous successive halving): at rungs of min_epochs · reduction^k epochs, a
  trial goes on only if it is in the top 1/reduction of the scores recorded at that rung;
- ``median``: from min_epochs on, a trial stops when its score is worse than the median of the
  others' at that epoch (once `startup` others have reached it).

A trial is compared only with the reports of the same fold at the same epoch. Workers share the
scores through a scoreboard: the run's own store (`hpsearch.store.EpochScores`) where they see the
run folder, so the rule needs no server; on a dask cluster, `SharedScores`, held by the cluster
itself, so workers on other machines never open the run's files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hpsearch.errors import TrialPruned

if TYPE_CHECKING:
    from hpsearch.trial import Direction

__all__ = ["Pruner", "Reporter", "Scoreboard", "SharedScores", "TrialPruned"]


@dataclass(frozen=True)
class Pruner:
    """The rule; see the module's docstring."""

    method: str = "asha"
    min_epochs: int = 4
    reduction: int = 3
    startup: int = 4

    def decides(self, epoch: int) -> bool:
        """Whether the rule may stop a trial at this epoch (only then is a report shared)."""
        if epoch < self.min_epochs:
            return False
        if self.method == "median":
            return True
        rung = self.min_epochs
        while rung < epoch:
            rung *= self.reduction
        return rung == epoch

    def reason(self, epoch: int, value: float, others: list[float], direction: Direction,
               fold: int | None = None) -> str | None:
        """Why a trial at `epoch` (of `fold`) with `value` should stop, given the others' values
        at that epoch of that fold; None when it goes on."""
        if not self.decides(epoch):
            return None
        where = f"epoch {epoch}" + ("" if fold is None else f" of fold {fold}")
        if self.method == "median":
            if len(others) < self.startup:
                return None
            median = statistics.median(others)
            if direction.better(median, value):
                return (f"pruned at {where}: {value:.4g} is worse than the median "
                        f"{median:.4g} of {len(others)} trials there")
            return None
        ranked = sorted([*others, value], key=lambda v: -direction.gain(v))
        keep = max(1, len(ranked) // self.reduction)
        if direction.better(ranked[keep - 1], value):
            return (f"pruned at {where}: not in the top 1/{self.reduction} of the "
                    f"{len(ranked)} trials that reached it (asha)")
        return None


class Scoreboard(Protocol):
    """Where the trials of a run share their reports while they run."""

    def report(self, trial: int, fold: int, epoch: int, value: float,
               metrics: Mapping[str, Any]) -> list[float]:
        """Record a report; return what every other trial reported at that fold and epoch."""


class SharedScores:
    """A scoreboard held in memory by one process: on a dask cluster, an actor every worker
    calls, wherever it runs (`client.submit(SharedScores, actor=True)`)."""

    def __init__(self) -> None:
        self.values: dict[tuple[int, int], dict[int, float]] = {}

    def report(self, trial: int, fold: int, epoch: int, value: float,
               metrics: Mapping[str, Any]) -> list[float]:
        at = self.values.setdefault((fold, epoch), {})
        at[trial] = value
        return [v for t, v in at.items() if t != trial]


class Reporter:
    """``report(epoch, score, **metrics)`` for one fold of one trial: keeps every report (the
    trial's learning curve), and with early stopping shares it on the scoreboard and raises
    TrialPruned when the rule says the trial is hopeless. Made inside the worker."""

    def __init__(self, trial: int, fold: int | None, direction: Direction,
                 pruner: Pruner | None = None, scores: Any = None) -> None:
        self.trial, self.fold, self.direction = trial, fold, direction
        self.pruner, self.scores = pruner, scores
        self.records: list[dict[str, Any]] = []

    def __call__(self, epoch: int, score: float, **metrics: Any) -> None:
        epoch, value = int(epoch), float(score)
        self.records.append({"fold": self.fold or 0, "epoch": epoch, "score": value, **metrics})
        if self.pruner is None or self.scores is None or not math.isfinite(value) \
                or not self.pruner.decides(epoch):
            return
        others = self.scores.report(self.trial, self.fold or 0, epoch, value, metrics)
        if hasattr(others, "result"):  # a dask actor answers with a future
            others = others.result()
        why = self.pruner.reason(epoch, value, list(others), self.direction, self.fold)
        if why is not None:
            raise TrialPruned(epoch, why)
