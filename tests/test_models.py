"""The built-in network: gradients, optimizers, batch norm, and the scikit-learn contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_digits, make_classification
from sklearn.model_selection import cross_val_score

from hpsearch.models import NeuralNetClassifier, NeuralNetRegressor
from hpsearch.models._network import Hyper, Population


def population(task="classification", batch_norm=False, activation="tanh", k=2, l2=0.0,
               sizes=(5, 4, 3, 3), optimizer="adam"):
    hyper = Hyper(*(np.full(k, v) for v in (1e-2, 0.0, 0.9, 0.999, 1e-8, l2, 0.9)))
    return Population(sizes, task=task, activation=activation, init="xavier",
                      optimizer=optimizer, batch_norm=batch_norm, hyper=hyper,
                      seeds=list(range(k)), dtype=np.float64)


def batch(task, k=2, b=7, n_in=5, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((k, b, n_in))
    if task == "classification":
        Y = np.eye(n_out)[rng.integers(0, n_out, (k, b))]
    else:
        Y = rng.standard_normal((k, b, n_out))
    return X, Y


@pytest.mark.parametrize(
    "task, batch_norm, activation, l2",
    [
        ("classification", False, "tanh", 0.0),   # dense + softmax cross-entropy
        ("classification", False, "sigmoid", 0.1),
        ("classification", True, "tanh", 0.0),    # batch norm
        ("classification", True, "relu", 0.05),
        ("regression", False, "tanh", 0.0),
        ("regression", True, "sigmoid", 0.0),
    ],
)
def test_gradients_match_finite_differences(task, batch_norm, activation, l2):
    net = population(task, batch_norm, activation, l2=l2)
    X, Y = batch(task)
    _, grads = net.loss_and_grads(X, Y)
    grads = [{k: v.copy() for k, v in g.items()} for g in grads]  # the next call reuses them
    h = 1e-6
    for layer, p in enumerate(net.params):
        for key, value in p.items():
            for index in np.ndindex(value.shape):
                original = value[index]
                value[index] = original + h
                up = net.loss_and_grads(X, Y)[0].sum()
                value[index] = original - h
                down = net.loss_and_grads(X, Y)[0].sum()
                value[index] = original
                numeric = (up - down) / (2 * h)
                assert grads[layer][key][index] == pytest.approx(numeric, rel=1e-4, abs=1e-7), \
                    (layer, key, index)


@pytest.mark.parametrize("optimizer, rate", [("sgd", 0.5), ("momentum", 0.5),
                                             ("rmsprop", 0.01), ("adam", 0.01)])
def test_each_optimizer_decreases_the_loss(optimizer, rate):
    X, y = make_classification(200, 10, n_informative=6, random_state=0)
    model = NeuralNetClassifier(optimizer=optimizer, learning_rate=rate, epochs=15,
                                random_state=0).fit(X, y)
    losses = [h["loss"] for h in model.history_]
    assert len(losses) == 15
    assert losses[-1] < 0.6 * losses[0]


def test_adam_bias_correction_makes_the_first_step_the_learning_rate():
    net = population(optimizer="adam", k=1)
    before = net.params[0]["W"].copy()
    grads = [{k: np.full_like(v, 3.0) for k, v in p.items()} for p in net.params]
    net.step(grads, epoch=0)
    assert np.allclose(before - net.params[0]["W"], 1e-2, rtol=1e-6)  # m̂/√v̂ = 1


def test_learning_rate_decays_per_epoch():
    net = population(optimizer="sgd", k=1)
    net.hyper.lr_decay[:] = 1.0
    before = net.params[0]["W"].copy()
    grads = [{k: np.ones_like(v) for k, v in p.items()} for p in net.params]
    net.step(grads, epoch=3)  # α = α0 / (1 + 1·3)
    assert np.allclose(before - net.params[0]["W"], 1e-2 / 4)


def test_batch_norm_trains_on_batch_statistics_and_predicts_with_running_averages():
    X, y = load_digits(return_X_y=True)
    model = NeuralNetClassifier(batch_norm=True, epochs=3, random_state=0).fit(X / 16, y)
    assert "b" not in model.net_.params[0]  # no bias in a normalized layer
    one = model.predict_proba(X[:1] / 16)
    inside = model.predict_proba(X[:50] / 16)[:1]
    assert np.allclose(one, inside, atol=1e-6)
    # The running mean is an average of batch means: near the mean over the data.
    z = (X / 16).astype(np.float32) @ model.net_.params[0]["W"][0]
    assert np.allclose(model.net_.running[0]["mean"][0, 0], z.mean(axis=0), atol=0.25)
    # In training, a layer's outputs are normalized over the batch.
    net = population(batch_norm=True, k=1)
    Xb, _ = batch("classification", k=1, b=64)
    _, caches = net.forward(Xb * 10 + 3, train=True)
    z_hat = caches[0][1][2][0]
    assert np.allclose(z_hat.mean(axis=1), 0, atol=1e-9)
    assert np.allclose(z_hat.std(axis=1), 1, atol=1e-3)


def test_clones_and_cross_validates_like_any_estimator():
    X, y = load_digits(return_X_y=True)
    model = NeuralNetClassifier(hidden_units=32, epochs=5, random_state=0)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    scores = cross_val_score(copy, X / 16, y, cv=3)
    assert scores.mean() > 0.7  # chance is 0.1


def test_same_seed_same_weights_other_seed_other_weights():
    X, y = make_classification(100, 6, random_state=0)
    a = NeuralNetClassifier(epochs=2, random_state=3).fit(X, y)
    b = NeuralNetClassifier(epochs=2, random_state=3).fit(X, y)
    c = NeuralNetClassifier(epochs=2, random_state=4).fit(X, y)
    for pa, pb, pc in zip(a.net_.params, b.net_.params, c.net_.params):
        assert np.array_equal(pa["W"], pb["W"])
        assert not np.array_equal(pa["W"], pc["W"])


def test_regressor_learns_diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    scores = cross_val_score(NeuralNetRegressor(hidden_units=32, epochs=30, l2=1.0,
                                                random_state=0), X, y, cv=3)
    assert scores.mean() > 0.35  # R²; a linear model gets about 0.48


def test_early_stopping_keeps_the_best_epoch():
    X, y = load_digits(return_X_y=True)
    model = NeuralNetClassifier(epochs=200, early_stopping=True, patience=3, learning_rate=1e-2,
                                random_state=0).fit(X / 16, y)
    history = model.history_
    assert len(history) < 200 and all("val_score" in h for h in history)
    best = max(h["val_score"] for h in history)
    assert [h["val_score"] for h in history[-3:]] < [best] * 3


def test_float64_and_hidden_unit_lists():
    X, y = make_classification(120, 6, random_state=0)
    model = NeuralNetClassifier(hidden_units=[16, 8, 4], dtype="float64", epochs=3,
                                random_state=0).fit(X, y)
    assert [p["W"].shape[1:] for p in model.net_.params] == [(6, 16), (16, 8), (8, 4), (4, 2)]
    assert model.net_.params[0]["W"].dtype == np.float64
    assert model.predict(X).shape == (120,)
    assert np.allclose(model.predict_proba(X).sum(axis=1), 1)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"learning_rate": -0.1}, "learning_rate must be > 0"),
        ({"beta1": 1.0}, "beta1 must be < 1"),
        ({"beta2": -0.5}, "beta2 must be >= 0"),
        ({"optimizer": "adamw"}, "unknown optimizer 'adamw'"),
        ({"activation": "gelu"}, "unknown activation"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"hidden_units": 2.5}, "hidden_units"),
    ],
)
def test_bad_hyperparameters_raise_a_clear_error(params, message):
    X, y = make_classification(50, 4, random_state=0)
    with pytest.raises(ValueError, match=message):
        NeuralNetClassifier(**params).fit(X, y)


def test_divergence_is_an_error_naming_the_learning_rate():
    X, y = make_classification(100, 6, random_state=0)
    with pytest.raises(FloatingPointError, match="diverged.*learning_rate"):
        NeuralNetClassifier(optimizer="sgd", learning_rate=1e6, epochs=5,
                            random_state=0).fit(X * 1e3, y)


def test_bad_hyperparameters_become_failed_trials(tmp_path):
    import hpsearch

    (tmp_path / "net.yaml").write_text(
        "objective: {estimator: 'hpsearch.models:NeuralNetClassifier', fixed: {epochs: 2}}\n"
        "data: {dataset: iris, scale: standard}\ncv: {folds: 2}\n"
        "search: {trials: 6, seed: 0}\nparallel: {n_jobs: 1}\n"
        "space: {beta1: {uniform: [0.5, 1.5]}}\n")
    result = hpsearch.run(tmp_path / "net.yaml", runs_dir=tmp_path / "runs")
    for trial in result.results:
        if trial.params["beta1"] >= 1:
            assert "beta1 must be < 1" in trial.error
        else:
            assert trial.status.value == "complete"
    assert result.failed and len(result.failed) < 6
