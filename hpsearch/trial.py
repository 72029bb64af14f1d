"""Trial records: what a trial is asked to do, what it gave back, how results rank, and which way
is better."""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import statistics
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpsearch.space import Space

__all__ = ["Direction", "Status", "Trial", "Outcome", "TrialResult", "plan_trials", "trials_at",
           "trial_seed", "ranked", "as_scores", "metrics_of", "result_of_error", "TrialCrashed",
           "TrialTimedOut"]


class Direction(enum.StrEnum):
    """Which way a score is better. The one place that knows the sign of a minimizer."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"

    @property
    def sign(self) -> float:
        """+1 or −1: a score times the sign is larger when the score is better."""
        return 1.0 if self is Direction.MAXIMIZE else -1.0

    @property
    def word(self) -> str:
        """'higher' or 'lower': which scores are better, as a person says it."""
        return "higher" if self is Direction.MAXIMIZE else "lower"

    def gain(self, score: Any) -> Any:
        """The score on a scale where larger is better (numbers or numpy arrays)."""
        return self.sign * score

    def better(self, a: float, b: float) -> bool:
        """Whether score a is strictly better than score b."""
        return self.sign * a > self.sign * b

    def best(self, scores: Iterable[float]) -> float:
        """The best of some scores."""
        return max(scores) if self is Direction.MAXIMIZE else min(scores)


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
    unit: tuple[float, ...]  # the point of the run's first space's unit cube
    seed: int
    round: int = 1
    retest_of: int | None = None  # the trial whose configuration this one evaluates again
    peers: int | None = None  # early stopping compares it with the trials numbered below this


@dataclass(frozen=True)
class Outcome:
    """What an objective returns: fold scores, and what else the trial reported (such as a
    per-epoch ``history``)."""

    scores: tuple[float, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialResult:
    """A finished trial: its fold scores (NaN-free when complete), or the error that ended it.

    `extra` is what else it gave (a learning curve ``history``, its ``metrics``, ...); `reports`
    are its per-epoch reports, each {fold, epoch, score, ...}; `log` is its output when the
    worker that ran it could not write it to the run folder itself.
    """

    trial: Trial
    status: Status
    scores: tuple[float, ...] = ()
    duration: float = 0.0
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    reports: tuple[Mapping[str, Any], ...] = ()
    log: str | None = None

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def params(self) -> Mapping[str, Any]:
        return self.trial.params

    @functools.cached_property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.status is Status.COMPLETE else math.nan

    @functools.cached_property
    def std(self) -> float:
        """The population standard deviation of the fold scores (numpy's np.std)."""
        if self.status is not Status.COMPLETE:
            return math.nan
        mean = self.mean
        return math.sqrt(sum((x - mean) ** 2 for x in self.scores) / len(self.scores))

    @property
    def error_line(self) -> str:
        """One line of the error: a traceback's final line, or a reason's first ('' if none)."""
        lines = [line.strip() for line in (self.error or "").strip().splitlines()
                 if line.strip()]
        if not lines:
            return ""
        return lines[-1] if lines[0].startswith("Traceback") else lines[0]


class TrialCrashed(Exception):
    """The process that ran a trial died before it returned (a signal, an exit)."""


class TrialTimedOut(Exception):
    """A trial ran past parallel.timeout and its processes were killed."""


def result_of_error(trial: Trial, error: BaseException, duration: float) -> TrialResult:
    """The result of a trial that ended with `error`: the one map from an exception to a status.

    Pruned by early stopping, crashed, timed out, or failed: a command's own failure keeps its
    short reason and stderr, anything else its traceback.
    """
    from hpsearch.errors import CommandFailed, TrialPruned

    if isinstance(error, TrialPruned):
        extra: dict[str, Any] = {"epoch": error.epoch, "score": error.score}
        if error.metrics:
            extra["metrics"] = error.metrics
        return TrialResult(trial, Status.PRUNED, (), duration, error.reason, extra=extra)
    if isinstance(error, TrialCrashed):
        return TrialResult(trial, Status.CRASHED, (), duration, str(error))
    if isinstance(error, TrialTimedOut):
        return TrialResult(trial, Status.TIMEOUT, (), duration, str(error))
    if isinstance(error, CommandFailed):  # its own reason and stderr say more than a traceback
        return TrialResult(trial, Status.FAILED, (), duration,
                           f"{type(error).__name__}: {error}".strip(), extra=error.details)
    text = "".join(traceback.format_exception(error))
    return TrialResult(trial, Status.FAILED, (), duration, text.strip())


def trial_seed(run_seed: int, number: int) -> int:
    """The trial's own seed: a function of the run seed and the trial number only."""
    import numpy as np

    return int(np.random.SeedSequence([run_seed, number]).generate_state(1)[0])


def plan_trials(
    space: Space, sampler: str, n: int, seed: int, *, round: int = 1, first_number: int = 0,
    enqueue: Sequence[Mapping[str, Any]] = (),
) -> list[Trial]:
    """The n trials a search tries: unit points from the sampler, mapped through the space;
    the first ones at the `enqueue` points (see `enqueued`).

    Round r > 1 draws from its own stream, so adding rounds never changes earlier ones.
    """
    from hpsearch.search.sampling import sample_unit

    stream = seed if round == 1 else seed * 1000 + round
    points = sample_unit(sampler, n, len(space), stream)
    return enqueued(space, trials_at(space, points, seed, round=round,
                                     first_number=first_number), enqueue)


def enqueued(space: Space, trials: Sequence[Trial], points: Sequence[Mapping[str, Any]]
             ) -> list[Trial]:
    """The trials, the first ones moved to given points: each takes a point's values exactly
    as given, and keeps its own sample of the parameters the point leaves out."""
    out = list(trials)
    for i, point in enumerate(points[:len(out)]):
        u = list(out[i].unit)
        for name, value in point.items():
            u[space.dims.index(name)] = space.scales[name].to_unit(value)
        unit = space.snap(u)
        params = space.from_unit(unit)
        params.update({name: value for name, value in point.items() if name in params})
        out[i] = dataclasses.replace(out[i], params=params, unit=unit)
    return out


def trials_at(space: Space, points: Iterable[Sequence[float]], seed: int, *, round: int = 1,
              first_number: int = 0) -> list[Trial]:
    """Trials for given points of the space's unit cube, numbered from first_number.

    Each trial keeps its point snapped to its values (an integer or a choice at the centre of
    its bin), so equal values have equal coordinates wherever they are read.
    """
    trials = []
    for i, u in enumerate(points):
        number = first_number + i
        unit = space.snap(u)
        trials.append(Trial(number, space.from_unit(unit), unit, trial_seed(seed, number), round))
    return trials


def ranked(results: Iterable[TrialResult], direction: Direction
           ) -> list[tuple[int | None, TrialResult]]:
    """Results best first with their rank (ties share the lowest rank, as scikit-learn's
    ``rankdata(method="min")``); trials with no score come last, with rank None."""
    scored = sorted((r for r in results if not math.isnan(r.mean)),
                    key=lambda r: (-direction.gain(r.mean), r.number))
    unscored = sorted((r for r in results if math.isnan(r.mean)), key=lambda r: r.number)
    out: list[tuple[int | None, TrialResult]] = []
    for position, result in enumerate(scored):
        if position and result.mean == scored[position - 1].mean:
            out.append((out[-1][0], result))
        else:
            out.append((position + 1, result))
    out.extend((None, r) for r in unscored)
    return out


def metrics_of(value: Any) -> dict[str, Any]:
    """What an objective returned beside its score: the other keys of a mapping."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if k not in ("score", "scores")}
    return {}


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
