"""Trial records: what a trial is asked to do, what it gave back, and how results rank."""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpsearch.space import Space

__all__ = ["Status", "Trial", "Outcome", "TrialResult", "plan_trials", "trials_at", "trial_seed",
           "ranked"]


class Status(enum.StrEnum):
    """A trial's state as stored; the words are what users read and filter on."""

    COMPLETE = "complete"
    FAILED = "failed"  # raised, or returned no valid score
    CRASHED = "crashed"  # its process died
    TIMEOUT = "timeout"  # ran past parallel.timeout and was killed
    PRUNED = "pruned"  # stopped early as hopeless (search.early_stopping)

    @property
    def is_failure(self) -> bool:
        return self in (Status.FAILED, Status.CRASHED, Status.TIMEOUT)


@dataclass(frozen=True)
class Trial:
    """One point to evaluate. Fixed in the parent before dispatch, so results never depend on
    the number of workers or the order they finish in."""

    number: int
    params: Mapping[str, Any]
    unit: tuple[float, ...]
    seed: int
    round: int = 1
    retest_of: int | None = None  # the trial whose configuration this one evaluates again


@dataclass(frozen=True)
class Outcome:
    """What an objective returns: fold scores, and what else the trial reported (such as a
    per-epoch ``history``)."""

    scores: tuple[float, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialResult:
    """A finished trial: its fold scores (NaN-free when complete), or the error that ended it."""

    trial: Trial
    status: Status
    scores: tuple[float, ...] = ()
    duration: float = 0.0
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def params(self) -> Mapping[str, Any]:
        return self.trial.params

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.status is Status.COMPLETE else math.nan

    @property
    def std(self) -> float:
        if self.status is not Status.COMPLETE:
            return math.nan
        return statistics.pstdev(self.scores) if len(self.scores) > 1 else 0.0


def trial_seed(run_seed: int, number: int) -> int:
    """The trial's own seed: a function of the run seed and the trial number only."""
    import numpy as np

    return int(np.random.SeedSequence([run_seed, number]).generate_state(1)[0])


def plan_trials(
    space: Space, sampler: str, n: int, seed: int, *, round: int = 1, first_number: int = 0
) -> list[Trial]:
    """The n trials a search tries: unit points from the sampler, mapped through the space.

    Round r > 1 draws from its own stream, so adding rounds never changes earlier ones.
    """
    from hpsearch.sampling import sample_unit

    stream = seed if round == 1 else seed * 1000 + round
    points = sample_unit(sampler, n, len(space), stream)
    return trials_at(space, points, seed, round=round, first_number=first_number)


def trials_at(space: Space, points: Iterable[Sequence[float]], seed: int, *, round: int = 1,
              first_number: int = 0) -> list[Trial]:
    """Trials for given points of the space's unit cube, numbered from first_number."""
    trials = []
    for i, u in enumerate(points):
        number = first_number + i
        unit = tuple(float(x) for x in u)
        trials.append(Trial(number, space.from_unit(unit), unit, trial_seed(seed, number), round))
    return trials


def ranked(results: Iterable[TrialResult], direction: str) -> list[tuple[int | None, TrialResult]]:
    """Results best first with their rank (ties share the lowest rank, as scikit-learn's
    ``rankdata(method="min")``); trials with no score come last, with rank None."""
    sign = -1.0 if direction == "maximize" else 1.0
    scored = sorted(
        (r for r in results if not math.isnan(r.mean)), key=lambda r: (sign * r.mean, r.number)
    )
    unscored = sorted((r for r in results if math.isnan(r.mean)), key=lambda r: r.number)
    out: list[tuple[int | None, TrialResult]] = []
    for position, result in enumerate(scored):
        if position and result.mean == scored[position - 1].mean:
            out.append((out[-1][0], result))
        else:
            out.append((position + 1, result))
    out.extend((None, r) for r in unscored)
    return out


def as_scores(value: Any) -> tuple[float, ...]:
    """An objective's return value as fold scores: a number, a list of numbers, or a mapping
    with ``score`` or ``scores``. Raises ValueError for anything else, NaN and infinities."""
    if isinstance(value, Mapping):
        for key in ("scores", "score"):
            if key in value:
                return as_scores(value[key])
        raise ValueError(f"returned a mapping without 'score' or 'scores': {dict(value)!r}")
    # a list, a tuple or a numpy array of fold scores; anything else is one score
    many = isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0
    items: Sequence[Any] = list(value) if many else [value]
    if not items:
        raise ValueError("returned an empty list of scores")
    scores = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"returned {item!r}, not a number")
        try:
            number = float(item)
        except (TypeError, ValueError):
            raise ValueError(f"returned {item!r} (of type {type(item).__name__}), not a number") \
                from None
        if not math.isfinite(number):
            raise ValueError(f"returned a score of {number}")
        scores.append(number)
    return tuple(scores)
