"""Which hyperparameters mattered, and how the score moves along each, on the unit cube.

Importance is the permutation importance of a random forest fitted to the complete trials' unit
coordinates (scikit-learn): how much the forest's out-of-sample fit drops when one parameter's
values are shuffled. On u, a log-scaled learning rate is judged in decades, as it was sampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpsearch.space import Space
from hpsearch.trial import Direction, Status, TrialResult

__all__ = ["Importance", "importance", "profile"]

MIN_TRIALS = 10


@dataclass(frozen=True)
class Importance:
    """Each parameter's share of the explained variation (summing to 1 when anything is
    explained), and how well the forest explains the score at all (cross-validated R²)."""

    shares: dict[str, float]
    r2: float
    trials: int

    @property
    def reliable(self) -> bool:
        return self.trials >= MIN_TRIALS and self.r2 > 0.1


def _data(space: Space, results: Sequence[TrialResult]) -> tuple[np.ndarray, np.ndarray]:
    """The complete trials' stored unit coordinates and mean scores."""
    done = [r for r in results if r.status is Status.COMPLETE]
    X = np.array([r.trial.unit for r in done], dtype=float).reshape(len(done), len(space))
    return X, np.array([r.mean for r in done])


def importance(space: Space, results: Sequence[TrialResult], seed: int = 0) -> Importance:
    """Permutation importance of a random forest on the unit coordinates.

    Raises:
        ValueError: with fewer than 3 complete trials.
    """
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict

    X, y = _data(space, results)
    if len(y) < 3:
        raise ValueError(f"only {len(y)} complete trials: importance needs at least 3")
    forest = RandomForestRegressor(n_estimators=200, min_samples_leaf=2, random_state=seed,
                                   n_jobs=1)
    folds = KFold(min(5, len(y)), shuffle=True, random_state=seed)
    predicted = cross_val_predict(forest, X, y, cv=folds)
    r2 = float(r2_score(y, predicted)) if np.ptp(y) > 0 else 0.0  # equal scores explain nothing
    forest.fit(X, y)
    drops = permutation_importance(forest, X, y, n_repeats=10, random_state=seed).importances_mean
    drops = np.clip(drops, 0, None)
    total = drops.sum()
    shares = {name: float(d / total) if total > 0 else 0.0 for name, d in zip(space.dims, drops)}
    return Importance(dict(sorted(shares.items(), key=lambda kv: -kv[1])), r2, len(y))


def profile(space: Space, results: Sequence[TrialResult], name: str, bins: int,
            direction: Direction) -> list[float | None]:
    """The best score in each of `bins` equal slices of the parameter's u range (None where no
    complete trial fell): the score-vs-parameter relation, in the parameter's own scale."""
    X, y = _data(space, results)
    column = X[:, space.dims.index(name)]
    index = np.minimum((column * bins).astype(int), bins - 1)
    return [direction.best(y[index == b]) if np.any(index == b) else None for b in range(bins)]
