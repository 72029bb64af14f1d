"""Which hyperparameters mattered, and how the score moves along each, on the unit cube.

Importance is the permutation importance of a random forest fitted to the complete trials' unit
coordinates (scikit-learn): how much the forest's fit drops when one parameter's values are
shuffled; its out-of-bag R² says how well the forest explains the score at all. On u, a
log-scaled learning rate is judged in decades, as it was sampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.space import Space
from hpsearch.trial import Direction, Status, TrialResult

__all__ = ["Importance", "importance", "good_range", "profile", "spread", "curve_key",
           "curve_of", "HIGHLIGHT"]

MIN_TRIALS = 10
# What the forest sees, so that importance takes about as long at any size: a random sample of
# at most FOREST_TRIALS trials, each tree a bootstrap of at most TREE_TRIALS of them (enough to
# place a small stepwise effect, such as a layer count's, as all 5,000 trials do), and
# SHUFFLED_TRIALS trials shuffled to measure each parameter's share (benchmarks/glance.py).
TREES = 64
FOREST_TRIALS = 10_000
TREE_TRIALS = 2_000
SHUFFLED_TRIALS = 1_000


@dataclass(frozen=True)
class Importance:
    """Each parameter's share of the explained variation (summing to 1 when anything is
    explained), and how well the forest explains the score at all (out-of-bag R²)."""

    shares: dict[str, float]
    r2: float
    trials: int

    @property
    def reliable(self) -> bool:
        return self.trials >= MIN_TRIALS and self.r2 > 0.1


# Which recorded learning curve a figure draws, by preference: the validation score a trial
# reported or the built-in network measured, else the training loss.
CURVES = (("val_score", "validation score"), ("score", "validation score"),
          ("loss", "training loss"))
HIGHLIGHT = 5  # learning curves a figure draws in colour: the best trials'


def curve_key(results: Sequence[TrialResult]) -> tuple[str, str] | None:
    """The curve a figure of these trials draws (the first of CURVES that one recorded) and its
    label; None when no trial recorded a learning curve."""
    traced = [r for r in results if r.extra.get("history")]
    return next(((key, label) for key, label in CURVES
                 if any(key in h for r in traced for h in r.extra["history"])), None)


def curve_of(result: TrialResult, key: str) -> tuple[list[Any], list[float]]:
    """A trial's recorded learning curve of `key`: epochs and values."""
    points = [(h.get("epoch", i + 1), h[key]) for i, h in enumerate(result.extra["history"])
              if key in h]
    return [p[0] for p in points], [p[1] for p in points]


def _data(space: Space, results: Sequence[TrialResult]) -> tuple[np.ndarray, np.ndarray]:
    """The complete trials' stored unit coordinates and mean scores."""
    done = [r for r in results if r.status is Status.COMPLETE]
    X = np.array([r.trial.unit for r in done], dtype=float).reshape(len(done), len(space))
    return X, np.array([r.mean for r in done])


def importance(space: Space, results: Sequence[TrialResult], seed: int = 0) -> Importance:
    """Permutation importance of a random forest on the unit coordinates, its time bounded at
    any number of trials (see TREE_TRIALS).

    Raises:
        ValueError: with fewer than 3 complete trials.
    """
    import warnings

    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import r2_score

    X, y = _data(space, results)
    if len(y) < 3:
        raise ValueError(f"only {len(y)} complete trials: importance needs at least 3")
    complete = len(y)
    rng = np.random.default_rng(seed)
    if complete > FOREST_TRIALS:
        sample = rng.choice(complete, FOREST_TRIALS, replace=False)
        X, y = X[sample], y[sample]
    # One forest: its out-of-bag predictions say how well it explains the score (R²), and
    # shuffling each parameter in turn says how much of that it owes to the parameter.
    forest = RandomForestRegressor(n_estimators=TREES, min_samples_leaf=2, random_state=seed,
                                   oob_score=r2_score, n_jobs=-1,
                                   max_samples=min(len(y), TREE_TRIALS))
    with warnings.catch_warnings():  # too few trials for every one to be out of a bag: fine
        warnings.simplefilter("ignore", UserWarning)
        forest.fit(X, y)
    r2 = float(forest.oob_score_) if np.ptp(y) > 0 else 0.0  # equal scores explain nothing
    forest.n_jobs = 1  # many small predictions: threads cost more than they give
    shuffled = rng.choice(len(y), SHUFFLED_TRIALS, replace=False) \
        if len(y) > SHUFFLED_TRIALS else slice(None)
    drops = permutation_importance(forest, X[shuffled], y[shuffled], n_repeats=5,
                                   random_state=seed, n_jobs=1).importances_mean
    drops = np.clip(drops, 0, None)
    total = drops.sum()
    shares = {name: float(d / total) if total > 0 else 0.0 for name, d in zip(space.dims, drops)}
    return Importance(dict(sorted(shares.items(), key=lambda kv: -kv[1])), r2, complete)


