"""The model of the coarse-to-fine search: a Gaussian process of the score over the unit cube,
and the points it picks by Thompson sampling.

Made for real tasks, not only smooth ones:

- **scores**: standardized, with the low tail (below the lower quartile by more than 1.5 times
  the interquartile range: a diverged network, a failed trial) pulled in on a log scale, so an
  outlier does not stretch the model, while near the top differences keep their size and a
  smooth score is refined (ranks alone, tried first, lost that: with them and without the
  candidates near the best trials, Hartmann-6's median regret at 100 trials was 0.124, with
  both 0.025); equal scores get equal values;
- **noise**: the model fits its own (from a floor of 1e-4 of the scores' variance), from the
  trials' means. The folds' spread is no noise: every trial meets the same folds, so a fold
  that is hard is hard for all of them and cancels out of a comparison (taking it for noise,
  as an earlier version did, smoothed over the differences that matter near the optimum). A
  deterministic objective then gets next to no noise, a seeded one (the built-in network) the
  noise its seeds add, and a function returning its fold scores the same search as one
  returning their mean (`noise` is what the trust region compares with too);
- **trials that did not complete**: a trial stopped early enters at the score of the last epoch
  it reported (a pessimistic value, as it was stopped for being behind), a failed trial at the
  worst score: a region that diverges is learnt as bad, never as unknown;
- **integers and choices**: candidates sit on the values a parameter can take (its u snapped to
  the centre of its value), and a choice is one-hot, so that the order of its options means
  nothing to the model; a parameter absent from a trial (a conditional one) sits at u = 0.5;
- **trials in flight**: their points are known (they follow from the seed and earlier
  results), so the model takes them as tried, a standard deviation below its prediction
  (`GaussianProcess.believe`): its draws spread to where nothing runs yet;
- **refinement**: the most promising candidates are polished by gradient steps on the model's
  mean and upper bound along the continuous parameters, so that a smooth optimum is found to
  more than the candidates' resolution;
- **cost**: the model learns from at most MODEL_TRIALS trials (those nearest the region), its
  kernel's parameters start from the previous fit's and move in a bounded number of steps, and
  a joint posterior is drawn only over the JOINT most promising candidates: a proposal costs
  about the same at 10,000 trials as at 200, a few milliseconds per trial it proposes
  (benchmarks/proposal.py). It runs single-threaded, beside the trials, never competing with
  them for the cores.

The Gaussian process is our own (`GaussianProcess`, as Optuna's GP sampler has its own): a
Matérn-5/2 kernel with a length scale per feature and its gradient in closed form, fitted in
a few milliseconds where scikit-learn's general one, whose kernels are composed at run time,
took about 200 (measured in benchmarks/proposal.py before the change).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpsearch.space import Space
from hpsearch.trial import Direction, Status, TrialResult

__all__ = ["Surrogate", "GaussianProcess", "observations"]

MODEL_TRIALS = 160  # the most trials the model learns from: those nearest the region
CANDIDATES = 2048  # random candidates in the region (64 per parameter, at least 512)
JOINT = 256  # the candidates a joint posterior is drawn over: the most promising ones
NEAR = 5  # best trials that half the candidates are drawn near
CHUNK = 64  # points proposed from one set of candidates (a larger round takes several)
POLISH = 4  # candidates polished by gradient steps, on the mean and on the upper bound each
POLISH_STEPS = 15  # L-BFGS-B steps per polished candidate
FIT_STEPS = 40  # optimizer steps for the kernel's parameters, from scratch
REFIT_STEPS = 12  # and from the previous fit's

SQRT5 = math.sqrt(5.0)


def observations(space: Space, results: Sequence[TrialResult], direction: Direction
                 ) -> tuple[np.ndarray, np.ndarray]:
    """What the model learns from: unit points (n, d) and scores on a larger-is-better scale.
    Complete trials with their mean; pruned ones at the score they last reported; failed ones
    at the worst."""
    rows, values = [], []
    worst: list[int] = []
    for r in results:
        if r.status is Status.COMPLETE and math.isfinite(r.mean):
            values.append(direction.gain(r.mean))
        elif r.status is Status.PRUNED and isinstance(r.extra.get("score"), (int, float)) \
                and math.isfinite(r.extra["score"]):
            values.append(direction.gain(float(r.extra["score"])))
        elif r.status.is_failure:
            worst.append(len(values))
            values.append(math.nan)
        else:
            continue
        rows.append(r.trial.unit)
    y = np.array(values, dtype=float)
    known = y[np.isfinite(y)]
    if worst:
        y[worst] = known.min() if len(known) else 0.0
    X = np.array(rows, dtype=float).reshape(len(rows), len(space))
    return X, y


def features(space: Space, X: np.ndarray) -> np.ndarray:
    """The model's inputs: each parameter's columns (`Scale.features`: u where values lie
    along a line, one-hot for a choice's options)."""
    columns = [space.scales[name].features(X[:, i]) for i, name in enumerate(space.dims)]
    return np.hstack(columns) if columns else X


def pulled_in(y: np.ndarray) -> np.ndarray:
    """Scores (larger is better), the low tail pulled in: a value more than 1.5 interquartile
    ranges below the lower quartile keeps only the log of its distance."""
    q25, q75 = np.percentile(y, [25, 75])
    edge = q25 - 1.5 * max(q75 - q25, 1e-12)
    return np.where(y < edge, edge - np.log1p(np.maximum(edge - y, 0.0)), y)


def scaled_scores(y: np.ndarray) -> np.ndarray:
    """Scores (larger is better) standardized, the low tail pulled in (`pulled_in`)."""
    z = pulled_in(y)
    spread = z.std()
    return (z - z.mean()) / spread if spread > 0 else np.zeros_like(z)


class GaussianProcess:
    """A Gaussian process with a Matérn-5/2 kernel (an amplitude, a length scale per feature)
    and Gaussian noise of at least `noise_floor`, its parameters fitted by the marginal
    likelihood with weak priors (they keep a few points from fixing a tiny length scale),
    starting from `start` (a previous fit's `theta`) when given.

    theta = log(amplitude, length scales..., noise).
    """

    BOUNDS = ((math.log(0.05), math.log(20.0)), (math.log(0.03), math.log(20.0)))

    def __init__(self, F: np.ndarray, z: np.ndarray, noise_floor: float,
                 start: np.ndarray | None = None) -> None:
        from scipy.optimize import minimize

        self.F, self.z = F, z
        n, p = F.shape
        self.diff2 = (F[:, None, :] - F[None, :, :]) ** 2  # (n, n, p)
        floor = math.log(max(noise_floor, 1e-6))
        bounds = [self.BOUNDS[0]] + [self.BOUNDS[1]] * p + [(floor, 0.0)]
        fresh = start is None or len(start) != p + 2
        theta = np.array([0.0] + [math.log(0.5)] * p + [math.log(max(noise_floor, 1e-3))]) \
            if fresh else np.asarray(start, dtype=float)
        theta = np.clip(theta, [b[0] for b in bounds], [b[1] for b in bounds])
        found = minimize(self._loss, theta, jac=True, method="L-BFGS-B", bounds=bounds,
                         options={"maxiter": FIT_STEPS if fresh else REFIT_STEPS})
        self.theta = found.x if np.isfinite(found.fun) else theta
        self._factor(self.theta)

    def _kernel(self, theta: np.ndarray, diff2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The kernel matrix over `diff2` (pairs' squared differences per feature), and the
        factor of its derivative shared by every length scale."""
        amplitude, scales = math.exp(theta[0]), np.exp(theta[1:-1])
        r = np.sqrt(np.maximum(diff2 @ (1.0 / scales**2), 0.0))
        decay = np.exp(-SQRT5 * r)
        return amplitude * (1 + SQRT5 * r + 5 / 3 * r * r) * decay, \
            amplitude * 5 / 3 * (1 + SQRT5 * r) * decay

    def _loss(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The negative log marginal likelihood plus the priors' penalty, and its gradient."""
        from scipy.linalg import cho_factor, cho_solve

        n = len(self.z)
        K, shared = self._kernel(theta, self.diff2)
        noise = math.exp(theta[-1])
        try:
            factor = cho_factor(K + (noise + 1e-8) * np.eye(n), lower=True)
        except np.linalg.LinAlgError:
            return math.inf, np.zeros_like(theta)
        alpha = cho_solve(factor, self.z)
        loss = 0.5 * self.z @ alpha + np.log(np.diag(factor[0])).sum()
        W = np.outer(alpha, alpha) - cho_solve(factor, np.eye(n))
        scales2 = np.exp(2 * theta[1:-1])
        grad = np.empty_like(theta)
        grad[0] = -0.5 * np.sum(W * K)
        grad[1:-1] = -0.5 * ((W * shared).reshape(-1) @ self.diff2.reshape(n * n, -1)) / scales2
        grad[-1] = -0.5 * noise * np.trace(W)
        # priors: length scales about 0.5 (log-normal, wide), amplitude about 1
        centre = theta[1:-1] - math.log(0.5)
        loss += 0.5 * np.sum(centre**2) / 1.5**2 + 0.5 * theta[0] ** 2 / 2.0**2
        grad[1:-1] += centre / 1.5**2
        grad[0] += theta[0] / 2.0**2
        return float(loss), grad

    def _factor(self, theta: np.ndarray) -> None:
        from scipy.linalg import cho_factor, cho_solve

        K, _ = self._kernel(theta, self.diff2)
        self.factor = cho_factor(K + (math.exp(theta[-1]) + 1e-8) * np.eye(len(self.z)),
                                 lower=True)
        self.alpha = cho_solve(self.factor, self.z)

    def believe(self, G: np.ndarray) -> None:
        """Take the rows of G (points in flight) as observed one standard deviation below the
        model's mean there: draws turn away from them as from a point tried and found no
        better than expected, without the whole region being written off (a constant lie at
        the worst score does that: measured, it more than doubled the regret at 32 workers;
        the mean alone, a "kriging believer", left draws near them)."""
        if not len(G):
            return
        mean, std = self.predict(G)
        self.z = np.concatenate([self.z, mean - std])
        self.F = np.vstack([self.F, G])
        self.diff2 = (self.F[:, None, :] - self.F[None, :, :]) ** 2
        self._factor(self.theta)

    def _cross(self, G: np.ndarray) -> np.ndarray:
        return self._kernel(self.theta, (G[:, None, :] - self.F[None, :, :]) ** 2)[0]

    def gradients(self, g: np.ndarray, upper: float) -> tuple[float, np.ndarray]:
        """The value of mean + `upper` × std at the features g (one row), and its gradient."""
        from scipy.linalg import cho_solve, solve_triangular

        diff = g[None, :] - self.F  # (n, p)
        K, shared = self._kernel(self.theta, diff**2)
        dK = -(shared[:, None] * diff) / np.exp(2 * self.theta[1:-1])  # dk_i / dg, (n, p)
        value, grad = float(K @ self.alpha), self.alpha @ dK
        if upper:
            v = solve_triangular(self.factor[0], K, lower=True)
            std = math.sqrt(max(math.exp(self.theta[0]) - v @ v, 1e-12))
            w = cho_solve(self.factor, K)
            value += upper * std
            grad = grad - upper * (w @ dK) / std
        return value, grad

    def predict(self, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The posterior mean and standard deviation of the (noise-free) score at rows of G."""
        from scipy.linalg import solve_triangular

        Ks = self._cross(G)
        v = solve_triangular(self.factor[0], Ks.T, lower=True)
        var = math.exp(self.theta[0]) - np.sum(v * v, axis=0)
        return Ks @ self.alpha, np.sqrt(np.maximum(var, 1e-12))

    def mean(self, G: np.ndarray) -> np.ndarray:
        return self._cross(G) @ self.alpha

    def joint(self, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The posterior mean and covariance over the rows of G."""
        from scipy.linalg import solve_triangular

        Ks = self._cross(G)
        v = solve_triangular(self.factor[0], Ks.T, lower=True)
        prior = self._kernel(self.theta, (G[:, None, :] - G[None, :, :]) ** 2)[0]
        return Ks @ self.alpha, prior - v.T @ v


def _candidates(space: Space, lo: np.ndarray, hi: np.ndarray, options: Sequence[Any],
                rng: np.random.Generator, count: int, near: np.ndarray) -> np.ndarray:
    """Points of the region, each on values its parameters can take, without repeats: `count`
    at random, and half as many a step away from one of the points `near` (the best trials),
    of 0.5 % to 20 % of the region's side: random points alone rarely land close enough to
    the best to refine it. `options[i]` lists the u of each value an unordered parameter may
    take (None: any in the box); a step keeps such a parameter's value where the region
    allows it."""
    d = len(space)
    U = lo + rng.random((count, d)) * (hi - lo)
    for i, allowed in enumerate(options):
        if allowed is not None:
            U[:, i] = rng.choice(allowed, count)
    if len(near):
        local = count // 2
        start = near[rng.integers(len(near), size=local)]
        steps = (hi - lo) * 10 ** rng.uniform(-2.3, -0.7, (local, 1))
        moved = np.clip(start + steps * rng.standard_normal((local, d)), lo, hi)
        for i, allowed in enumerate(options):
            if allowed is not None:
                moved[:, i] = np.where(np.isin(start[:, i], allowed), start[:, i], U[:local, i])
        U = np.vstack([U, moved])
    count = len(U)
    if space.conditions:
        U = np.array([space.snap(u) for u in U]).reshape(count, d)
    else:
        for i, name in enumerate(space.dims):
            scale = space.scales[name]
            if scale.discrete:
                U[:, i] = [scale.snap(x) for x in U[:, i]]
    return np.unique(U, axis=0)


class Surrogate:
    """The model of a round, fitted to the trials so far (the MODEL_TRIALS nearest `anchor`, a
    point of the unit cube, when there are more); `start` is a previous fit's `theta`;
    `pending` the points of trials in flight (rows of the unit cube), taken as tried one
    standard deviation below its mean (`GaussianProcess.believe`)."""

    def __init__(self, space: Space, results: Sequence[TrialResult], direction: Direction,
                 anchor: np.ndarray, start: np.ndarray | None = None,
                 pending: np.ndarray | None = None) -> None:
        X, y = observations(space, results, direction)
        self.best = X[np.argsort(-y, kind="stable")[:NEAR]]  # half the candidates are near these
        if len(y) > MODEL_TRIALS:  # a local model: the trials nearest the anchor
            nearest = np.argsort(np.abs(X - anchor).max(axis=1), kind="stable")[:MODEL_TRIALS]
            X, y = X[nearest], y[nearest]
        self.space = space
        self.scale = float(pulled_in(y).std())  # a score's unit in the model's (standardized)
        self.gp = GaussianProcess(features(space, X), scaled_scores(y), 1e-4, start)
        if pending is not None and len(pending):
            self.gp.believe(features(space, np.asarray(pending, dtype=float)))
        self._columns = _continuous_columns(space)

    @property
    def theta(self) -> np.ndarray:
        """The kernel's fitted parameters (the next fit starts from them)."""
        return self.gp.theta

    @property
    def noise(self) -> float:
        """The standard deviation of a score about the model's mean, as it fitted it (in the
        score's units): how far another run of a trial may land."""
        return math.sqrt(math.exp(self.gp.theta[-1])) * self.scale

    def mean(self, U: np.ndarray) -> np.ndarray:
        """The model's expected (normalized) score at points of the unit cube."""
        return self.gp.mean(features(self.space, U))

    def propose(self, boxes: Sequence[tuple[np.ndarray, np.ndarray, Sequence[Any]]],
                n: int, rng: np.random.Generator) -> np.ndarray:
        """n points, shape (n, d), each where one draw of the model is best among candidates
        drawn in the `boxes` (lo, hi, the u of the options each choice keeps; candidates split
        evenly), the most promising of them polished (`polish`): the draws differ, so the
        points spread over what is promising instead of piling on one guess."""
        d = len(self.space)
        if n > CHUNK:  # fresh candidates for each chunk: a big round is not 256 points at most
            return np.vstack([self.propose(boxes, min(CHUNK, n - i), rng)
                              for i in range(0, n, CHUNK)])
        count = min(CANDIDATES, max(512, 64 * d))
        candidates = np.unique(np.vstack([
            _candidates(self.space, lo, hi, options, rng, -(-count // len(boxes)), self.best)
            for lo, hi, options in boxes]), axis=0)
        mean, std = self.gp.predict(features(self.space, candidates))
        polished = self.polish(candidates, mean, std, boxes)
        if len(candidates) > JOINT:  # the most promising: high by mean, or by what it may be
            keep = np.argsort(-(mean + 2 * std), kind="stable")[:JOINT - len(polished)]
            candidates = candidates[keep]
        candidates = np.unique(np.vstack([candidates, polished]), axis=0)
        mean, cov = self.gp.joint(features(self.space, candidates))
        chosen: list[int] = []
        for draw in _draws(mean, cov, n, rng):  # each draw's best candidate not yet chosen
            order = np.argsort(-draw, kind="stable")
            chosen.append(next((int(j) for j in order if int(j) not in chosen), int(order[0])))
        return candidates[chosen]

    def polish(self, candidates: np.ndarray, mean: np.ndarray, std: np.ndarray,
               boxes: Sequence[tuple[np.ndarray, np.ndarray, Sequence[Any]]]) -> np.ndarray:
        """The POLISH candidates best by the model's mean, and the POLISH best by its upper
        bound (mean + std), each moved by gradient steps (L-BFGS-B) to where that is highest
        along the continuous parameters, inside the box it was drawn in; integers and choices
        keep their values. Random candidates alone leave a smooth optimum found to their
        resolution only (a GP sampler's refinement, at a fraction of its cost)."""
        from scipy.optimize import minimize

        dims, cols = self._columns
        if not len(dims):
            return np.empty((0, candidates.shape[1]))
        starts = [(i, 0.0) for i in np.argsort(-mean, kind="stable")[:POLISH]]
        starts += [(i, 1.0) for i in np.argsort(-(mean + std), kind="stable")[:POLISH]]
        out = []
        for i, upper in starts:
            u = candidates[i].copy()
            box = next(((lo, hi) for lo, hi, _ in boxes
                        if np.all(u >= lo - 1e-12) and np.all(u <= hi + 1e-12)), None)
            if box is None:
                continue
            g = features(self.space, u[None, :])[0]

            def loss(x: np.ndarray, g: np.ndarray = g, upper: float = upper
                     ) -> tuple[float, np.ndarray]:
                g[cols] = x
                value, grad = self.gp.gradients(g, upper)
                return -value, -grad[cols]

            found = minimize(loss, u[dims], jac=True, method="L-BFGS-B",
                             bounds=list(zip(box[0][dims], box[1][dims])),
                             options={"maxiter": POLISH_STEPS})
            if np.all(np.isfinite(found.x)):
                u[dims] = np.clip(found.x, box[0][dims], box[1][dims])
                out.append(u)
        return np.array(out).reshape(len(out), candidates.shape[1])


def _continuous_columns(space: Space) -> tuple[np.ndarray, np.ndarray]:
    """The dimensions whose values lie on a continuum and that every trial has (not integers,
    choices or conditional parameters), and their column among the model's features."""
    dims, cols, at = [], [], 0
    for i, name in enumerate(space.dims):
        scale = space.scales[name]
        width = scale.features(np.array([0.5])).shape[1]
        if scale.ordered and not scale.discrete and name not in space.conditions:
            dims.append(i)
            cols.append(at)
        at += width
    return np.array(dims, dtype=int), np.array(cols, dtype=int)


def _draws(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n joint draws of a normal (mean, cov), shape (n, len(mean)); the covariance's square
    root by eigenvalues, which a nearly singular posterior does not break."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    root = vectors * np.sqrt(np.clip(values, 0, None))
    return mean + rng.standard_normal((n, len(mean))) @ root.T
