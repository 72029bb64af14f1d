"""The strategy protocol: where to try next, the seam between the search and the driver.

A strategy proposes trials and learns from their results; it never runs a trial, opens a store
or reads a clock. The driver (`hpsearch.driver`) calls it in an order that depends only on the
seed and on the results, never on when trials end:

- ``needs(number)``: trial `number`'s point depends on the results of every trial numbered below
  what this returns; the driver tells them all before it asks for that trial;
- ``tell(result)``: a trial's result, in trial-number order, each once;
- ``ask(number)``: the trial `number`, asked in number order, from `first` on; with the `Round`
  it opens when it is the first of one (its region is printed and stored with the run);
- ``ready(number)``: whether `ask` would answer at once (a strategy may plan in the background
  while trials run; the driver collects results meanwhile instead of waiting on it).

So two runs of one seed ask and tell the same things in the same order, and try the same trials,
whatever the workers, the backend, or the order in which trials end. With early stopping, the
driver also holds trial i until the trials numbered below i − lookahead have ended, and tells the
trial so (`Trial.peers`): it is compared with those alone, whose reports are all in by then, so
that which trials stop is as reproducible as the points.

A strategy that is not `reproducible` (``search.reproducible: false``) gives that up for
workers that never wait: the driver keeps as many trials in flight as there are workers, asks
for the next one the moment a worker frees up, and tells each result as it ends, in the order
trials end, so that every trial learns from all that has ended before it starts.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from hpsearch.search.region import Region, whole
from hpsearch.space import Space
from hpsearch.trial import Direction, Trial, TrialResult, plan_trials, trials_at

__all__ = ["Round", "Strategy", "point_problem", "Sampling", "Planned", "Evaluator", "drive",
           "evaluate_all"]


@dataclass(frozen=True)
class Round:
    """A round as the user sees it: its number, the region it searches, how many trials it has,
    and its kind (random: round 1 over the whole space; zoom: a narrower region; retest)."""

    number: int
    region: Region
    size: int
    kind: str = "zoom"


class Strategy(abc.ABC):
    """Where to try next; see the module's docstring.

    Args:
        space: the run's space; points are of its unit cube.
        direction: which scores are better.
        trials: how many trials it proposes: numbers `first` to `first + trials - 1`.
        seed: the run seed; every point it proposes follows from it and the results.
        lookahead: the run's `search.lookahead`: trials that may run between the results a trial
            learns from and its own start (a strategy's `needs` may use it; see `known`).
        history: results of earlier runs to learn from (a warm start), numbered below 0.
    """

    reproducible = True  # its trials follow from the seed and results alone (see the module)

    def __init__(self, space: Space, direction: Direction, *, trials: int, seed: int,
                 first: int = 0, lookahead: int = 1,
                 history: Sequence[TrialResult] = ()) -> None:
        self.space, self.direction = space, Direction(direction)
        self.trials, self.seed, self.first = trials, seed, first
        self.lookahead = lookahead
        self.history = list(history)
        self.results: list[TrialResult] = []  # told, in trial-number order

    def needs(self, number: int) -> int:
        """Trial `number` is proposed from the results of the trials numbered below this."""
        return self.first

    def tell(self, result: TrialResult) -> None:
        """A trial's result (in trial-number order; as trials end, when not reproducible)."""
        self.results.append(result)

    @abc.abstractmethod
    def ask(self, number: int) -> tuple[Trial, Round | None]:
        """Trial `number` (asked in number order), and the round it opens, if it opens one."""

    def ready(self, number: int) -> bool:
        """Whether `ask(number)` answers without waiting for work in progress."""
        return True

    def known(self, number: int) -> list[TrialResult]:
        """The results trial `number` may learn from: those numbered below `needs(number)`.
        More may have been told by then (how many depends on when trials ended), so a strategy
        that learns from these alone proposes the same trials in every run of its seed."""
        below = self.needs(number)
        return [r for r in self.results if r.number < below]

    def trial(self, number: int, point: Sequence[float], round: int = 1) -> Trial:
        """Trial `number` at a point of the unit cube (snapped to the space's values), with the
        seed every trial of that number gets in this run.

        Raises:
            ValueError: the point is not one of the unit cube (see `point_problem`).
        """
        problem = point_problem(self.space, point)
        if problem:
            raise ValueError(problem)
        return trials_at(self.space, [point], self.seed, round=round, first_number=number)[0]

    def close(self) -> None:  # noqa: B027 (most strategies have nothing to stop)
        """Stop work in progress (the run ends or is interrupted)."""


def point_problem(space: Space, point: Any) -> str:
    """What keeps `point` from being a point of the space's unit cube ("" when nothing): one
    finite coordinate in 0..1 per searched parameter, in `space.dims` order."""
    try:
        coordinates = [float(x) for x in point]
    except (TypeError, ValueError):
        return f"a point is a sequence of numbers, got {point!r:.80}"
    if len(coordinates) != len(space):
        names = ", ".join(space.dims)
        return (f"a point of {len(coordinates)} coordinate{'s' * (len(coordinates) != 1)} "
                f"for a space of {len(space)} searched parameters ({names})")
    for name, x in zip(space.dims, coordinates):
        if not -1e-9 <= x <= 1 + 1e-9:  # NaN included
            return f"{name}'s coordinate is {x}: each is in 0..1, the parameter's range"
    return ""


class Sampling(Strategy):
    """One round over the whole space: the sampler's points (random, sobol or grid; see
    `hpsearch.search.sampling`), the `enqueue` points first (their values as given, the
    parameters they leave out sampled)."""

    def __init__(self, space: Space, direction: Direction, *, trials: int, seed: int,
                 sampler: str = "random", enqueue: Sequence[Mapping[str, Any]] = (),
                 history: Sequence[TrialResult] = ()) -> None:
        super().__init__(space, direction, trials=trials, seed=seed, history=history)
        self.sampler, self.enqueue = sampler, list(enqueue)
        self._planned: dict[int, tuple[Round, list[Trial]]] = {}

    def first_round(self, size: int) -> tuple[Round, list[Trial]]:
        """Round 1: `size` of the sampler's points over the whole space."""
        trials = plan_trials(self.space, self.sampler, size, self.seed, enqueue=self.enqueue)
        return Round(1, whole(self.space), size, "random"), trials

    def plan(self, start: int) -> tuple[Round, list[Trial]]:
        """The round whose first trial is `start`, and its trials."""
        return self.first_round(self.trials)

    def round_start(self, number: int) -> int:
        """The first trial of the round that trial `number` is in."""
        return self.first

    def ask(self, number: int) -> tuple[Trial, Round | None]:
        start = self.round_start(number)
        if start not in self._planned:
            self._planned = {start: self.plan(start)}  # earlier rounds are asked no more
        round_, trials = self._planned[start]
        return trials[number - start], round_ if number == start else None


class Planned(Strategy):
    """Trials planned beforehand, as one round: a zoom round into a run, a retest."""

    def __init__(self, space: Space, direction: Direction, round_: Round,
                 trials: Sequence[Trial]) -> None:
        super().__init__(space, direction, trials=len(trials), seed=0, first=trials[0].number)
        self.round, self.planned = round_, list(trials)

    def ask(self, number: int) -> tuple[Trial, Round | None]:
        i = number - self.first
        return self.planned[i], self.round if i == 0 else None


class Evaluator(Protocol):
    """What `drive` hands trials to (the driver's runner, or `evaluate_all`'s batches)."""

    def submit(self, trials: Sequence[Trial]) -> None: ...

    def next_result(self) -> TrialResult: ...


def drive(strategy: Strategy, evaluator: Evaluator, *,
          known: Callable[[Trial], TrialResult | None] = lambda trial: None,
          on_round: Callable[[Round], None] = lambda round_: None,
          lookahead: int | None = None, workers: int = 1) -> None:
    """Run a strategy to its end: ask for every trial whose needs are met and submit them
    together, then tell each result in trial-number order as results come, until every trial
    is told. `known` gives the result a trial already has (a resumed run's), which is told
    without running it again; `on_round` hears each round as it opens, before its trials run.

    With a `lookahead` (early stopping is on), trial i also waits for the trials numbered below
    i − lookahead, and carries that number as its `peers`: the only trials it is compared with
    (unless the strategy gave it peers: 0 for a trial never to be stopped).

    A strategy that is not reproducible is driven as trials end instead (`_as_they_end`),
    `workers` trials in flight.
    """
    if not strategy.reproducible:
        return _as_they_end(strategy, evaluator, known, on_round, workers)
    end = strategy.first + strategy.trials
    number = told = strategy.first
    ended: dict[int, TrialResult] = {}
    waiting = 0  # submitted, not yet ended

    def gate(i: int) -> int:
        needs = strategy.needs(i)
        return needs if lookahead is None else max(needs, i - lookahead)

    try:
        while told < end:
            batch = []
            while number < end and gate(number) <= told and \
                    (strategy.ready(number) or not waiting):
                trial, opened = strategy.ask(number)
                if opened is not None:
                    on_round(opened)
                result = known(trial)
                if result is None:
                    batch.append(trial if lookahead is None or trial.peers is not None
                                 else replace(trial, peers=number - lookahead))
                else:
                    ended[number] = result
                number += 1
            if batch:
                evaluator.submit(batch)
                waiting += len(batch)
            if told not in ended:
                if not waiting:
                    raise RuntimeError(f"{type(strategy).__name__} needs the result of trial "
                                       f"{told} before it proposes it")
                result = evaluator.next_result()
                ended[result.number] = result
                waiting -= 1
            while told in ended:
                strategy.tell(ended.pop(told))
                told += 1
    finally:
        strategy.close()


def _as_they_end(strategy: Strategy, evaluator: Evaluator,
                 known: Callable[[Trial], TrialResult | None],
                 on_round: Callable[[Round], None], workers: int) -> None:
    """`drive` for a strategy that is not reproducible: a trial is asked for the moment a
    worker is free (`workers` in flight), each result told as it ends. Early stopping compares
    a trial with every trial that reported the same epoch before it (no `peers`)."""
    end = strategy.first + strategy.trials
    number, waiting = strategy.first, 0
    try:
        while number < end or waiting:
            batch: list[Trial] = []
            while number < end and waiting + len(batch) < max(1, workers):
                trial, opened = strategy.ask(number)
                if opened is not None:
                    on_round(opened)
                number += 1
                result = known(trial)
                if result is None:
                    batch.append(trial)
                else:
                    strategy.tell(result)
            if batch:
                evaluator.submit(batch)
                waiting += len(batch)
            if waiting:
                strategy.tell(evaluator.next_result())
                waiting -= 1
    finally:
        strategy.close()


class _Batches:
    """Submitted trials evaluated one batch at a time, in this process."""

    def __init__(self, evaluate: Callable[[list[Trial]], Sequence[TrialResult]]) -> None:
        self.evaluate = evaluate
        self.batches: list[list[Trial]] = []
        self.ended: list[TrialResult] = []

    def submit(self, trials: Sequence[Trial]) -> None:
        self.batches.append(list(trials))

    def next_result(self) -> TrialResult:
        if not self.ended:
            self.ended = list(self.evaluate(self.batches.pop(0)))
        return self.ended.pop(0)


def evaluate_all(strategy: Strategy, evaluate: Callable[[list[Trial]], Sequence[TrialResult]],
                 ) -> list[TrialResult]:
    """Every trial of a strategy, `evaluate`d batch by batch in this process (benchmarks,
    tests): the order of asks and tells a run has, without workers or a store."""
    results: list[TrialResult] = []

    def kept(trials: list[Trial]) -> Sequence[TrialResult]:
        done = evaluate(trials)
        results.extend(done)
        return done

    drive(strategy, _Batches(kept))
    return results
