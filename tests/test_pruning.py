"""Early stopping: the rules, a synthetic set of curves, and runs that prune."""

from __future__ import annotations

import numpy as np
import pytest
from run_tables import table, trials

from hpsearch.cli import cli
from hpsearch.config import load_config
from hpsearch.errors import ConfigError, TrialPruned
from hpsearch.search.pruning import Pruner, Reporter, SharedScores
from hpsearch.store.database import RunBoard
from hpsearch.trial import Direction

MAXIMIZE, MINIMIZE = Direction.MAXIMIZE, Direction.MINIMIZE


def test_asha_keeps_the_top_third_at_each_rung():
    rule = Pruner("asha", min_epochs=2, reduction=3)
    others = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert rule.reason(2, 0.35, others, MAXIMIZE) is not None  # rung 2: top 2 of 6 go on
    assert rule.reason(2, 0.45, others, MAXIMIZE) is None
    assert rule.reason(2, 0.55, others, MAXIMIZE) is None
    assert rule.reason(3, 0.0, others, MAXIMIZE) is None  # not a rung
    assert rule.reason(6, 0.0, [], MAXIMIZE) is None  # the first at a rung goes on
    assert rule.reason(6, 0.05, others, MINIMIZE) is None
    assert rule.reason(1, 0.0, others, MAXIMIZE) is None  # before min_epochs


def test_median_rule_waits_for_enough_trials():
    rule = Pruner("median", min_epochs=2, startup=4)
    assert rule.reason(3, 0.1, [0.5, 0.6, 0.7], MAXIMIZE) is None
    assert "median" in rule.reason(3, 0.1, [0.5, 0.6, 0.7, 0.8], MAXIMIZE)
    assert rule.reason(3, 0.9, [0.5, 0.6, 0.7, 0.8], MAXIMIZE) is None


def curves(n: int, epochs: int, seed: int) -> np.ndarray:
    """Learning curves that rise towards different ceilings and never cross."""
    rng = np.random.default_rng(seed)
    ceilings = rng.uniform(0.5, 0.99, n)
    rates = rng.uniform(0.2, 0.5, n)
    t = np.arange(1, epochs + 1)
    return ceilings[:, None] * (1 - 0.5 * np.exp(-rates.mean() * t))[None, :]


@pytest.mark.parametrize("board", ["store", "shared"])
@pytest.mark.parametrize("method", ["asha", "median"])
@pytest.mark.parametrize("seed", range(5))
def test_prunes_bad_trials_and_never_the_best(tmp_path, method, seed, board):
    rule = Pruner(method, min_epochs=2)
    values = curves(30, 20, seed)
    pruned = {}
    scores = RunBoard(str(tmp_path / "db.sqlite")) if board == "store" else SharedScores()
    for trial, curve in enumerate(values):
        report = Reporter(trial, None, MAXIMIZE, rule, scores)
        try:
            for epoch, value in enumerate(curve, start=1):
                report(epoch, value)
        except TrialPruned as stop:
            pruned[trial] = stop.epoch
        assert [r["epoch"] for r in report.records] == list(range(1, pruned.get(trial, 20) + 1))
    best = int(np.argmax(values[:, -1]))
    assert best not in pruned
    assert len(pruned) >= 10  # many hopeless trials stop
    assert all(epoch <= 20 for epoch in pruned.values())
    worst = int(np.argmin(values[:, -1]))
    assert worst in pruned or worst < rule.startup  # the others it needs to be compared with


@pytest.mark.parametrize("spelling, method", [
    ("asha", "asha"), ("median", "median"), ("true", "asha"), ("successive_halving", "asha"),
    ("{method: median, min_epochs: 3}", "median"), ("{reduction: 2}", "asha")])
def test_config_spellings(write, spelling, method):
    path = write("c.yaml", f"objective: {{function: 'math:sqrt'}}\n"
                           f"search: {{early_stopping: {spelling}}}\nspace: {{x: [1, 4]}}\n")
    rule = load_config(path).search.early_stopping
    assert rule.method == method
    assert load_config(load_config(path).to_dict()).search.early_stopping == rule