def profile(space: Space, results: Sequence[TrialResult], name: str, bins: int,
            direction: Direction) -> list[float | None]:
    """The best score in each of `bins` equal slices of the parameter's u range (None where no
    complete trial fell): the score-vs-parameter relation, in the parameter's own scale."""
    X, y = _data(space, results)
    has = _having(space, results, name)
    column, y = X[has, space.dims.index(name)], y[has]
    index = np.minimum((column * bins).astype(int), bins - 1)
    return [direction.best(y[index == b]) if np.any(index == b) else None for b in range(bins)]


def _having(space: Space, results: Sequence[TrialResult], name: str) -> np.ndarray:
    """Which complete trials have a value for the parameter (a conditional one may be absent)."""
    return np.array([name in r.params for r in results if r.status is Status.COMPLETE],
                    dtype=bool)


def good_range(scores: Sequence[float], direction: Direction) -> tuple[float, float]:
    """The part of the scores worth looking at, as (worst shown, best): down from the best to
    the upper quartile less four times its distance to the best, never past the worst score.
    Trials that diverged or failed badly then sit below it instead of flattening the rest
    into a line, as long as they are fewer than three in four; scores without such outliers
    are shown whole."""
    gains = np.sort(direction.gain(np.asarray(scores, dtype=float)))
    best, upper = gains[-1], float(np.quantile(gains, 0.75))
    floor = max(gains[0], upper - 4 * (best - upper))
    return float(direction.gain(floor)), float(direction.gain(best))  # gain is its own inverse


class ScoreAxis:
    """A score axis over the good part of some scores (`good_range`): its limits, and the edge
    where the far worse ones are drawn, so that one diverged trial never flattens the rest."""

    def __init__(self, scores: Sequence[float], direction: Direction) -> None:
        worst, best = good_range(scores, direction)
        self.direction, self.worst, self.best = direction, worst, best
        span = abs(best - worst) or abs(best) * 0.01 or 0.01
        self.low, self.high = min(worst, best) - 0.05 * span, max(worst, best) + 0.05 * span
        # the far worse trials sit on the edge beyond the worst shown
        self.edge = self.low if direction is Direction.MAXIMIZE else self.high

    def outside(self, score: float) -> bool:
        return self.direction.better(self.worst, score)

    def shown(self, score: float) -> float:
        """Where a score is drawn: itself, or the edge for a far worse one."""
        return self.edge if self.outside(score) else score


def spread(space: Space, results: Sequence[TrialResult]) -> dict[str, float]:
    """A quick measure of how much each parameter moves the score, for ordering columns: the
    share of the scores' variance between equal slices of its u range, less what chance alone
    gives that many slices (epsilon squared). About 0 for a parameter that does not move it,
    or that all trials share; computed in one pass, at any number of trials."""
    X, y = _data(space, results)
    out = {name: 0.0 for name in space.dims}
    if len(y) < 4 or np.ptp(y) == 0:
        return out
    bins = max(2, min(6, len(y) // 5))  # slices of about five trials at least
    total = float(np.sum((y - y.mean()) ** 2))
    for i, name in enumerate(space.dims):
        index = np.minimum((X[:, i] * bins).astype(int), bins - 1)
        if space.conditions.get(name):  # trials without it: a slice of their own
            index[~_having(space, results, name)] = bins
        counts = np.bincount(index, minlength=bins + 1)
        means = np.bincount(index, weights=y, minlength=bins + 1) / np.maximum(counts, 1)
        between = float(np.sum(counts * (means - y.mean()) ** 2))
        groups = int(np.count_nonzero(counts))
        within = (total - between) / max(len(y) - groups, 1)
        out[name] = (between - (groups - 1) * within) / total
    return out
