"""Early stopping of hopeless trials in caviar mode.

A trial that reports a score every epoch is compared, at the same epoch, with the other trials of
the run that reached it, and stopped when it is clearly worse:

- ``asha`` (asynchronous successive halving): at rungs of min_epochs · reduction^k epochs, a
  trial goes on only if it is in the top 1/reduction of the scores recorded at that rung;
- ``median``: from min_epochs on, a trial stops when its score is worse than the median of the
  others' at that epoch.

Either stops nothing at an epoch that fewer than `startup` other trials have reached.

Which others: in a run, those that had ended when the trial started (its `peers`: the trials
numbered below it minus the look-ahead, which the driver waits for), so that every decision
depends on results alone, never on which trial reached an epoch first; a trial without peers
(driven outside a run) is compared with every other that reported.

A trial is compared only with the reports of the same fold at the same epoch. Workers share the
scores through a scoreboard: the run's own store (`hpsearch.store.RunBoard`) where they see the
run folder, so the rule needs no server; on a dask cluster, `SharedScores`, held by the cluster
itself, so workers on other machines never open the run's files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

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

    def reason(self, epoch: int, value: float, others: Others | Sequence[float],
               direction: Direction, fold: int | None = None) -> str | None:
        """Why a trial at `epoch` (of `fold`) with `value` should stop, given the other trials'
        values at that epoch of that fold; None when it goes on."""
        if not self.decides(epoch):
            return None
        board = cast(Others, others) if hasattr(others, "better_than") \
            else Values(cast(Sequence[float], others))  # a plain list of values
        count = board.count()
        if count < self.startup:  # too few others to call this one hopeless
            return None
        where = f"epoch {epoch}" + ("" if fold is None else f" of fold {fold}")
        if self.method == "median":
            middle = [board.nth_best(k, direction) for k in {(count - 1) // 2, count // 2}]
            median = sum(middle) / len(middle)
            if direction.better(median, value):
                return (f"pruned at {where}: {value:.4g} is worse than the median "
                        f"{median:.4g} of {count} trials there")
            return None
        # asha: the trial goes on when it is among the top 1/reduction of all that reached the
        # rung (itself included), that is when fewer than `keep` others are strictly better
        keep = max(1, (count + 1) // self.reduction)
        if board.better_than(value, direction) >= keep:
            return (f"pruned at {where}: not in the top 1/{self.reduction} of the "
                    f"{count + 1} trials that reached it (asha)")
        return None


class Others(Protocol):
    """The other trials' values at one epoch of one fold, as the rules ask about them."""

    def count(self) -> int: ...

    def better_than(self, value: float, direction: Direction) -> int:
        """How many are strictly better than `value`."""
        ...

    def nth_best(self, n: int, direction: Direction) -> float:
        """The n-th best (0 the best)."""
        ...


class Values:
    """Others held as a list."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = list(values)

    def count(self) -> int:
        return len(self.values)

    def better_than(self, value: float, direction: Direction) -> int:
        return sum(direction.better(v, value) for v in self.values)

    def nth_best(self, n: int, direction: Direction) -> float:
        return sorted(self.values, key=lambda v: -direction.gain(v))[n]


class Scoreboard(Protocol):
    """Where the trials of a run share their reports while they run."""

    def report(self, trial: int, fold: int, epoch: int, value: float,
               metrics: Mapping[str, Any], peers: int | None = None
               ) -> Others | Sequence[float]:
        """Record a report; return the other trials' values at that fold and epoch (those
        numbered below `peers` when given)."""


class SharedScores:
    """A scoreboard held in memory by one process: on a dask cluster, an actor every worker
    calls, wherever it runs (`client.submit(SharedScores, actor=True)`)."""

    def __init__(self) -> None:
        self.values: dict[tuple[int, int], dict[int, float]] = {}

    def started(self, trial: int, params: Mapping[str, Any]) -> None:
        """On a cluster, a trial's start is not recorded (status counts finished trials)."""

    def report(self, trial: int, fold: int, epoch: int, value: float,
               metrics: Mapping[str, Any], peers: int | None = None) -> list[float]:
        at = self.values.setdefault((fold, epoch), {})
        at[trial] = value
        return [v for t, v in at.items() if t != trial and (peers is None or t < peers)]


class Reporter:
    """``report(epoch, score, **metrics)`` for one fold of one trial: keeps every report (the
    trial's learning curve); a scoreboard that stores reports (the run's store) gets each as
    it comes, so that the curve of a running trial can be followed epoch by epoch; and with
    early stopping it is shared at the rule's epochs, raising TrialPruned when the rule says
    the trial is hopeless. Made inside the worker."""

    def __init__(self, trial: int, fold: int | None, direction: Direction,
                 pruner: Pruner | None = None, scores: Any = None,
                 peers: int | None = None) -> None:
        self.trial, self.fold, self.direction, self.peers = trial, fold, direction, peers
        self.pruner, self.scores = pruner, scores
        self.records: list[dict[str, Any]] = []
        self.unshared: list[dict[str, Any]] = []  # the records the scoreboard did not store

    def __call__(self, epoch: int, score: float, **metrics: Any) -> None:
        epoch, value = int(epoch), float(score)
        record = {"fold": self.fold or 0, "epoch": epoch, "score": value, **metrics}
        self.records.append(record)
        decides = self.pruner is not None and math.isfinite(value) and \
            self.pruner.decides(epoch)
        stores = getattr(type(self.scores), "stores_reports", False)
        if self.scores is None or not (decides or stores):
            self.unshared.append(record)
            return
        others = self.scores.report(self.trial, self.fold or 0, epoch, value, metrics,
                                    self.peers)
        if not stores:
            self.unshared.append(record)  # held by the cluster, not by the run's store
        if not decides:
            return
        assert self.pruner is not None
        if hasattr(others, "result"):  # a dask actor answers with a future
            others = others.result()
        why = self.pruner.reason(epoch, value, others, self.direction, self.fold)
        if why is not None:
            raise TrialPruned(epoch, why, value, metrics)
