"""Population training: members equal their alone runs; padding, divergence, grouping, and
the runner's use of it are invisible in the results."""

from __future__ import annotations

import numpy as np
import pytest
from run_tables import trials
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from hpsearch.cli import cli
from hpsearch.models import NeuralNetClassifier, NeuralNetRegressor
from hpsearch.models._network import Hyper, Population
from hpsearch.models._together import fit_together, member_bytes


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X)[:600], y[:600]


def weights_equal(a, b, tol=0.0):
    for pa, pb in zip(a.net_.params, b.net_.params):
        for key in pa:
            assert pa[key].shape == pb[key].shape, key
            assert np.allclose(pa[key], pb[key], atol=tol, rtol=0), key


CONFIGS = [dict(learning_rate=1e-3, random_state=1), dict(learning_rate=3e-3, random_state=2),
           dict(learning_rate=1e-2, beta1=0.8, random_state=3),
           dict(learning_rate=3e-4, lr_decay=0.5, random_state=4)]


@pytest.mark.parametrize("update_bytes", [2**20, 1], ids=["one update", "member by member"])
def test_members_equal_their_alone_runs(digits, update_bytes, monkeypatch):
    # A large population updates a few members at a time (to stay in the cache); a tiny
    # budget takes that path here, where the update would otherwise be one block.
    monkeypatch.setattr("hpsearch.models._network.UPDATE_BYTES", update_bytes)
    X, y = digits
    base = dict(hidden_units=32, epochs=4, batch_norm=True)
    alone = [NeuralNetClassifier(**base, **c).fit(X, y) for c in CONFIGS]
    together = [NeuralNetClassifier(**base, **c) for c in CONFIGS]
    assert fit_together(together, [(X, y)] * len(CONFIGS)) == [None] * len(CONFIGS)
    for a, b in zip(alone, together):
        weights_equal(a, b)  # the same shapes: bit-equal
        assert a.history_ == b.history_
        assert np.array_equal(a.predict_proba(X), b.predict_proba(X))


def test_different_widths_are_padded_and_masked(digits):
    X, y = digits
    widths = [16, 48, 32, [8, 40]]
    alone = [NeuralNetClassifier(hidden_units=w, hidden_layers=2, epochs=3, random_state=i,
                                 activation="sigmoid").fit(X, y) for i, w in enumerate(widths)]
    together = [NeuralNetClassifier(hidden_units=w, hidden_layers=2, epochs=3, random_state=i,
                                    activation="sigmoid") for i, w in enumerate(widths)]
    fit_together(together, [(X, y)] * 4)
    for a, b in zip(alone, together):
        weights_equal(a, b, tol=1e-5)  # padding may change the order of float sums
        assert (a.predict(X) == b.predict(X)).mean() > 0.99


def test_padded_units_stay_exactly_zero(digits):
    X, y = digits
    hyper = Hyper(*(np.full(2, v) for v in (1e-2, 0.0, 0.9, 0.999, 1e-8, 0.1, 0.9)))
    net = Population((64, 20, 10), task="classification", activation="sigmoid", init="xavier",
                     optimizer="adam", batch_norm=True, hyper=hyper, seeds=[0, 1],
                     dtype=np.float64, hidden=[[20], [7]])
    Y = np.eye(10)[y]
    rows = np.broadcast_to(np.arange(len(X)), (2, len(X)))
    for epoch in range(3):
        net.train_epoch(X, Y, rows, 32, epoch)
    assert np.all(net.params[0]["W"][1, :, 7:] == 0)
    assert np.all(net.params[1]["W"][1, 7:, :] == 0)
    assert np.all(net.params[0]["beta"][1, :, 7:] == 0)
    assert np.all(net.params[0]["gamma"][1, :, 7:] == 1)  # never moved


def test_a_diverging_member_fails_alone(digits):
    X, y = digits
    models = [NeuralNetClassifier(hidden_units=16, epochs=3, random_state=i, optimizer="sgd",
                                  learning_rate=lr) for i, lr in enumerate((1e-2, 1e7, 3e-2))]
    errors = fit_together(models, [(X * 100, y)] * 3)
    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], FloatingPointError) and "diverged" in str(errors[1])
    alone = NeuralNetClassifier(hidden_units=16, epochs=3, random_state=2, optimizer="sgd",
                                learning_rate=3e-2).fit(X * 100, y)
    weights_equal(alone, models[2])


