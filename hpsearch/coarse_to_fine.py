"""Coarse to fine: find where the best trials are, in each parameter's own scale, and search there.

Everything happens in the unit cube of the run's first space: a region is a box [lo, hi] of u per
searched parameter, and ``scale.narrow(lo, hi)`` turns it back into a range of the same scale
(log10 of the value for `log`, log10(1 − β) for `one_minus_log`, linear for `uniform`).

Two uses:

- `zoom`: the box around a run's top trials (``hpsearch zoom``): printable, editable, written as a
  config of the same scales with narrower bounds.
- `CoarseToFine`: the multi-round search (``search.rounds``). Round 1 samples the whole space;
  each later round searches a box around the best trial so far (a trust region that shrinks when
  a round brings no improvement), choosing its points there with a Gaussian process of the
  score, plus a small share of points over the whole space. Each round's box is stored and
  printed, so the search stays inspectable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpsearch.space import Choice, Space
from hpsearch.trial import (
    Direction,
    Status,
    Trial,
    TrialResult,
    enqueued,
    plan_trials,
    trials_at,
)

if TYPE_CHECKING:
    from hpsearch.surrogate import Surrogate

__all__ = ["Region", "zoom", "CoarseToFine", "auto_rounds", "round_sizes", "search_rounds"]

EDGE = 0.1  # the outer tenth of a range counts as its edge
SPREAD = 0.8  # top trials spanning this share of a range say the parameter may not matter


@dataclass(frozen=True)
class Region:
    """A box of the first space's unit cube and the narrower space it stands for."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    space: Space
    warnings: tuple[str, ...] = ()
    source: tuple[int, ...] = field(default=())  # the trial numbers it was drawn around

    def shrink(self, name: str, dims: Sequence[str]) -> float:
        """How many times narrower than the whole range the parameter's range is, in u."""
        i = list(dims).index(name)
        width = self.hi[i] - self.lo[i]
        return math.inf if width <= 0 else 1.0 / width


def _complete(results: Sequence[TrialResult], direction: Direction) -> list[TrialResult]:
    """The complete trials, best first (the lower number first among equals)."""
    done = [r for r in results if r.status is Status.COMPLETE]
    return sorted(done, key=lambda r: (-direction.gain(r.mean), r.number))


def _units(results: Sequence[TrialResult], d: int) -> np.ndarray:
    """The trials' stored points of the run's first space's unit cube, shape (n, d)."""
    return np.array([r.trial.unit for r in results], dtype=float).reshape(len(results), d)


def _narrowed(space: Space, lo: np.ndarray, hi: np.ndarray,
              seen: Mapping[str, Sequence[Any]] | None = None) -> Space:
    """The space of the box [lo, hi]; what has no order (a choice) keeps the values `seen`
    (among the trials the region was drawn around), or, without any, those whose share of u
    meets the box."""
    scales = {}
    for name, scale in space.scales.items():
        if scale.is_fixed:
            scales[name] = scale
            continue
        i = space.dims.index(name)
        scales[name] = scale.narrow(float(lo[i]), float(hi[i]), (seen or {}).get(name) or None)
    return space.restricted(scales)


def zoom(space: Space, results: Sequence[TrialResult], direction: Direction, *,
         top: int | None = None,
         top_fraction: float | None = None, margin: float = 0.25) -> Region:
    """The region around a run's best trials.

    For each searched parameter: the span (in u) of the top trials, widened on each side by
    `margin` times its width (at least 2 % of the range), clipped to the range. An `int` range is
    rounded outwards, a `choice` keeps the options seen among the best. The best trial always
    lies inside.

    Args:
        top: how many of the best complete trials (default: 20 %, at least 3).
        top_fraction: or that share of the complete trials.

    Raises:
        ValueError: with fewer than two complete trials.
    """
    ranked = _complete(results, Direction(direction))
    if len(ranked) < 2:
        raise ValueError(f"only {len(ranked)} complete trial(s): zoom needs at least 2")
    if top is None:
        fraction = 0.2 if top_fraction is None else top_fraction
        top = max(3, math.ceil(fraction * len(ranked)))
    best = ranked[: max(2, min(top, len(ranked)))]
    u = _units(best, len(space))
    # a parameter is boxed by the best trials that have it (a conditional one may be absent)
    has = np.array([[name in r.params for name in space.dims] for r in best]).reshape(u.shape)
    lo = np.where(has.any(axis=0), np.where(has, u, np.inf).min(axis=0), 0.0)
    hi = np.where(has.any(axis=0), np.where(has, u, -np.inf).max(axis=0), 1.0)
    pad = np.maximum(margin * (hi - lo), 0.02)
    lo, hi = np.clip(lo - pad, 0, 1), np.clip(hi + pad, 0, 1)
    warnings = []
    if len(ranked) < 10:
        warnings.append(f"only {len(ranked)} complete trials: the region is a rough guess")
    for i, name in enumerate(space.dims):
        scale = space.scales[name]
        column = u[has[:, i], i]
        if not scale.ordered or len(column) < 2:
            continue
        spread = column.max() - column.min()
        bound = None
        if column.min() >= 1 - EDGE:
            bound = ("upper", scale.from_unit(1.0))
        elif column.max() <= EDGE:
            bound = ("lower", scale.from_unit(0.0))
        if bound is not None:
            warnings.append(
                f"{name}: the best {len(column)} trials are all at the {bound[0]} bound "
                f"{scale.format(bound[1])}; the optimum may lie outside the range: widen it")
        elif spread >= SPREAD:
            lo[i], hi[i] = 0.0, 1.0
            warnings.append(f"{name}: not narrowed: the best {len(column)} trials span "
                            f"{spread:.0%} of its range, so it may not matter much")
    region_space = _narrowed(space, lo, hi,
                             {n: [r.params[n] for r in best if n in r.params] for n in space.dims})
    return Region(tuple(map(float, lo)), tuple(map(float, hi)), region_space, tuple(warnings),
                  tuple(r.number for r in best))


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


