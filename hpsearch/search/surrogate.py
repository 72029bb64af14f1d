"""The model inside a coarse-to-fine round: a Gaussian process of the score over the unit cube,
and the points it picks in a region by Thompson sampling.

Made for real tasks, not only smooth ones:

- **scores**: a trial's score enters as its rank among the others, mapped to a normal quantile,
  so a diverged network or a plateau of equal cross-validated accuracies does not stretch the
  model (equal scores get equal values);
- **noise**: the folds' spread sets the least noise the model assumes (the variance of a mean of
  k folds), so it does not chase a one-sample difference between two fold means;
- **trials that did not complete**: a trial stopped early enters at the score of the last epoch
  it reported (a pessimistic value, as it was stopped for being behind), a failed trial at the
  worst score: a region that diverges is learnt as bad, never as unknown;
- **integers and choices**: candidates sit on the values a parameter can take (its u snapped to
  the centre of its value), and a choice is one-hot, so that the order of its options means
  nothing to the model; a parameter absent from a trial (a conditional one) sits at u = 0.5;
- **cost**: the model learns from at most MODEL_TRIALS trials (those nearest the region), its
  kernel is fitted in a bounded number of steps, and a joint posterior is drawn only over the
  JOINT most promising of the candidates: a round's proposal costs about the same at 1,000
  trials as at 100 (benchmarks/proposal.py).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpsearch.space import Space
from hpsearch.trial import Direction, Status, TrialResult

__all__ = ["Surrogate", "observations"]

MODEL_TRIALS = 160  # the most trials the model learns from: those nearest the region
CANDIDATES = 2048  # random candidates in the region (64 per parameter, at least 512)
JOINT = 256  # the candidates a joint posterior is drawn over: the most promising ones
FIT_STEPS = 40  # optimizer steps for the kernel's parameters


def observations(space: Space, results: Sequence[TrialResult], direction: Direction
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the model learns from: unit points (n, d), scores on a larger-is-better scale, and
    the variance of each score as a mean of its folds (NaN where unknown). Complete trials
    with their mean; pruned ones at the score they last reported; failed ones at the worst."""
    rows, values, spread = [], [], []
    worst: list[int] = []
    for r in results:
        if r.status is Status.COMPLETE and math.isfinite(r.mean):
            values.append(direction.gain(r.mean))
            k = len(r.scores)
            spread.append(r.std**2 / k if k > 1 and math.isfinite(r.std) else math.nan)
        elif r.status is Status.PRUNED and isinstance(r.extra.get("score"), (int, float)) \
                and math.isfinite(r.extra["score"]):
            values.append(direction.gain(float(r.extra["score"])))
            spread.append(math.nan)
        elif r.status.is_failure:
            worst.append(len(values))
            values.append(math.nan)
            spread.append(math.nan)
        else:
            continue
        rows.append(r.trial.unit)
    y = np.array(values, dtype=float)
    known = y[np.isfinite(y)]
    if worst:
        y[worst] = known.min() if len(known) else 0.0
    X = np.array(rows, dtype=float).reshape(len(rows), len(space))
    return X, y, np.array(spread, dtype=float)


def _features(space: Space, X: np.ndarray) -> np.ndarray:
    """The model's inputs: each parameter's columns (`Scale.features`: u where values lie
    along a line, one-hot for a choice's options)."""
    columns = [space.scales[name].features(X[:, i]) for i, name in enumerate(space.dims)]
    return np.hstack(columns) if columns else X


def _normal_scores(y: np.ndarray) -> np.ndarray:
    """Each score's rank (ties averaged) as a standard normal quantile."""
    from scipy.stats import norm, rankdata

    return norm.ppf((rankdata(y) - 0.5) / len(y))


def _bounded_optimizer(objective: Any, initial: np.ndarray, bounds: np.ndarray
                       ) -> tuple[np.ndarray, float]:
    from scipy.optimize import minimize

    found = minimize(objective, initial, method="L-BFGS-B", jac=True, bounds=bounds,
                     options={"maxiter": FIT_STEPS})
    return found.x, float(found.fun)