def test_config_mistakes(write):
    path = write("c.yaml", "objective: {function: 'math:sqrt'}\n"
                           "search: {early_stopping: ashaa}\nspace: {x: [1, 4]}\n")
    with pytest.raises(ConfigError, match="did you mean 'asha'"):
        load_config(path)
    path = write("d.yaml", "objective: {function: 'math:sqrt'}\n"
                           "search: {early_stopping: {method: asha, rate: 3}}\n"
                           "space: {x: [1, 4]}\n")
    with pytest.raises(ConfigError, match="search.early_stopping.rate"):
        load_config(path)


CURVE = """\
def evaluate(params, report):
    value = 0.0
    for epoch in range(1, 13):
        value = params["ceiling"] * (1 - 0.5 ** epoch)
        report(epoch, value)
    return value
"""


def test_a_function_that_reports_is_pruned(runner, write, tmp_path):
    write("curve.py", CURVE)
    path = write("p.yaml", "name: p\nobjective: {function: 'curve:evaluate'}\n"
                           "search: {trials: 30, early_stopping: {method: asha, min_epochs: 2}}\n"
                           "parallel: {n_jobs: 1}\nspace: {ceiling: {uniform: [0, 1]}}\n")
    result = runner.invoke(cli, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "trials stopped early as hopeless" in result.stderr
    assert "pruned early" in result.stdout
    rows = trials(tmp_path / "runs" / "p")
    pruned = [r for r in rows if r.status == "pruned"]
    complete = [r for r in rows if r.status == "complete"]
    assert pruned and complete
    for r in pruned:
        assert r.error.startswith("pruned at epoch") and r.extra["epoch"] >= 2
    best = max(rows, key=lambda r: r.params["ceiling"])
    assert best.status == "complete"


def test_the_network_is_pruned_epoch_by_epoch(runner, write, tmp_path):
    path = write("n.yaml", """\
name: n
objective:
  estimator: hpsearch.models:NeuralNetClassifier
  fixed: {epochs: 12, hidden_units: 16}
data: {dataset: iris, scale: standard}
cv: {folds: 2}
search: {trials: 12, early_stopping: asha}
parallel: {n_jobs: 1}
space:
  learning_rate: {log: [1.0e-5, 1.0e-1]}
""")
    result = runner.invoke(cli, ["run", str(path), "-q"])
    assert result.exit_code == 0, result.output
    statuses = [r.status for r in trials(tmp_path / "runs" / "n")]
    epochs = [r["epoch"] for r in table(tmp_path / "runs" / "n", "intermediate")]
    assert "pruned" in statuses and "complete" in statuses
    assert epochs and max(epochs) == 12


def test_pruning_on_an_objective_without_epochs_warns(runner, write):
    path = write("s.yaml", "objective: {estimator: 'sklearn.svm:SVC'}\ndata: {dataset: iris}\n"
                           "cv: {folds: 2}\nsearch: {trials: 2, early_stopping: asha}\n"
                           "space: {C: {log: [0.1, 10]}}\n")
    result = runner.invoke(cli, ["run", str(path), "-q"])
    assert result.exit_code == 0
    assert "reports no per-epoch scores" in result.stderr


@pytest.mark.parametrize("method", ["asha", "median"])
@pytest.mark.parametrize("direction", [MAXIMIZE, MINIMIZE])
def test_the_store_answers_the_rules_as_a_list_does(tmp_path, method, direction):
    rule = Pruner(method, min_epochs=1, reduction=3, startup=2)
    scores = RunBoard(str(tmp_path / "db.sqlite"))
    rng = np.random.default_rng(0)
    values = []
    for trial in range(40):
        value = float(rng.integers(0, 6)) / 5  # many ties
        stored_others = scores.report(trial, 0, 1, value, {})
        for probe in (value, 0.0, 0.5, 1.0):
            assert rule.reason(1, probe, stored_others, direction) == \
                rule.reason(1, probe, list(values), direction)
        values.append(value)
