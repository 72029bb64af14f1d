"""Objectives for the benchmarks, importable by worker processes."""

import math
import time

import numpy as np


def trivial(params):
    return params["x"]


def busy(params):
    """About 50 ms of CPU work in one thread (numpy sorting, which takes no BLAS threads)."""
    rng = np.random.default_rng(int(params["x"] * 1e9))
    deadline = time.process_time() + 0.05
    total = 0.0
    while time.process_time() < deadline:
        total += float(np.sort(rng.random(20_000))[0])
    return total


def eight_folds(p):
    """Five fold scores over the quickstart's eight parameters: the learning rate matters most,
    then the depth and the decay; the rest wobble the folds."""
    base = 0.985 - 0.004 * (math.log10(p["learning_rate"]) + 2.5) ** 2
    base -= 0.002 * abs(p["hidden_layers"] - 2) + 0.001 * math.log10(p["lr_decay"] / 1e-3)
    wobble = 0.002 + 0.004 * ((p["hidden_units"] * 7 + p["batch_size"] * 13) % 17) / 17
    return [base + wobble * math.sin(1.3 * k + 1000 * p["beta2"]) for k in range(5)]


def network_dies_once(params, X_train, y_train, X_val, y_val):
    """One fold of the built-in network; the first call of a run kills its process (a marker file
    remembers), as the out-of-memory killer would."""
    import os

    from hpsearch.models import NeuralNetClassifier

    marker = params.pop("marker")
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            os._exit(9)
        except FileExistsError:
            pass
    model = NeuralNetClassifier(epochs=10, random_state=0, **params)
    return model.fit(X_train, y_train).score(X_val, y_val)


def eight_curves(p, report=None):
    """eight_folds' score, reached over ten reported epochs: a run with learning curves."""
    final = sum(eight_folds(p)) / 5
    for epoch in range(1, 11):
        if report is not None:
            report(epoch, final * (1 - 0.5 ** epoch))
    return final
