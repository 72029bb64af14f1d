"""Coarse to fine, the multi-round search (``search.rounds``): round 1 samples the whole space;
each later round searches a box around the best trial so far (a trust region that shrinks when
a round brings no improvement), choosing its points there with a Gaussian process of the score
(`surrogate`), plus a small share of points over the whole space. Each round's box is stored and
printed, so the search stays inspectable; everything happens in the unit cube of the run's first
space (see `region`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.search.region import Region, best_first, narrowed, units, whole
from hpsearch.search.strategy import Round, Sampling
from hpsearch.space import Space
from hpsearch.trial import Direction, Status, Trial, TrialResult, enqueued, trials_at

if TYPE_CHECKING:
    from hpsearch.search.surrogate import Surrogate

__all__ = ["CoarseToFine", "auto_rounds", "round_sizes", "learns_from"]

WARM = 3  # complete trials of a warm start that round 1 learns from, at least

FIRST_SHARE = 0.15  # of the budget, at least, for round 1: random points over the whole space


def round_sizes(total: int, rounds: int, first_at_least: int = 0) -> list[int]:
    """How a budget of `total` trials is split over `rounds`: the first round, which explores the
    whole space, gets FIRST_SHARE of it (at least as many as the other rounds get each, and at
    least `first_at_least`); the rest is shared evenly, earlier rounds taking the remainder."""
    if rounds <= 1:
        return [total]
    first = max(math.ceil(FIRST_SHARE * total), math.ceil(total / rounds), first_at_least)
    first = min(first, total - (rounds - 1))
    rest, extra = divmod(total - first, rounds - 1)
    return [first] + [rest + (1 if i < extra else 0) for i in range(rounds - 1)]


def learns_from(history: Sequence[TrialResult], direction: Direction) -> bool:
    """Whether a warm start's trials are enough for round 1 to be the model's."""
    return len(best_first(history, Direction(direction))) >= WARM


def auto_rounds(trials: int, workers: int) -> int:
    """The rounds `search.rounds: auto` picks: one below 20 trials (too few to learn from
    between rounds); rounds of about 10 trials up to 100 trials (3 rounds for 30, 10 for 100);
    beyond, 5 more rounds each time the budget doubles (15 for 200, 27 for 1,000), so that the
    model learns often without a round's proposal costing more than its trials; fewer while a
    later round would get less than twice `workers` trials (idle cores). Measured against
    fewer, larger rounds in benchmarks/search_quality.py."""
    if trials < 20:
        return 1
    rounds = round(trials / 10) if trials <= 100 else round(10 + 5 * math.log2(trials / 100))
    while rounds > 1 and min(round_sizes(trials, rounds)) < 2 * workers:
        rounds -= 1
    return rounds


class CoarseToFine(Sampling):
    """The multi-round search: each round a region to print and store, and the points to try.

    A trust region with a model inside, as measured best (benchmarks/search_quality.py): each
    later round searches a box centred on the best trial so far. The box's side starts at `side`
    (in u) and shrinks by `shrink` after a round that did not improve on the best; along each
    parameter it is narrowed further, down to a quarter of the side, where the top trials agree
    (twice their spread). Inside the box, a Gaussian process fitted to the trials so far picks
    the points by Thompson sampling. A `global_share` of each round samples the whole space, so
    a region that misses the optimum can still be corrected.

    Round 1 is the sampler's points over the whole space; with a warm start (a `history` of at
    least 3 complete trials) it is the model's too, in a region around them. A round's points
    follow from the seed and the results of the rounds before it, so it is proposed once those
    are in (`needs`).
    """

    def __init__(self, space: Space, direction: Direction, *, trials: int, seed: int,
                 rounds: int = 1, sampler: str = "random",
                 enqueue: Sequence[Mapping[str, Any]] = (),
                 history: Sequence[TrialResult] = (), side: float = 0.5, shrink: float = 0.6,
                 global_share: float = 0.05, gamma: float = 0.15) -> None:
        super().__init__(space, direction, trials=trials, seed=seed, sampler=sampler,
                         enqueue=enqueue, history=history)
        self.side = side
        self.shrink = shrink
        self.global_share = global_share
        self.gamma = gamma
        self.sizes = round_sizes(trials, rounds, len(self.enqueue))
        self.starts = [sum(self.sizes[:r]) for r in range(len(self.sizes))]
        self.warm = learns_from(self.history, self.direction)

    def round_start(self, number: int) -> int:
        return max(s for s in self.starts if s <= number)

    def needs(self, number: int) -> int:
        return self.round_start(number)

    def plan(self, start: int) -> tuple[Round, list[Trial]]:
        r = self.starts.index(start) + 1
        size = self.sizes[r - 1]
        if r == 1 and not self.warm:
            return self.first_round(size)
        region, points = self.propose([*self.history, *self.results], size,
                                      np.random.default_rng([self.seed, r]))
        trials = trials_at(self.space, points, self.seed, round=r, first_number=start)
        if r == 1:
            trials = enqueued(self.space, trials, self.enqueue)
        return Round(r, region, size, "random" if r == 1 and region.is_whole else "zoom"), \
            trials

    def _side(self, results: Sequence[TrialResult]) -> float:
        """The box side after the rounds so far: replayed from the results, so a resumed run
        gets the same region."""
        side = self.side
        rounds = sorted({r.trial.round for r in results})
        best = -math.inf
        for r in rounds:
            scores = [self.direction.gain(t.mean) for t in results
                      if t.trial.round == r and t.status is Status.COMPLETE]
            round_best = max(scores, default=-math.inf)
            if r > rounds[0] and round_best <= best:
                side *= self.shrink
            best = max(best, round_best)
        return side

    def region(self, results: Sequence[TrialResult], model: Surrogate | None = None) -> Region:
        """The box the next round searches."""
        return self._region(results, model)[0]

    def _region(self, results: Sequence[TrialResult], model: Surrogate | None = None
                ) -> tuple[Region, list[list[float] | None]]:
        """The box, and for each unordered parameter (a choice) the u of the values it keeps
        (those of the top trials). Its
        centre is the best trial, or with a model, the one of the top trials the model expects
        most of: on noisy scores, the best observed is partly luck."""
        d = len(self.space)
        ranked = best_first(results, self.direction)
        if not ranked:  # nothing to learn from yet: the whole space
            return whole(self.space), [None] * d
        top = ranked[:max(3, math.ceil(self.gamma * len(ranked)))]
        best = top[int(np.argmax(model.mean(units(top, d))))] if model is not None \
            else ranked[0]
        centre = np.array(best.trial.unit, dtype=float)
        half = np.full(d, self._side(results) / 2)
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

    def propose(self, results: Sequence[TrialResult], n: int,
                rng: np.random.Generator) -> tuple[Region, np.ndarray]:
        """The next round's region and n points of the unit cube (shape (n, d)): most chosen in
        the region by the model (`surrogate.Surrogate`), a share uniform in the whole space."""
        from hpsearch.search.surrogate import Surrogate

        d = len(self.space)
        done = best_first(results, self.direction)
        model = Surrogate(self.space, results, self.direction, units(done[:1], d)[0], rng) \
            if len(done) >= 3 else None
        region, options = self._region(results, model)
        lo, hi = np.array(region.lo), np.array(region.hi)
        n_global = int(round(self.global_share * n))
        inside = model.propose(lo, hi, options, n - n_global, rng) if model is not None \
            else lo + rng.random((n - n_global, d)) * (hi - lo)
        points = np.vstack([rng.random((n_global, d)), inside])
        return region, points