def _model(F: np.ndarray, z: np.ndarray, noise_floor: float, seed: int) -> Any:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    d = F.shape[1]
    kernel = ConstantKernel(1.0, (0.05, 20.0)) \
        * Matern(length_scale=np.full(d, 0.5), length_scale_bounds=(0.03, 20.0), nu=2.5) \
        + WhiteKernel(max(noise_floor, 1e-3), (noise_floor, 1.0))
    model = GaussianProcessRegressor(kernel, optimizer=_bounded_optimizer, random_state=seed)
    with warnings.catch_warnings():  # a length scale at its bound is no reason to stop
        warnings.simplefilter("ignore")
        model.fit(F, z)
    return model


def _candidates(space: Space, lo: np.ndarray, hi: np.ndarray, options: Sequence[Any],
                rng: np.random.Generator) -> np.ndarray:
    """Random points of the region, each on values its parameters can take, without repeats.
    `options[i]` lists the u of each value an unordered parameter may take (None: any in the
    box)."""
    d = len(space)
    count = min(CANDIDATES, max(512, 64 * d))
    U = lo + rng.random((count, d)) * (hi - lo)
    for i, allowed in enumerate(options):
        if allowed is not None:
            U[:, i] = rng.choice(allowed, count)
    snapped = np.array([space.snap(u) for u in U])
    return np.unique(snapped, axis=0)


class Surrogate:
    """The model of a round, fitted to the trials so far (the MODEL_TRIALS nearest `anchor`, a
    point of the unit cube, when there are more)."""

    def __init__(self, space: Space, results: Sequence[TrialResult], direction: Direction,
                 anchor: np.ndarray, rng: np.random.Generator) -> None:
        X, y, spread = observations(space, results, direction)
        if len(y) > MODEL_TRIALS:  # a local model: the trials nearest the anchor
            nearest = np.argsort(np.abs(X - anchor).max(axis=1), kind="stable")[:MODEL_TRIALS]
            X, y, spread = X[nearest], y[nearest], spread[nearest]
        # the least noise: a typical fold mean's variance, as a share of the scores' variance
        known = spread[np.isfinite(spread)]
        floor = float(np.median(known) / np.var(y)) if len(known) and np.var(y) > 0 else 0.0
        self.space = space
        self.model = _model(_features(space, X), _normal_scores(y), min(max(floor, 1e-4), 0.5),
                            int(rng.integers(2**31)))

    def mean(self, U: np.ndarray) -> np.ndarray:
        """The model's expected (normalized) score at points of the unit cube."""
        return self.model.predict(_features(self.space, U))

    def propose(self, lo: np.ndarray, hi: np.ndarray, options: Sequence[Any], n: int,
                rng: np.random.Generator) -> np.ndarray:
        """n points of the region [lo, hi] (choices limited to `options`), shape (n, d), each
        where one draw of the model is best: the draws differ, so a round's points spread over
        the promising part of the region instead of piling on one guess."""
        candidates = _candidates(self.space, lo, hi, options, rng)
        F = _features(self.space, candidates)
        mean, std = self.model.predict(F, return_std=True)
        if len(candidates) > JOINT:  # the most promising: high by mean, or by what it may be
            keep = np.argsort(-(mean + 2 * std), kind="stable")[:JOINT]
            candidates, F = candidates[keep], F[keep]
        mean, cov = self.model.predict(F, return_cov=True)
        chosen: list[int] = []
        for draw in _draws(mean, cov, n, rng):  # each draw's best candidate not yet chosen
            order = np.argsort(-draw, kind="stable")
            chosen.append(next((int(j) for j in order if int(j) not in chosen), int(order[0])))
        return candidates[chosen]


def _draws(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n joint draws of a normal (mean, cov), shape (n, len(mean)); the covariance's square
    root by eigenvalues, which a nearly singular posterior does not break."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    return mean + rng.standard_normal((n, len(mean))) @ root.T
