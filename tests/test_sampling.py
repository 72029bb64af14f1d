"""Samplers: shapes, seeding, coverage; and the trials a run plans from them."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.search.sampling import SAMPLERS, sample_unit
from hpsearch.space import Choice, Log, Space
from hpsearch.trial import plan_trials, trial_seed


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_points_lie_in_the_unit_cube(sampler):
    points = sample_unit(sampler, 100, 3, seed=0)
    assert points.shape == (100, 3)
    assert points.min() >= 0.0 and points.max() <= 1.0


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_same_seed_same_points_other_seed_other_points(sampler):
    a = sample_unit(sampler, 50, 3, seed=1)
    assert np.array_equal(a, sample_unit(sampler, 50, 3, seed=1))
    assert not np.array_equal(a, sample_unit(sampler, 50, 3, seed=2))


def test_random_search_tries_more_distinct_values_than_grid():
    # The reason random beats grid: each of the n points has its own value in every dimension.
    random, grid = sample_unit("random", 64, 3, seed=0), sample_unit("grid", 64, 3, seed=0)
    assert len(np.unique(random[:, 0])) == 64
    assert len(np.unique(grid[:, 0])) == 4


def test_sobol_covers_the_cube_more_evenly_than_random():
    from scipy.stats import qmc

    sobol = [qmc.discrepancy(sample_unit("sobol", 128, 2, seed=s)) for s in range(5)]
    random = [qmc.discrepancy(sample_unit("random", 128, 2, seed=s)) for s in range(5)]
    assert np.median(sobol) < np.median(random)


def test_grid_without_repeats_when_larger_than_asked():
    points = sample_unit("grid", 10, 2, seed=0)  # a 4 x 4 grid, 10 of its 16 cells
    assert len({tuple(p) for p in points}) == 10


def test_planned_trials_are_numbered_seeded_and_deterministic():
    space = Space({"lr": Log(1e-4, 1.0), "act": Choice(("relu", "tanh"))})
    trials = plan_trials(space, "random", 5, seed=3)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert len({t.seed for t in trials}) == 5
    assert trials == plan_trials(space, "random", 5, seed=3)
    assert trials != plan_trials(space, "random", 5, seed=4)
    for t in trials:
        assert space.from_unit(t.unit) == t.params


def test_trial_seed_depends_on_run_seed_and_number_only():
    assert trial_seed(0, 7) == trial_seed(0, 7)
    assert trial_seed(0, 7) != trial_seed(1, 7)
    assert trial_seed(0, 7) != trial_seed(0, 8)
