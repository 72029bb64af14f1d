"""The model inside a coarse-to-fine round: what it learns from, and the points it picks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpsearch.search.surrogate import (
    MODEL_TRIALS,
    GaussianProcess,
    Surrogate,
    features,
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
    X, y = observations(space, done, Direction.MINIMIZE)
    assert X[:, 0].tolist() == [0.1, 0.2, 0.3]
    # on a larger-is-better scale: the stopped one at its last score, the failed one the worst
    assert y.tolist() == pytest.approx([-0.6, -0.3, -0.6])


def test_fold_scores_let_it_follow_differences_the_folds_spread_would_hide():
    """Scores whose folds differ by 0.3 (a hard fold) and trials by 0.01: the model learns the
    trials' differences as they are, as told the means alone."""
    space = Space({"x": Uniform(0.0, 1.0)})
    trials = plan_trials(space, "random", 30, 0)
    folds = np.array([0.0, -0.3, 0.2, 0.1, -0.05])

    def truth(x):
        return 0.01 * np.sin(6 * x)

    told = [TrialResult(t, Status.COMPLETE, tuple(truth(t.unit[0]) + folds)) for t in trials]
    means = [TrialResult(t, Status.COMPLETE, (truth(t.unit[0]) + folds.mean(),))
             for t in trials]
    grid = np.linspace(0.05, 0.95, 19)[:, None]
    models = [Surrogate(space, rows, Direction.MAXIMIZE, np.array([0.5]))
              for rows in (told, means)]
    for model in models:
        expected = model.mean(grid)
        assert np.corrcoef(expected, truth(grid[:, 0]))[0, 1] > 0.99
        assert model.noise < 0.001  # the noise it fits: next to none, in the score's units
    assert models[0].mean(grid) == pytest.approx(models[1].mean(grid))


def test_the_noise_it_fits_is_the_seeds_not_the_folds():
    """A seeded objective: another run of a trial moves its score by about 0.01; the folds,
    the same for every trial, differ by 0.3. The model's noise is the seed's."""
    space = Space({"x": Uniform(0.0, 1.0)})
    rng = np.random.default_rng(0)
    folds = np.array([0.0, -0.3, 0.2])
    rows = [TrialResult(t, Status.COMPLETE,
                        tuple(np.sin(6 * t.unit[0]) * 0.1 + folds
                              + 0.01 * np.sqrt(3) * rng.standard_normal(3)))
            for t in plan_trials(space, "random", 80, 0)]
    model = Surrogate(space, rows, Direction.MAXIMIZE, np.array([0.5]))
    assert 0.005 < model.noise < 0.02


def test_points_in_flight_count_as_tried_and_draws_turn_away_from_them():
    done = results(SPACE, 8)
    plain = Surrogate(SPACE, done, Direction.MAXIMIZE, np.array([0.5, 0.5]))
    running = np.array([[0.7, 0.2], [0.68, 0.22]])  # where the best is expected
    aware = Surrogate(SPACE, done, Direction.MAXIMIZE, np.array([0.5, 0.5]), start=plain.theta,
                      pending=running)
    near = features(SPACE, np.array([[0.69, 0.21]]))
    (m0,), (s0,) = plain.gp.predict(near)
    (m1,), (s1,) = aware.gp.predict(near)
    assert s1 < 0.5 * s0 and m0 - 1.5 * s0 < m1 < m0  # surer, a little below what it expected
    far = np.array([[0.1, 0.9], [0.2, 0.8]])  # far from them: as it was
    assert aware.mean(far) == pytest.approx(plain.mean(far), abs=0.05)
    box = [(np.zeros(2), np.ones(2), [None, None])]
    close = []  # proposed points within 0.05 of one in flight, over 10 draws of 6
    for model in (plain, aware):
        points = np.vstack([model.propose(box, 6, np.random.default_rng(seed))
                            for seed in range(10)])
        close.append(int((np.abs(points[:, None, :] - running[None]).max(axis=2)
                          < 0.05).any(axis=1).sum()))
    assert close[1] < 0.5 * close[0], close


def test_polished_candidates_reach_a_smooth_optimum_the_random_ones_miss():
    space = Space({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0), "k": Int(1, 3)})
    done = results(space, 40, score=lambda p: -((p["x"] - 0.613) ** 2 + (p["y"] - 0.287) ** 2))
    model = Surrogate(space, done, Direction.MAXIMIZE, np.full(3, 0.5))
    rng = np.random.default_rng(0)
    candidates = rng.random((200, 3))
    candidates[:, 2] = [space.scales["k"].snap(u) for u in candidates[:, 2]]
    mean, std = model.gp.predict(features(space, candidates))
    box = [(np.full(3, 0.1), np.full(3, 0.9), [None] * 3)]
    inside = candidates[((candidates >= 0.1) & (candidates <= 0.9)).all(axis=1)]
    polished = model.polish(inside, *model.gp.predict(features(space, inside)), box)
    assert len(polished) == 8
    x, y, k = (space.dims.index(n) for n in "xyk")
    best = polished[np.argmax(model.mean(polished))]
    assert abs(best[x] - 0.613) < 0.01 and abs(best[y] - 0.287) < 0.01
    # integers keep their values; everything stays in the box
    assert set(polished[:, k]) <= set(inside[:, k])
    assert ((polished >= 0.1) & (polished <= 0.9)).all()
    # the gradient it follows is the model's
    from scipy.optimize import check_grad

    g = features(space, inside[:1])[0]
    for upper in (0.0, 1.0):
        assert check_grad(lambda v, upper=upper: model.gp.gradients(v, upper)[0],
                          lambda v, upper=upper: model.gp.gradients(v, upper)[1], g) < 1e-4


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