class CoarseToFine:
    """The multi-round search: each round a region to print and store, and the points to try.

    A trust region with a model inside, as measured best (benchmarks/search_quality.py): each
    later round searches a box centred on the best trial so far. The box's side starts at `side`
    (in u) and shrinks by `shrink` after a round that did not improve on the best; along each
    parameter it is narrowed further, down to a quarter of the side, where the top trials agree
    (twice their spread). Inside the box, a Gaussian process fitted to the trials so far picks
    the points by Thompson sampling. A `global_share` of each round samples the whole space, so
    a region that misses the optimum can still be corrected.
    """

    def __init__(self, space: Space, direction: Direction, *, side: float = 0.5,
                 shrink: float = 0.6,
                 global_share: float = 0.05, gamma: float = 0.15) -> None:
        self.space = space
        self.direction = Direction(direction)
        self.side = side
        self.shrink = shrink
        self.global_share = global_share
        self.gamma = gamma

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
                ) -> tuple[Region, list[list[int] | None]]:
        """The box, and for each choice the options it keeps (those of the top trials). Its
        centre is the best trial, or with a model, the one of the top trials the model expects
        most of: on noisy scores, the best observed is partly luck."""
        d = len(self.space)
        ranked = _complete(results, self.direction)
        if not ranked:  # nothing to learn from yet: the whole space
            return Region((0.0,) * d, (1.0,) * d, self.space), [None] * d
        top = ranked[:max(3, math.ceil(self.gamma * len(ranked)))]
        best = top[int(np.argmax(model.mean(_units(top, d))))] if model is not None \
            else ranked[0]
        centre = np.array(best.trial.unit, dtype=float)
        half = np.full(d, self._side(results) / 2)
        if len(ranked) > len(top):
            spread = _units(top, d).std(axis=0)
            half = np.clip(2 * spread, 0.25 * half, half)
        lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
        options: list[list[int] | None] = [None] * d
        for i, name in enumerate(self.space.dims):
            scale = self.space.scales[name]
            if name not in best.params:  # absent from the centre trial: its whole range
                lo[i], hi[i] = 0.0, 1.0
            elif isinstance(scale, Choice):  # no order: the options of the top trials
                lo[i], hi[i] = 0.0, 1.0
                options[i] = sorted({scale.index(r.params[name]) for r in top
                                     if name in r.params})
        seen = {name: [r.params[name] for r in top if name in r.params]
                for name in self.space.dims}
        return Region(tuple(map(float, lo)), tuple(map(float, hi)),
                      _narrowed(self.space, lo, hi, seen=seen), (), (best.number,)), options

    def propose(self, results: Sequence[TrialResult], n: int,
                rng: np.random.Generator) -> tuple[Region, np.ndarray]:
        """The next round's region and n points of the unit cube (shape (n, d)): most chosen in
        the region by the model (`surrogate.Surrogate`), a share uniform in the whole space."""
        from hpsearch.surrogate import Surrogate

        d = len(self.space)
        done = _complete(results, self.direction)
        model = Surrogate(self.space, results, self.direction, _units(done[:1], d)[0], rng) \
            if len(done) >= 3 else None
        region, options = self._region(results, model)
        lo, hi = np.array(region.lo), np.array(region.hi)
        n_global = int(round(self.global_share * n))
        inside = model.propose(lo, hi, options, n - n_global, rng) if model is not None \
            else lo + rng.random((n - n_global, d)) * (hi - lo)
        points = np.vstack([rng.random((n_global, d)), inside])
        return region, points


def search_rounds(space: Space, direction: Direction, total: int, rounds: int, seed: int,
                  evaluate: Callable[[list[Trial]], Sequence[TrialResult]], *,
                  sampler: str = "random",
                  on_round: Callable[[int, Region, int], None] | None = None,
                  history: Sequence[TrialResult] = (),
                  enqueue: Sequence[Mapping[str, Any]] = ()) -> list[TrialResult]:
    """Run a coarse-to-fine search of `total` trials over `rounds` rounds.

    `evaluate` runs a round's trials and returns their results (the caller stores them).
    Round 1 uses `sampler` over the whole space, or with a `history` (the trials of earlier
    runs, a warm start) the model and a region around them; later rounds use `CoarseToFine`,
    which learns from the history too. The `enqueue` points are round 1's first trials.
    """
    strategy = CoarseToFine(space, direction)
    warm = len(_complete(history, strategy.direction)) >= 3
    results: list[TrialResult] = []
    number = 0
    for r, size in enumerate(round_sizes(total, rounds, len(enqueue)), start=1):
        if r == 1 and not warm:
            region = Region((0.0,) * len(space), (1.0,) * len(space), space)
            trials = plan_trials(space, sampler, size, seed, enqueue=enqueue)
        else:
            region, points = strategy.propose([*history, *results], size,
                                              np.random.default_rng([seed, r]))
            trials = trials_at(space, points, seed, round=r, first_number=number)
            if r == 1:
                trials = enqueued(space, trials, enqueue)
        if on_round is not None:
            on_round(r, region, size)
        results.extend(evaluate(trials))
        number += size
    return results
