"""Regions of the unit cube: a box [lo, hi] of u per searched parameter, and the narrower space
of the same scales it stands for (``scale.narrow``: log10 of the value for `log`, log10(1 − β) for
`one_minus_log`, linear for `uniform`).

`zoom` is the box around a run's best trials (``hpsearch zoom``): printable, editable, written as
a config of the same scales with narrower bounds. The coarse-to-fine strategy's rounds are
regions too; every round's region is stored with the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpsearch.space import Space
from hpsearch.trial import Direction, Status, TrialResult

__all__ = ["Region", "zoom", "whole", "best_first", "units", "narrowed"]

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

    @property
    def is_whole(self) -> bool:
        """Whether it is the whole space."""
        return all(lo == 0 and hi == 1 for lo, hi in zip(self.lo, self.hi))


def whole(space: Space) -> Region:
    """The region of the whole space."""
    d = len(space)
    return Region((0.0,) * d, (1.0,) * d, space)


def best_first(results: Sequence[TrialResult], direction: Direction) -> list[TrialResult]:
    """The complete trials, best first (the lower number first among equals)."""
    done = [r for r in results if r.status is Status.COMPLETE]
    return sorted(done, key=lambda r: (-direction.gain(r.mean), r.number))


def units(results: Sequence[TrialResult], d: int) -> np.ndarray:
    """The trials' stored points of the run's first space's unit cube, shape (n, d)."""
    return np.array([r.trial.unit for r in results], dtype=float).reshape(len(results), d)


def narrowed(space: Space, lo: np.ndarray, hi: np.ndarray,
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
    ranked = best_first(results, Direction(direction))
    if len(ranked) < 2:
        raise ValueError(f"only {len(ranked)} complete trial(s): zoom needs at least 2")
    if top is None:
        fraction = 0.2 if top_fraction is None else top_fraction
        top = max(3, math.ceil(fraction * len(ranked)))
    best = ranked[: max(2, min(top, len(ranked)))]
    u = units(best, len(space))
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
    region_space = narrowed(space, lo, hi,
                             {n: [r.params[n] for r in best if n in r.params] for n in space.dims})
    return Region(tuple(map(float, lo)), tuple(map(float, hi)), region_space, tuple(warnings),
                  tuple(r.number for r in best))


