"""The model inside a coarse-to-fine round: what it learns from, and the points it picks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpsearch.search.surrogate import (
    MODEL_TRIALS,
    GaussianProcess,
    Surrogate,
    observations,
    scaled_scores,
)
from hpsearch.space import Choice, Int, Space, Uniform
from hpsearch.trial import Direction, Status, Trial, TrialResult, plan_trials

SPACE = Space({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0)})


def bowl(params) -> float:
    """Best at x = 0.7, y = 0.2."""
    return -((params["x"] - 0.7) ** 2 + (params["y"] - 0.2) ** 2)


def results(space: Space, n: int, seed: int = 0, score=bowl) -> list[TrialResult]:
    return [TrialResult(t, Status.COMPLETE, (score(t.params),))
            for t in plan_trials(space, "random", n, seed)]


def test_it_learns_from_complete_stopped_and_failed_trials():
    space = Space({"x": Uniform(0.0, 1.0)})

    def trial(n, x):
        return Trial(n, {"x": x}, (x,), 0)

    done = [TrialResult(trial(0, 0.1), Status.COMPLETE, (0.5, 0.7)),
            TrialResult(trial(1, 0.2), Status.PRUNED, extra={"epoch": 4, "score": 0.3}),
            TrialResult(trial(2, 0.3), Status.CRASHED, error="killed"),
            TrialResult(trial(3, 0.4), Status.PRUNED)]  # stopped before any report: not known
    X, y, spread = observations(space, done, Direction.MINIMIZE)
    assert X[:, 0].tolist() == [0.1, 0.2, 0.3]
    # on a larger-is-better scale: the stopped one at its last score, the failed one the worst
    assert y.tolist() == pytest.approx([-0.6, -0.3, -0.6])
    assert spread[0] == pytest.approx(0.01 / 2) and np.isnan(spread[1:]).all()


def test_its_points_lie_in_the_region_on_values_the_parameters_take():
    space = Space({"x": Uniform(0.0, 1.0), "k": Int(1, 6), "act": Choice(("a", "b", "c"))})
    x, act = space.dims.index("x"), space.dims.index("act")
    done = results(space, 30, score=lambda p: -abs(p["x"] - 0.3) - abs(p["k"] - 4))
    model = Surrogate(space, done, Direction.MAXIMIZE, np.full(3, 0.5))
    lo, hi = np.zeros(3), np.ones(3)
    lo[x], hi[x] = 0.2, 0.5
    allowed: list = [None] * 3
    allowed[act] = [space.scales["act"].to_unit("b")]
    points = model.propose([(lo, hi, allowed)], 12, np.random.default_rng(1))
    assert points.shape == (12, 3) and len(np.unique(points, axis=0)) == 12
    assert ((points[:, x] >= 0.2) & (points[:, x] <= 0.5)).all()
    assert all(tuple(p) == space.snap(p) for p in points)  # integers and options at their centre
    assert {space.scales["act"].from_unit(u) for u in points[:, act]} == {"b"}


def test_the_same_generator_gives_the_same_points():
    done = results(SPACE, 25)
    picks = []
    for _ in range(2):
        model = Surrogate(SPACE, done, Direction.MAXIMIZE, np.array([0.5, 0.5]))
        picks.append(model.propose([(np.zeros(2), np.ones(2), [None, None])], 8,
                                   np.random.default_rng(4)))
    assert (picks[0] == picks[1]).all()


def test_its_points_are_nearer_the_best_than_random_ones():
    distances, random_distances = [], []
    for seed in range(5):
        model = Surrogate(SPACE, results(SPACE, 30, seed), Direction.MAXIMIZE,
                          np.array([0.5, 0.5]))
        points = model.propose([(np.zeros(2), np.ones(2), [None, None])], 10,
                               np.random.default_rng(seed))
        distances.append(np.hypot(points[:, 0] - 0.7, points[:, 1] - 0.2).mean())
        uniform = np.random.default_rng(seed).random((10, 2))
        random_distances.append(np.hypot(uniform[:, 0] - 0.7, uniform[:, 1] - 0.2).mean())
    assert np.median(distances) < 0.5 * np.median(random_distances)


def test_ties_and_outliers_do_not_stretch_it():
    done = results(SPACE, 40, score=lambda p: 0.9 if p["x"] > 0.5 else 0.8)
    done[0] = TrialResult(done[0].trial, Status.COMPLETE, (-1e9,))  # a diverged network
    model = Surrogate(SPACE, done, Direction.MAXIMIZE, np.array([0.5, 0.5]))
    expected = model.mean(np.array([[0.9, 0.5], [0.1, 0.5]]))
    assert expected[0] > expected[1] and all(map(math.isfinite, expected))


def test_it_learns_from_the_trials_nearest_the_region_only():
    done = results(SPACE, MODEL_TRIALS + 140)
    model = Surrogate(SPACE, done, Direction.MAXIMIZE, np.array([0.7, 0.2]))
    assert model.gp.F.shape[0] == MODEL_TRIALS


def test_a_big_round_gets_distinct_points_beyond_one_set_of_candidates():
    model = Surrogate(SPACE, results(SPACE, 30), Direction.MAXIMIZE, np.array([0.5, 0.5]))
    points = model.propose([(np.zeros(2), np.ones(2), [None, None])], 300,
                           np.random.default_rng(0))
    assert points.shape == (300, 2) and len(np.unique(points, axis=0)) == 300


def test_scores_keep_their_differences_near_the_top_and_an_outlier_does_not_stretch_them():
    y = np.array([3.0, 1.0, 3.0, 2.0, 2.5, 2.9, -1e9])
    z = scaled_scores(y)
    assert z[0] == z[2] and z[6] < z[1] < z[3] < z[4] < z[5] < z[0]
    # the gaps among the usual scores keep their proportions: 3 - 2.9 is a tenth of 3 - 2
    assert (z[0] - z[5]) / (z[0] - z[3]) == pytest.approx(0.1)
    assert z[6] > -3  # a billion below is pulled in to a log's distance
    assert not scaled_scores(np.array([0.9, 0.9, 0.9])).any()  # all tied: all equal


def test_the_gaussian_process_gradient_is_the_likelihood_s_and_it_fits_a_curve():
    from scipy.optimize import check_grad

    rng = np.random.default_rng(0)
    F = rng.random((40, 3))
    z = np.sin(4 * F[:, 0]) + 0.1 * F[:, 1]
    gp = GaussianProcess(F, (z - z.mean()) / z.std(), 1e-4)
    theta = np.array([0.3, -0.5, 0.2, 1.0, -3.0])
    assert check_grad(lambda t: gp._loss(t)[0], lambda t: gp._loss(t)[1], theta) < 1e-4
    # it learns that the third feature does not matter, the first does
    assert gp.theta[3] > gp.theta[1]
    G = rng.random((50, 3))
    mean, std = gp.predict(G)
    truth = (np.sin(4 * G[:, 0]) + 0.1 * G[:, 1] - z.mean()) / z.std()
    assert np.abs(mean - truth).max() < 0.1 and (std < 0.2).all()
    joint_mean, cov = gp.joint(G[:5])
    assert joint_mean == pytest.approx(mean[:5]) and np.sqrt(np.diag(cov)) == pytest.approx(
        std[:5], rel=1e-3, abs=1e-5)
    # started from a fit, a refit of the same data stays there
    again = GaussianProcess(F, (z - z.mean()) / z.std(), 1e-4, start=gp.theta)
    assert again.theta == pytest.approx(gp.theta, abs=0.05)
