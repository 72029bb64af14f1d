"""Coarse to fine, the model-based search (``search.rounds``): round 1 samples the whole space;
each later round searches a box around the best trials so far (a trust region), choosing its
points there with a Gaussian process of the score (`surrogate`), and a share of them over the
whole space by the same model. Each round's box is stored and printed, so the search stays
inspectable; everything happens in the unit cube of the run's first space (see `region`).

No worker waits for a round. With a look-ahead L (``search.lookahead``), round r, whose first
trial is s_r, is planned from the results of the trials numbered below s_r − L: it is planned in
the background while the L trials before it run, and its trials start as workers free up. So
every point follows from the seed and the results alone, however the trials' timing falls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.search.region import Region, best_first, narrowed, units, whole
from hpsearch.search.strategy import Round, Sampling
from hpsearch.space import Space
from hpsearch.trial import Direction, Status, Trial, TrialResult, enqueued, trials_at

if TYPE_CHECKING:
    from hpsearch.search.surrogate import Surrogate

__all__ = ["CoarseToFine", "round_sizes", "auto_rounds", "auto_lookahead", "first_round",
           "learns_from"]

WARM = 3  # complete trials of a warm start that round 1 learns from, at least
FIRST_SHARE = 0.15  # of the budget, at least, for round 1: random points over the whole space
GROWTH = 0.15  # with rounds: auto, each later round has this share of the trials before it
SMALLEST = 4  # trials in a round, at least: its Thompson draws spread over the region
SIDE_MIN = 0.05  # the trust region's side (in u) never goes below this
PROMOTE = 0.05  # of the budget, at most: stopped trials the last round trains again in full


def auto_lookahead(workers: int) -> int:
    """The look-ahead `search.lookahead: auto` picks: 1 for one worker (the next trial is
    proposed while one runs); else the workers, a quarter more and 2, so that a trial slower
    than the others rarely holds a free worker back (measured in benchmarks/engine.py)."""
    return 1 if workers <= 1 else workers + math.ceil(workers / 4) + 2


def first_round(total: int, lookahead: int, dims: int, enqueue: int = 0) -> int:
    """Round 1's size: FIRST_SHARE of the budget, and at least enough that round 2 learns from
    max(5, dims + 1) results with the look-ahead L trials still running."""
    return min(total, max(math.ceil(FIRST_SHARE * total), lookahead + max(5, dims + 1), enqueue))


def round_sizes(total: int, first: int, rounds: int) -> list[int]:
    """How a budget of `total` trials is split over `rounds`: round 1 of `first` trials, then
    rounds that grow by GROWTH each, as the results they learn from do."""
    first = min(first, total)
    if rounds <= 1 or total - first < rounds - 1:
        return [total]
    weights = np.cumsum((1 + GROWTH) ** np.arange(rounds - 1))
    ends = [first] + [first + round((total - first) * w / weights[-1]) for w in weights]
    for k in range(1, rounds):  # every round at least one trial
        ends[k] = min(max(ends[k], ends[k - 1] + 1), total - (rounds - 1 - k))
    return [ends[0]] + [b - a for a, b in zip(ends, ends[1:])]


def auto_rounds(total: int, first: int) -> int:
    """The rounds `search.rounds: auto` picks: one below 20 trials (too few to learn from
    between rounds); else as many as make each later round add about GROWTH to the trials
    before it (and have SMALLEST trials at least): 5 rounds for 30 trials on 2 workers, 11 for
    100, 15 for 1,000 or 10,000 (round 1 grows with the budget too); the model is fitted once a
    round, so its cost grows with the log of the budget at most."""
    if total < 20 or total - first < SMALLEST:
        return 1
    rounds = 1 + max(1, round(math.log(total / min(first, total)) / math.log(1 + GROWTH)))
    while rounds > 2 and min(round_sizes(total, first, rounds)) < SMALLEST:
        rounds -= 1
    return rounds


def learns_from(history: Sequence[TrialResult], direction: Direction) -> bool:
    """Whether a warm start's trials are enough for round 1 to be the model's."""
    return len(best_first(history, Direction(direction))) >= WARM


class CoarseToFine(Sampling):
    """The model-based search: each round a region to print and store, and the points to try.

    A trust region with a model inside: each later round searches a box centred on the trial
    the model expects most of among the best so far. The box's side starts at `side` (in u),
    grows by `grow` after a round that clearly improved on the best, and shrinks by `shrink`
    after two rounds in a row that fell clearly short of it; a round within the noise of the
    best (a plateau of equal accuracies) changes nothing; it never goes below SIDE_MIN. The
    noise is the model's (`surrogate.Surrogate.noise`), never the spread between folds, which
    every trial shares. Along
    each parameter it is narrowed further, down to a quarter of the side, where the top trials
    agree (twice their spread). The model picks the points by Thompson sampling: most in the
    box, a `global_share` over the whole space, where the same model sends them only if it
    expects gains there, so a search can leave a basin it settled in.

    Round 1 is the sampler's points over the whole space; with a warm start (a `history` of at
    least 3 complete trials) it is the model's too, in a region around them. Round r is planned
    from the results of the trials numbered below its first minus `lookahead` (`needs`), in a
    thread of its own as soon as those are told, so that workers never wait for it (`ready`).
    Not `reproducible`, a round is planned when its first trial is asked, from every result
    told by then (the driver tells them as trials end), the trials in flight known to the
    model as always.

    Args:
        rounds: how many rounds (None: `auto_rounds`); see `round_sizes`.
        lookahead: trials that may run between the results a round learns from and its start
            (not reproducible: the trials in flight, which size round 1 alike).
        reproducible: False for a search that never waits and learns from every result in
            (``search.reproducible``), whose points then depend on when trials end.
    """

    def __init__(self, space: Space, direction: Direction, *, trials: int, seed: int,
                 rounds: int | None = None, lookahead: int = 1, sampler: str = "random",
                 enqueue: Sequence[Mapping[str, Any]] = (),
                 history: Sequence[TrialResult] = (), side: float = 0.5, grow: float = 1.5,
                 shrink: float = 0.6, global_share: float = 0.2, gamma: float = 0.15,
                 reproducible: bool = True) -> None:
        super().__init__(space, direction, trials=trials, seed=seed, sampler=sampler,
                         enqueue=enqueue, history=history)
        self.lookahead = lookahead
        self.reproducible = reproducible
        self.side, self.grow, self.shrink = side, grow, shrink
        self.global_share = global_share
        self.gamma = gamma
        first = first_round(trials, lookahead, len(space), len(self.enqueue))
        self.sizes = round_sizes(trials, first, auto_rounds(trials, first) if rounds is None
                                 else rounds)
        self.starts = [sum(self.sizes[:r]) for r in range(len(self.sizes))]
        self.warm = learns_from(self.history, self.direction)
        self._theta: np.ndarray | None = None  # the last model's kernel: the next starts there
        self._units: dict[int, tuple[float, ...]] = {}  # every planned trial's point (planner)
        self._plans: dict[int, Future[tuple[Round, list[Trial]]]] = {}
        self._planner: ThreadPoolExecutor | None = None

    def round_start(self, number: int) -> int:
        return max(s for s in self.starts if s <= number)

    def _inputs(self, start: int) -> int:
        """How many of this run's results the round starting at `start` is planned from."""
        if start == self.starts[0]:
            return 0
        return start - self.first - self.lookahead

    def needs(self, number: int) -> int:
        if not self.reproducible:
            return self.first
        return self.first + self._inputs(self.round_start(number))

    def tell(self, result: TrialResult) -> None:
        super().tell(result)
        if not self.reproducible:
            return
        for start in self.starts[1:]:  # a round whose inputs are all in: plan it meanwhile
            if self._inputs(start) == len(self.results) and start not in self._plans:
                self._submit(start)

    def ready(self, number: int) -> bool:
        plan = self._plans.get(self.round_start(number))
        return plan is None or plan.done()

    def plan(self, start: int) -> tuple[Round, list[Trial]]:
        if not self.reproducible:  # from every result in, now
            return self._plan(start, [*self.history, *self.results])
        if start not in self._plans:
            self._submit(start)
        found = self._plans[start].result()
        for earlier in [s for s in self._plans if s < start]:  # asked no more
            del self._plans[earlier]
        return found

    def close(self) -> None:
        if self._planner is not None:
            self._planner.shutdown(wait=True, cancel_futures=True)
            self._planner = None

    def _submit(self, start: int) -> None:
        results = [*self.history, *self.results[:self._inputs(start)]]
        if self._planner is None:
            self._planner = ThreadPoolExecutor(1, thread_name_prefix="hpsearch-plan")
        self._plans[start] = self._planner.submit(self._plan, start, results)

    def _plan(self, start: int, results: list[TrialResult]) -> tuple[Round, list[Trial]]:
        """Round r's trials from the results it learns from (in the planning thread, one BLAS
        thread: the cores belong to the trials running beside it)."""
        from threadpoolctl import threadpool_limits

        r = self.starts.index(start) + 1
        size = self.sizes[r - 1]
        if r == 1 and not self.warm:
            found = self.first_round(size)
            self._units.update((t.number, t.unit) for t in found[1])
            return found
        told = {res.number for res in results}
        pending = np.array([u for number, u in sorted(self._units.items())
                            if number < start and number not in told], dtype=float)
        with threadpool_limits(1):
            region, points = self.propose(results, start, size,
                                          np.random.default_rng([self.seed, r]), pending)
            again = self.promoted(results, size) if r == len(self.sizes) > 1 else []
        trials = trials_at(self.space, points[:size - len(again)], self.seed, round=r,
                           first_number=start)
        end = start + len(trials)
        trials += [Trial(end + i, old.params, old.trial.unit, old.trial.seed, round=r,
                         retest_of=old.number, peers=0) for i, old in enumerate(again)]
        if r == 1:
            trials = enqueued(self.space, trials, self.enqueue)
        self._units.update((t.number, t.unit) for t in trials)
        return Round(r, region, size, "random" if r == 1 and region.is_whole else "zoom"), \
            trials

    def _side(self, results: Sequence[TrialResult], noise: float = 0.0) -> float:
        """The box's side after the rounds whose every trial is in `results`, a round's best
        within `noise` of the best before it a tie: replayed from them, so a resumed run gets
        the same region."""
        mine = {r.number: r for r in results if r.number >= self.first}
        side, best, short = self.side, -math.inf, 0
        for r, start in enumerate(self.starts):
            numbers = range(start, start + self.sizes[r])
            if not all(n in mine for n in numbers):
                break
            done = [mine[n] for n in numbers if mine[n].status is Status.COMPLETE]
            if not done:
                continue
            top = max(done, key=lambda t: self.direction.gain(t.mean))
            gain = self.direction.gain(top.mean)
            if r > 0 and gain > best + noise:  # clearly better: the box may be too small
                side, short = min(1.0, side * self.grow), 0
            elif r > 0 and gain < best - noise:  # clearly short of the best
                short += 1
                if short == 2:
                    side, short = max(SIDE_MIN, side * self.shrink), 0
            best = max(best, gain)
        return side

    def region(self, results: Sequence[TrialResult], model: Surrogate | None = None) -> Region:
        """The box the next round searches."""
        return self._region(results, model)[0]

    def _region(self, results: Sequence[TrialResult], model: Surrogate | None = None
                ) -> tuple[Region, list[list[float] | None]]:
        """The box, and for each unordered parameter (a choice) the u of the values it keeps
        (those of the top trials). Its centre is the best trial, or with a model, the one of
        the top trials the model expects most of: on noisy scores, the best observed is partly
        luck."""
        d = len(self.space)
        ranked = best_first(results, self.direction)
        if not ranked:  # nothing to learn from yet: the whole space
            return whole(self.space), [None] * d
        top = ranked[:max(3, math.ceil(self.gamma * len(ranked)))]
        best = top[int(np.argmax(model.mean(units(top, d))))] if model is not None \
            else ranked[0]
        centre = np.array(best.trial.unit, dtype=float)
        half = np.full(d, self._side(results, 0.0 if model is None else model.noise) / 2)
        if len(ranked) > len(top):
            spread = units(top, d).std(axis=0)
            half = np.clip(2 * spread, 0.25 * half, half)
        lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
        options: list[list[float] | None] = [None] * d
        for i, name in enumerate(self.space.dims):
            scale = self.space.scales[name]
            if name not in best.params:  # absent from the centre trial: its whole range
                lo[i], hi[i] = 0.0, 1.0
            elif not scale.ordered:  # no order: the values of the top trials
                lo[i], hi[i] = 0.0, 1.0
                options[i] = sorted({scale.snap(scale.to_unit(r.params[name])) for r in top
                                     if name in r.params})
        seen = {name: [r.params[name] for r in top if name in r.params]
                for name in self.space.dims}
        return Region(tuple(map(float, lo)), tuple(map(float, hi)),
                      narrowed(self.space, lo, hi, seen=seen), (), (best.number,)), options

    def promoted(self, results: Sequence[TrialResult], size: int) -> list[TrialResult]:
        """The stopped trials the last round trains again in full (same point, same seed, never
        stopped: `peers` 0): those that a model of the complete trials alone (what a full
        training scored, near them) rates at least as high as the best complete trial; the
        best of them first, at most PROMOTE of the budget and half the round. Early
        stopping may stop a trial that starts slowly and would have ended best; this gives
        the likeliest ones their chance."""
        from hpsearch.search.surrogate import Surrogate

        again = {r.trial.retest_of for r in results}
        stopped = [r for r in results if r.status is Status.PRUNED and r.number >= self.first
                   and r.trial.retest_of is None and r.number not in again]
        done = best_first(results, self.direction)
        count = min(math.floor(PROMOTE * self.trials), size // 2)
        if not stopped or len(done) < 5 or count < 1:
            return []
        d = len(self.space)
        model = Surrogate(self.space, done, self.direction, units(done[:1], d)[0], self._theta)
        bar = float(model.mean(units(done[:9], d)).max())
        rated = model.mean(units(stopped, d))
        order = [i for i in np.argsort(-rated, kind="stable") if rated[i] >= bar]
        return [stopped[i] for i in order[:count]]

    def propose(self, results: Sequence[TrialResult], start: int, n: int,
                rng: np.random.Generator, pending: np.ndarray | None = None
                ) -> tuple[Region, np.ndarray]:
        """The region of the round starting at trial `start` and its n points of the unit cube
        (shape (n, d)): most chosen in the region by the model (`surrogate.Surrogate`), the
        global share over the whole space by the same model (uniform before there is one).
        `pending` are the points of the trials in flight meanwhile (planned, not yet told):
        the model knows where they are."""
        from hpsearch.search.surrogate import Surrogate

        d = len(self.space)
        done = best_first(results, self.direction)
        model = None
        if len(done) >= 3:
            model = Surrogate(self.space, results, self.direction, units(done[:1], d)[0],
                              self._theta, pending)
            self._theta = model.theta
        region, options = self._region(results, model)
        lo, hi = np.array(region.lo), np.array(region.hi)
        share = self.global_share  # an exact share of the trials so far, round after round
        n_global = math.floor(share * (start + n)) - math.floor(share * start)
        if model is None:
            inside = lo + rng.random((n - n_global, d)) * (hi - lo)
            outside = rng.random((n_global, d))
        else:
            inside = model.propose([(lo, hi, options)], n - n_global, rng)
            outside = model.propose([(np.zeros(d), np.ones(d), [None] * d)], n_global, rng) \
                if n_global else np.empty((0, d))
        return region, np.vstack([outside, inside])

