"""Scales: where samples land, round trips, bounds, and the YAML spellings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpsearch.errors import ConfigError
from hpsearch.space import Choice, Fixed, Int, Log, OneMinusLog, Space, Uniform, parse_param
from hpsearch.trial import plan_trials

N = 20_000
# Binomial standard error of a share p over N draws is sqrt(p(1-p)/N) <= 0.0036; 0.02 is > 5 sigma.
TOL = 0.02


def draw(scale, n=N, seed=0):
    u = np.random.default_rng(seed).random(n)
    return np.array([scale.from_unit(x) for x in u], dtype=object)


def test_log_puts_a_quarter_of_samples_in_each_decade():
    values = draw(Log(1e-4, 1.0)).astype(float)
    shares = [np.mean((values >= 10.0 ** (k - 4)) & (values < 10.0 ** (k - 3))) for k in range(4)]
    shares[3] += np.mean(values == 1.0)
    assert shares == pytest.approx([0.25] * 4, abs=TOL)


def test_one_minus_log_splits_beta_evenly_per_decade_of_one_minus_beta():
    values = draw(OneMinusLog(0.9, 0.999)).astype(float)
    assert np.mean(values < 0.99) == pytest.approx(0.5, abs=TOL)
    # and a third per decade over three decades
    thirds = draw(OneMinusLog(0.9, 0.9999)).astype(float)
    edges = [0.9, 0.99, 0.999, 0.9999 + 1e-12]
    shares = [np.mean((thirds >= a) & (thirds < b)) for a, b in zip(edges, edges[1:])]
    assert shares == pytest.approx([1 / 3] * 3, abs=TOL)


def test_uniform_and_log_rarely_sample_beta_above_0_99():
    # The README's table: about 9 % above 0.99 for uniform and log, 50 % for one_minus_log.
    for scale in (Uniform(0.9, 0.999), Log(0.9, 0.999)):
        assert np.mean(draw(scale).astype(float) > 0.99) == pytest.approx(0.0909, abs=TOL)


def test_uniform_is_flat():
    values = draw(Uniform(50, 100)).astype(float)
    counts, _ = np.histogram(values, bins=5, range=(50, 100))
    assert counts / N == pytest.approx([0.2] * 5, abs=TOL)


@pytest.mark.parametrize("log", [False, True])
def test_int_gives_each_integer_its_share(log):
    values = draw(Int(2, 4, log=log)).astype(int)
    assert set(values) == {2, 3, 4}
    if not log:
        assert [np.mean(values == k) for k in (2, 3, 4)] == pytest.approx([1 / 3] * 3, abs=TOL)


def test_int_log_spreads_batch_sizes_evenly_per_doubling():
    values = draw(Int(16, 1024, log=True)).astype(int)
    assert values.min() >= 16 and values.max() <= 1024
    below_128 = np.mean(values < 128)  # 16..128 is half of log(16..1024)
    assert below_128 == pytest.approx(0.5, abs=TOL)


def test_choice_picks_each_option_equally():
    values = draw(Choice(("relu", "tanh", "sigmoid")))
    assert [np.mean(values == v) for v in ("relu", "tanh", "sigmoid")] == pytest.approx(
        [1 / 3] * 3, abs=TOL
    )


@pytest.mark.parametrize(
    "scale, low, high",
    [
        (Uniform(-1.0, 3.0), -1.0, 3.0),
        (Log(1e-4, 1.0), 1e-4, 1.0),
        (OneMinusLog(0.9, 0.999), 0.9, 0.999),
        (Int(2, 4), 2, 4),
        (Int(16, 1024, log=True), 16, 1024),
        (Uniform(0.0, 1.0, step=0.25), 0.0, 1.0),
        (Log(16.0, 1024.0, step=16.0), 16.0, 1024.0),
    ],
)
def test_end_points_are_reached_and_bounds_hold(scale, low, high):
    assert scale.from_unit(0.0) == pytest.approx(low)
    assert scale.from_unit(1.0) == pytest.approx(high)
    values = draw(scale, n=5000).astype(float)
    assert values.min() >= low and values.max() <= high


@pytest.mark.parametrize(
    "scale, values",
    [
        (Uniform(-1.0, 3.0), [-1.0, 0.0, 2.5, 3.0]),
        (Log(1e-4, 1.0), [1e-4, 3.2e-3, 0.5, 1.0]),
        (OneMinusLog(0.9, 0.999), [0.9, 0.95, 0.9973, 0.999]),
        (Int(2, 10), [2, 5, 10]),
        (Int(16, 1024, log=True), [16, 100, 1024]),
        (Choice(("relu", 3, None)), ["relu", 3, None]),
    ],
)
def test_round_trip_value_to_unit_and_back(scale, values):
    for value in values:
        back = scale.from_unit(scale.to_unit(value))
        if isinstance(value, float):
            assert back == pytest.approx(value, rel=1e-9)
        else:
            assert back == value


def test_steps_restrict_values_to_the_grid():
    values = draw(Uniform(0.0, 1.0, step=0.25), n=4000).astype(float)
    assert set(np.round(values, 12)) == {0.0, 0.25, 0.5, 0.75, 1.0}
    counts = [np.mean(np.isclose(values, v)) for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert counts == pytest.approx([0.2] * 5, abs=0.035)
    logs = draw(Log(16.0, 1024.0, step=16.0), n=4000).astype(float)
    assert np.allclose(logs % 16, 0)
    evens = draw(Int(0, 10, step=2), n=4000).astype(int)
    assert set(evens) == {0, 2, 4, 6, 8, 10}


def test_formats_read_on_the_scale():
    assert Log(1e-4, 1).format(0.0032) == "3.20e-03"
    assert OneMinusLog(0.9, 0.9999).format(0.99734) == "0.99734"
    assert OneMinusLog(0.9, 0.999).format(0.95) == "0.9500"


def test_narrow_keeps_the_kind():
    assert isinstance(Log(1e-4, 1.0).narrow(0.25, 0.5), Log)
    narrowed = Log(1e-4, 1.0).narrow(0.25, 0.5)
    assert (narrowed.low, narrowed.high) == (pytest.approx(1e-3), pytest.approx(1e-2))
    assert isinstance(OneMinusLog(0.9, 0.999).narrow(0.0, 0.5), OneMinusLog)
    assert Int(0, 9).narrow(0.15, 0.45) == Int(1, 4)


SPELLINGS = [
    ({"scale": "log", "low": 1e-4, "high": 1}, Log(1e-4, 1.0)),
    ({"log": [1e-4, 1]}, Log(1e-4, 1.0)),
    ({"scale": "loguniform", "low": 1e-4, "high": 1}, Log(1e-4, 1.0)),
    ({"scale": "LOG_UNIFORM", "low": 1e-4, "high": 1}, Log(1e-4, 1.0)),
    ({"scale": "int", "low": 2, "high": 4}, Int(2, 4)),
    ({"int": [16, 1024], "log": True}, Int(16, 1024, log=True)),
    ({"scale": "integer", "low": 2.0, "high": 4}, Int(2, 4)),
    ({"scale": "choice", "values": ["relu", "tanh"]}, Choice(("relu", "tanh"))),
    ({"categorical": ["relu", "tanh"]}, Choice(("relu", "tanh"))),
    (["relu", "tanh"], Choice(("relu", "tanh"))),
    ({"one_minus_log": [0.9, 0.999]}, OneMinusLog(0.9, 0.999)),
    ({"uniform": [0, 1], "step": 0.5}, Uniform(0.0, 1.0, 0.5)),
    (7, Fixed(7)),
    ("adam", Fixed("adam")),
    ({"fixed": [64, 32]}, Fixed([64, 32])),
]


@pytest.mark.parametrize("spec, expected", SPELLINGS)
def test_spellings(spec, expected):
    assert parse_param(spec) == expected


@pytest.mark.parametrize("scale", [s for _, s in SPELLINGS])
def test_to_yaml_reads_back_equal(scale):
    assert parse_param(scale.to_yaml()) == scale


BAD = [
    ({"scale": "logg", "low": 1, "high": 2}, "scale", "did you mean 'log'"),
    ({"scale": "uniform", "low": 5, "high": 1}, "low", "low < high must hold"),
    ({"scale": "log", "low": 0, "high": 1}, "low", "low > 0 must hold"),
    ({"scale": "log", "low": -4, "high": 0}, "low", "not exponents"),
    ({"scale": "one_minus_log", "low": 0.9, "high": 1.5}, "high", "0 < high < 1"),
    ({"scale": "int", "low": 2.5, "high": 4}, "low", "whole number"),
    ({"scale": "choice", "values": []}, "values", "at least one value"),
    ({"scale": "log", "low": "a", "high": 1}, "low", "must be a number"),
    ({"scale": "log", "low": 1, "hihg": 2}, "hihg", "did you mean 'high'"),
    ({"scale": "randint", "low": 1, "high": 4}, "scale", "excludes its upper bound"),
    ({"scale": "int", "low": 0, "high": 8, "log": True}, "low", "low >= 1"),
    ({"low": 1, "high": 2}, None, "give the parameter a scale"),
    ({"log": 3}, "log", "takes [low, high]"),
]


@pytest.mark.parametrize("spec, key, message", BAD)
def test_bad_scales_say_what_and_where(spec, key, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as info:
        parse_param(spec)
    assert info.value.key == key


def test_space_dims_are_sorted_and_skip_fixed():
    space = Space({"z": Log(1e-3, 1), "epochs": Fixed(5), "a": Int(1, 3)})
    assert space.dims == ("a", "z")
    params = space.from_unit([0.0, 1.0])
    assert params == {"z": pytest.approx(1.0), "epochs": 5, "a": 1}
    assert list(params) == ["z", "epochs", "a"]  # the config's order for display
    assert space.to_unit(params) == pytest.approx([1 / 6, 1.0])
    assert math.isclose(space.to_unit({"a": 3, "z": 1e-3, "epochs": 5})[1], 0.0)


def test_each_scale_answers_how_to_show_narrow_and_plot_it():
    log, beta, layers = Log(1e-4, 1.0), OneMinusLog(0.9, 0.999), Int(16, 256, log=True)
    act = Choice(("relu", "tanh", "sigmoid"))
    assert log.range_text() == "1.00e-04..1.00e+00" and log.ends() == ("1.00e-04", "1.00e+00")
    assert layers.range_text() == "16..256" and layers.label == "int log"
    assert act.range_text() == "[relu, tanh, sigmoid]" and act.ends() == ("relu", "sigmoid")
    assert Fixed(5).range_text() == "5"
    # discrete scales snap u to the centre of its value; continuous ones leave it
    assert Int(1, 4).snap(0.3) == pytest.approx(0.375) and act.snap(0.9) == pytest.approx(5 / 6)
    assert log.snap(0.123) == 0.123 and Uniform(0, 1, 0.5).snap(0.1) == pytest.approx(0.0)
    # a choice has no order: narrowing keeps the options seen among the best
    assert act.narrow(0.0, 0.2, seen=["tanh", "relu", "tanh"]) == Choice(("relu", "tanh"))
    assert act.narrow(0.0, 0.2) == Choice(("relu",)) and not act.ordered and log.ordered
    assert act.shrink_text(Choice(("relu",)), 1.0) == "3 → 1 options"
    assert log.shrink_text(log, 4.0) == "×4" and log.shrink_text(log, math.inf) == "fixed"
    # the axis a plot draws it on: 1 − β on a reversed log axis, options as ticks
    assert (beta.plot_value(0.99), beta.log_axis, beta.reversed_axis) == \
        (pytest.approx(0.01), True, True)
    assert beta.axis_label("beta1") == "1 − beta1 (log)" and log.axis_label("lr") == "lr (log)"
    assert act.plot_value("sigmoid") == 2 and act.ticks() == ([0, 1, 2],
                                                               ["relu", "tanh", "sigmoid"])
    assert layers.log_axis and not Int(1, 4).log_axis and Uniform(0, 1).ticks() is None


def test_adding_a_scale_is_one_class(monkeypatch, tmp_path):
    """A square-root scale, written as one class and registered: a search runs on it, and
    zoom, the leaderboard, importance and the plots all handle it."""
    from dataclasses import dataclass
    from typing import ClassVar

    import hpsearch
    from hpsearch import space
    from hpsearch.insight import importance
    from hpsearch.present import report
    from hpsearch.runs import zoom_region

    @dataclass(frozen=True)
    class Sqrt(Uniform):
        """Uniform in the square root of the value."""

        kind: ClassVar[str] = "sqrt"
        linear: ClassVar[bool] = False

        def _pos(self, value: float) -> float:
            return math.sqrt(value)

        def _value(self, pos: float) -> float:
            return pos * pos

    monkeypatch.setitem(space.SCALES, "sqrt", Sqrt)
    assert parse_param({"sqrt": [0, 100]}) == Sqrt(0.0, 100.0)
    (tmp_path / "f.py").write_text("def evaluate(p):\n    return -abs(p['x'] - 25)\n")
    cfg = {"name": "sq", "objective": {"function": "f:evaluate", "path": [str(tmp_path)]},
           "search": {"trials": 30, "seed": 0, "rounds": 3}, "parallel": {"n_jobs": 1},
           "space": {"x": {"scale": "sqrt", "low": 0, "high": 100},
                     "y": {"uniform": [0, 1]}}}
    run = hpsearch.run(cfg, runs_dir=tmp_path / "runs")
    drawn = [t.params["x"] for t in plan_trials(run.space, "random", N, 0)]
    assert np.mean(np.array(drawn) < 25) == pytest.approx(0.5, abs=TOL)  # half below 5²
    assert abs(run.best.params["x"] - 25) < 5
    _, region, config = zoom_region("sq", runs_dir=tmp_path / "runs")
    assert config["space"]["x"]["scale"] == "sqrt" and isinstance(region.space.scales["x"], Sqrt)
    assert importance(run.space, run.results).shares["x"] > 0.5
    for renderable in (report.leaderboard_table(run), report.profile_table(run, ["x", "y"]),
                       report.zoom_table(run.space, region, "zoom")):
        report.print_out(renderable)