def test_members_that_cannot_share_are_grouped_and_bad_ones_fail(digits):
    X, y = digits
    specs = [dict(activation="relu"), dict(activation="tanh"), dict(batch_size=16),
             dict(early_stopping=True), dict(learning_rate=-1.0)]
    models = [NeuralNetClassifier(hidden_units=16, epochs=2, random_state=i, **s)
              for i, s in enumerate(specs)]
    errors = fit_together(models, [(X, y)] * len(specs))
    assert [e is None for e in errors] == [True, True, True, True, False]
    assert "learning_rate must be > 0" in str(errors[4])
    for i, spec in enumerate(specs[:4]):
        alone = NeuralNetClassifier(hidden_units=16, epochs=2, random_state=i, **spec).fit(X, y)
        weights_equal(alone, models[i])


def test_regression_members(digits):
    X, _ = digits
    target = X[:, 10] * 3 + X[:, 20]
    alone = NeuralNetRegressor(hidden_units=8, epochs=3, random_state=0).fit(X, target)
    member = NeuralNetRegressor(hidden_units=8, epochs=3, random_state=0)
    fit_together([member], [(X, target)])
    assert np.array_equal(alone.predict(X), member.predict(X))


def test_members_stop_at_their_own_epochs_and_on_request(digits):
    X, y = digits
    models = [NeuralNetClassifier(hidden_units=16, epochs=e, random_state=0) for e in (2, 5, 5)]
    fit_together(models, [(X, y)] * 3, on_epoch=lambda i, r: i == 2 and r["epoch"] == 3)
    assert [m.epoch_ for m in models] == [2, 5, 3]
    weights_equal(NeuralNetClassifier(hidden_units=16, epochs=2, random_state=0).fit(X, y),
                  models[0])


def test_memory_per_member_grows_with_the_network():
    small = member_bytes(NeuralNetClassifier(hidden_units=32, batch_size=16).get_params(), 64, 10)
    large = member_bytes(NeuralNetClassifier(hidden_units=256, batch_size=128).get_params(), 64,
                         10)
    assert 10_000 < small < large and large > 10 * small


CONFIG = """\
name: {name}
objective:
  estimator: hpsearch.models:NeuralNetClassifier
  fixed: {{epochs: 4, hidden_units: 16, batch_size: 32}}
data: {{dataset: digits, scale: standard}}
cv: {{folds: 3}}
search: {{trials: 10, seed: 4{extra}}}
parallel: {{n_jobs: 2, population: {population}}}
space:
  learning_rate: {{log: [1.0e-4, 1.0e-1]}}
  beta1: {{one_minus_log: [0.5, 0.99]}}
  hidden_layers: {{int: [1, 2]}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("population", ["auto", 1, 64])
def test_population_and_off_give_the_same_trials(runner, write, tmp_path, population):
    for name, setting in (("plain", "off"), ("pop", population)):
        result = runner.invoke(cli, ["run", str(write(f"{name}.yaml", CONFIG.format(
            name=name, population=setting, extra=", early_stopping: false"))), "-q"])
        assert result.exit_code == 0, result.output
    off, on = trials(tmp_path / "runs" / "plain"), trials(tmp_path / "runs" / "pop")
    assert [(r.trial, r.status) for r in off] == [(r.trial, r.status) for r in on]
    for a, b in zip(off, on):
        assert np.allclose(a.scores, b.scores, atol=1e-12)


def test_population_with_early_stopping(runner, write, tmp_path):
    result = runner.invoke(cli, ["run", str(write("es.yaml", CONFIG.format(
        name="es", population="auto",
        extra=", early_stopping: {method: asha, min_epochs: 1}"))), "-q"])
    assert result.exit_code == 0, result.output
    statuses = [r.status for r in trials(tmp_path / "runs" / "es")]
    assert "pruned" in statuses and "complete" in statuses
