"""Coarse to fine: zoom maths in each scale, warnings, and multi-round search quality."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from hpsearch.search.coarse_to_fine import (
    SIDE_MIN,
    SMALLEST,
    CoarseToFine,
    auto_lookahead,
    auto_rounds,
    first_round,
    round_sizes,
)
from hpsearch.search.region import zoom
from hpsearch.search.strategy import evaluate_all
from hpsearch.space import Choice, Int, Log, OneMinusLog, Space, Uniform
from hpsearch.trial import Status, Trial, TrialResult


def results(space: Space, rows: list[tuple[dict, float]]) -> list[TrialResult]:
    out = []
    for number, (params, score) in enumerate(rows):
        full = {**{n: s.from_unit(0.5) for n, s in space.scales.items()}, **params}
        trial = Trial(number, full, tuple(space.to_unit(full)), 0)
        out.append(TrialResult(trial, Status.COMPLETE, (score,)))
    return out


def test_log_zoom_narrows_in_decades_not_linearly():
    space = Space({"lr": Log(1e-6, 1.0)})
    rows = [({"lr": 1e-3}, 1.0), ({"lr": 1e-2}, 0.9)] + [({"lr": v}, 0.0) for v in (1e-6, 0.5)]
    region = zoom(space, results(space, rows), "maximize", top=2, margin=0.0)
    new = region.space.scales["lr"]
    assert isinstance(new, Log)
    pad = 0.02 * 6  # the 2 % floor of a 6-decade range, in decades
    assert math.log10(new.low) == pytest.approx(-3 - pad)
    assert math.log10(new.high) == pytest.approx(-2 + pad)


def test_margin_is_a_share_of_the_box_width_in_the_scale():
    space = Space({"lr": Log(1e-6, 1.0)})
    rows = [({"lr": 1e-4}, 1.0), ({"lr": 1e-2}, 0.9), ({"lr": 0.9}, 0.0)]
    new = zoom(space, results(space, rows), "maximize", top=2, margin=0.25).space.scales["lr"]
    assert math.log10(new.low) == pytest.approx(-4.5)
    assert math.log10(new.high) == pytest.approx(-1.5)


def test_one_minus_log_zoom_narrows_one_minus_beta_in_decades():
    space = Space({"beta": OneMinusLog(0.5, 0.99999)})
    rows = [({"beta": 0.99}, 1.0), ({"beta": 0.999}, 0.9), ({"beta": 0.6}, 0.0)]
    new = zoom(space, results(space, rows), "maximize", top=2, margin=0.5).space.scales["beta"]
    assert isinstance(new, OneMinusLog)
    assert math.log10(1 - new.low) == pytest.approx(-1.5)
    assert math.log10(1 - new.high) == pytest.approx(-3.5)


def test_uniform_zoom_is_linear_and_clipped():
    space = Space({"x": Uniform(0.0, 10.0)})
    rows = [({"x": 9.0}, 1.0), ({"x": 10.0}, 0.9), ({"x": 2.0}, 0.0)]
    new = zoom(space, results(space, rows), "maximize", top=2, margin=0.5).space.scales["x"]
    assert (new.low, new.high) == (pytest.approx(8.5), pytest.approx(10.0))


def test_direction_minimize_zooms_on_the_lowest_scores():
    space = Space({"x": Uniform(0.0, 10.0)})
    rows = [({"x": 1.0}, 0.1), ({"x": 2.0}, 0.2), ({"x": 9.0}, 5.0), ({"x": 8.0}, 4.0)]
    new = zoom(space, results(space, rows), "minimize", top=2, margin=0.0).space.scales["x"]
    assert new.low < 1.0 < 2.0 < new.high < 3.0


def test_int_rounds_outwards_and_choice_keeps_the_options_seen():
    space = Space({"n": Int(0, 9), "act": Choice(("relu", "tanh", "sigmoid", "elu"))})
    rows = [({"n": 3, "act": "relu"}, 1.0), ({"n": 5, "act": "sigmoid"}, 0.9),
            ({"n": 9, "act": "elu"}, 0.0)]
    region = zoom(space, results(space, rows), "maximize", top=2, margin=0.0)
    assert region.space.scales["n"] == Int(3, 5)
    assert region.space.scales["act"] == Choice(("relu", "sigmoid"))


def test_edge_and_does_not_matter_warnings():
    space = Space({"lr": Log(1e-4, 1.0), "x": Uniform(0, 1)})
    rows = [({"lr": 0.95, "x": 0.01}, 1.0), ({"lr": 0.9, "x": 0.99}, 0.9),
            ({"lr": 0.99, "x": 0.5}, 0.8), ({"lr": 1e-4, "x": 0.5}, 0.0)]
    region = zoom(space, results(space, rows), "maximize", top=3)
    text = " ".join(region.warnings)
    assert "lr: the best 3 trials are all at the upper bound 1.00e+00" in text
    assert "x: not narrowed" in text
    assert region.space.scales["x"] == Uniform(0.0, 1.0)
    assert "only 4 complete trials" in text


def test_too_few_complete_trials():
    space = Space({"x": Uniform(0, 1)})
    with pytest.raises(ValueError, match="at least 2"):
        zoom(space, results(space, [({"x": 0.3}, 1.0)]), "maximize")


@pytest.mark.parametrize("seed", range(10))
def test_zoom_never_loses_the_best_point(seed):
    space = Space({"lr": Log(1e-5, 1.0), "beta": OneMinusLog(0.5, 0.9999), "n": Int(1, 8),
                   "x": Uniform(-1, 1)})
    rng = np.random.default_rng(seed)
    rows = [(space.from_unit(rng.random(4)), float(rng.normal())) for _ in range(30)]
    trials = results(space, rows)
    best = max(trials, key=lambda r: r.mean)
    for top in (2, 5, 10):
        region = zoom(space, trials, "maximize", top=top, margin=0.1)
        for name, scale in region.space.scales.items():
            value = best.params[name]
            if scale.is_fixed:  # the top trials agree on one integer
                assert scale.value == value
            else:
                assert scale.low <= value <= scale.high, (name, scale, value)


def test_round_sizes_split_the_budget_in_growing_rounds():
    assert round_sizes(100, 15, 1) == [100]
    assert round_sizes(100, 15, 5) == [15, 17, 20, 22, 26]  # each 15 % more than the one before
    sizes = round_sizes(1000, 150, 15)
    assert sum(sizes) == 1000 and sizes[1:] == sorted(sizes[1:])
    assert round_sizes(100, 40, 10)[0] == 40  # room for enqueued points
    assert sum(round_sizes(5, 2, 4)) == 5 and min(round_sizes(5, 2, 4)) == 1


@pytest.mark.parametrize("trials, first, rounds", [(8, 6, 1), (19, 10, 1), (20, 10, 3),
                                                   (30, 10, 5), (100, 15, 11), (1000, 150, 15),
                                                   (10000, 1500, 15), (96, 47, 6)])
def test_auto_rounds_grow_with_the_log_of_the_budget(trials, first, rounds):
    assert auto_rounds(trials, first) == rounds


def test_auto_rounds_have_two_trials_each_at_least():
    for trials in range(20, 3000, 7):
        for first in (6, 10, 40, 200):
            rounds = auto_rounds(trials, min(first, trials))
            if rounds > 1:
                assert min(round_sizes(trials, min(first, trials), rounds)) >= SMALLEST


def test_lookahead_and_round_one_from_the_workers():
    assert [auto_lookahead(w) for w in (1, 2, 8, 32)] == [1, 5, 12, 42]
    # round 2 learns from max(5, dims + 1) results with L trials still running
    assert first_round(100, 5, 2) == 15 and first_round(30, 5, 2) == 10
    assert first_round(96, 42, 4) == 47 and first_round(100, 5, 12) == 18
    assert first_round(10, 5, 2) == 10 and first_round(100, 5, 2, enqueue=40) == 40


def test_a_round_is_planned_from_the_trials_before_its_start_minus_the_lookahead():
    space = Space({"x": Uniform(0, 1), "y": Uniform(0, 1)})
    strategy = CoarseToFine(space, "maximize", trials=40, seed=0, lookahead=4)
    starts = strategy.starts
    assert starts[0] == 0 and len(starts) > 3
    for r, start in enumerate(starts[1:], start=2):
        assert strategy.needs(start) == start - 4
        assert strategy.needs(start + strategy.sizes[r - 1] - 1) == start - 4


def test_trust_region_grows_on_gains_keeps_on_ties_and_shrinks_after_two_shortfalls():
    space = Space({"x": Uniform(0, 1)})
    strategy = CoarseToFine(space, "maximize", trials=12, seed=0, rounds=3, lookahead=1,
                            side=0.4)
    assert strategy.sizes == [6, 3, 3]

    def rounds(*bests: float) -> list[TrialResult]:
        rows, number = [], 0
        for size, best in zip(strategy.sizes, bests):
            for k in range(size):
                x = 0.1 + 0.05 * number
                rows.append(TrialResult(Trial(number, {"x": x}, (x,), 0), Status.COMPLETE,
                                        (best if k == 0 else best - 1,)))
                number += 1
        return rows

    assert strategy._side(rounds(1.0)) == 0.4
    assert strategy._side(rounds(1.0, 2.0)) == pytest.approx(0.6)  # a gain: wider
    assert strategy._side(rounds(1.0, 1.0, 1.0)) == 0.4  # a plateau is no failure
    assert strategy._side(rounds(1.0, 0.5)) == 0.4  # one shortfall: kept
    assert strategy._side(rounds(1.0, 0.5, 0.5)) == pytest.approx(0.24)  # two: narrower
    assert strategy._side(rounds(1.0, 0.5)[:7]) == 0.4  # a round not all in does not count
    tiny = CoarseToFine(space, "maximize", trials=12, seed=0, rounds=3, lookahead=1,
                        side=0.06)
    assert tiny._side(rounds(1.0, 0.5, 0.5)) == SIDE_MIN


def test_a_shortfall_the_folds_agree_on_counts_however_far_apart_the_folds_are():
    """Every trial meets the same folds, and the second fold is hard for all of them: a round
    whose best is 0.001 under the best on every fold falls short (its spread between folds,
    0.06, is no noise), as it does when the means alone are told; a tie is a plateau."""
    space = Space({"x": Uniform(0, 1)})
    strategy = CoarseToFine(space, "maximize", trials=12, seed=0, rounds=3, lookahead=1,
                            side=0.4)

    def rows(gap, folds=True):
        out = []
        for number in range(12):
            x = 0.05 * number
            base = 0.93 if number in (0, 6, 9) else 0.5
            if number in (6, 9):  # the best of rounds 2 and 3
                base -= gap
            scores = (base - 0.03, base + 0.03) if folds else (base,)
            out.append(TrialResult(Trial(number, {"x": x}, (x,), 0), Status.COMPLETE, scores))
        return out

    assert strategy._side(rows(0.001)) == pytest.approx(0.24)  # two shortfalls: narrower
    assert strategy._side(rows(0.001, folds=False)) == pytest.approx(0.24)
    assert strategy._side(rows(0.0)) == 0.4  # a plateau is no failure


def test_a_shortfall_within_the_model_s_noise_is_a_tie():
    """On a seeded objective whose model fitted a noise of 0.02, the same gap of 0.001 is a
    tie: the box keeps its side."""
    space = Space({"x": Uniform(0, 1)})
    strategy = CoarseToFine(space, "maximize", trials=12, seed=0, rounds=3, lookahead=1,
                            side=0.4)
    out = []
    for number in range(12):
        x = 0.05 * number
        base = 0.93 - (0.001 if number in (6, 9) else 0.0) if number in (0, 6, 9) else 0.5
        out.append(TrialResult(Trial(number, {"x": x}, (x,), 0), Status.COMPLETE, (base,)))
    assert strategy._side(out) == pytest.approx(0.24)
    assert strategy._side(out, noise=0.02) == 0.4


def valley(params):
    a = math.log10(params["lr"]) - math.log10(3e-3)
    b = math.log10(1 - params["beta"]) - math.log10(1e-2)
    return 4 * (a - 0.8 * b) ** 2 + 0.5 * b * b


@pytest.mark.slow
def test_the_default_rounds_beat_one_round_of_random_search_at_the_same_budget():
    space = Space({"lr": Log(1e-6, 1.0), "beta": OneMinusLog(0.5, 0.99999)})

    def evaluate(trials):
        return [TrialResult(t, Status.COMPLETE, (-valley(t.params),)) for t in trials]

    wins, gaps = 0, []
    for seed in range(12):
        one = evaluate_all(CoarseToFine(space, "maximize", trials=60, seed=seed, rounds=1),
                           evaluate)
        three = evaluate_all(CoarseToFine(space, "maximize", trials=60, seed=seed, lookahead=5),
                             evaluate)
        assert max(r.trial.round for r in three) > 3
        best_one = max(r.mean for r in one)
        best_three = max(r.mean for r in three)
        wins += best_three > best_one
        gaps.append(best_three - best_one)
    assert wins >= 10, wins
    assert np.median(gaps) > 0


def test_the_last_round_trains_again_in_full_a_stopped_trial_the_complete_ones_rate_best():
    """A trial stopped early where the complete trials say the best scores are (a slow
    starter) is trained again in full in the last round: same point and seed, never stopped;
    one stopped where they score badly is not."""
    space = Space({"x": Uniform(0.0, 1.0), "y": Uniform(0.0, 1.0)})

    def evaluate(trials):
        out = []
        for t in trials:
            score = -((t.params["x"] - 0.7) ** 2 + (t.params["y"] - 0.2) ** 2)
            if t.number % 4 == 1 and t.retest_of is None:  # stopped early, at a poor score
                out.append(TrialResult(t, Status.PRUNED, extra={"epoch": 4, "score": -1.0}))
            else:
                out.append(TrialResult(t, Status.COMPLETE, (score,)))
            assert t.peers == (0 if t.retest_of is not None else None)
        return out

    promoted = 0
    for seed in range(4):  # whether a stopped trial lands where the best are is up to the seed
        done = evaluate_all(CoarseToFine(space, "maximize", trials=60, seed=seed, lookahead=2),
                            evaluate)
        again = [r for r in done if r.trial.retest_of is not None]
        promoted += len(again)
        last = max(r.trial.round for r in done)
        by_number = {r.number: r for r in done}
        assert len(again) <= 3  # 5 % of 60 at most
        for r in again:
            old = by_number[r.trial.retest_of]
            assert r.trial.round == last and old.status is Status.PRUNED
            assert (r.params, r.trial.unit, r.trial.seed) == (old.params, old.trial.unit,
                                                               old.trial.seed)
            # where the complete trials score well: within the top ones' box
            assert abs(r.params["x"] - 0.7) < 0.2 and abs(r.params["y"] - 0.2) < 0.2
        # the same trials again: promotion follows from the results alone
        assert [r.trial for r in evaluate_all(
            CoarseToFine(space, "maximize", trials=60, seed=seed, lookahead=2), evaluate)] == \
            [r.trial for r in done]
    assert promoted >= 2


def test_fold_scores_give_the_same_search_as_their_mean():
    """The folds are the same for every trial: a function returning its 5 fold scores (one
    fold much harder than the others) gets the very trials one returning their mean gets."""
    space = Space({"lr": Log(1e-4, 1.0), "c": Uniform(0.0, 1.0)})
    folds = np.array([0.0, -0.2, 0.05, 0.1, -0.02])

    def truth(params):
        return -(math.log10(params["lr"]) + 2) ** 2 - 0.3 * (params["c"] - 0.4) ** 2

    def evaluate(mean_only):
        def scores(trials):
            out = []
            for t in trials:
                per_fold = truth(t.params) + folds + 0.001 * np.sin(7 * t.unit[1] + folds * 30)
                told = tuple(map(float, per_fold))
                told = (statistics.fmean(told),) if mean_only else told
                out.append(TrialResult(t, Status.COMPLETE, told))
            return out
        return scores

    runs = [evaluate_all(CoarseToFine(space, "maximize", trials=40, seed=3, lookahead=5),
                         evaluate(mean_only)) for mean_only in (False, True)]
    assert [r.trial for r in runs[0]] == [r.trial for r in runs[1]]
    assert max(r.trial.round for r in runs[0]) > 3
