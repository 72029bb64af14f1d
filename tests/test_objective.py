"""Objectives: one class per kind, chosen once from the config."""

from __future__ import annotations

import sys

import pytest

from hpsearch.config import load_config
from hpsearch.objective import (
    CommandObjective,
    EstimatorObjective,
    FunctionObjective,
    build_objective,
)
from hpsearch.trial import Trial

SPACE = "space: {C: {log: [0.1, 10]}}\n"


@pytest.mark.parametrize("objective, data, cls, epochs", [
    ('{estimator: "sklearn.svm:SVC"}', "data: {dataset: iris}\n", EstimatorObjective, False),
    ('{estimator: "hpsearch.models:NeuralNetClassifier"}', "data: {dataset: iris}\n",
     EstimatorObjective, True),
    ('{function: "math:log10"}', "", FunctionObjective, False),
    (f'{{command: ["{sys.executable}", "-c", "print(1)"]}}', "", CommandObjective, True),
])
def test_the_config_chooses_the_class_once(write, objective, data, cls, epochs):
    space = SPACE.replace("C:", "learning_rate:") if "Neural" in objective else SPACE
    built = build_objective(load_config(write("c.yaml", f"objective: {objective}\n{data}{space}")))
    assert type(built) is cls and built.reports_epochs is epochs


def test_fixed_values_are_merged_under_the_sampled_ones(write):
    cfg = load_config(write("c.yaml", 'objective: {command: ["echo", "{C}", "{kernel}", '
                                      '"{trial}"], fixed: {kernel: rbf}}\n' + SPACE))
    objective = build_objective(cfg)
    trial = Trial(3, {"C": 0.5}, (0.5,), 11)
    assert objective.command_line(cfg.objective.params(trial.params), trial) == \
        ["echo", "0.5", "rbf", "3"]


def test_a_command_leaves_out_what_names_a_branch_not_taken(write):
    cfg = load_config(write("c.yaml", 'objective: {command: ["echo", "--opt={opt}", '
                                      '"--beta2={beta2}", "{trial}"], env: {B2: "{beta2}"}}\n'
                                      "space:\n  opt: {choice: {sgd: {}, adam: {beta2: "
                                      "{uniform: [0.9, 0.99]}}}}\n"))
    objective = build_objective(cfg)
    sgd, adam = Trial(0, {"opt": "sgd"}, (0.25, 0.5), 1), \
        Trial(1, {"opt": "adam", "beta2": 0.95}, (0.75, 0.5), 1)
    assert objective.command_line(sgd.params, sgd) == ["echo", "--opt=sgd", "0"]
    assert objective.environment(sgd.params, sgd) == {}
    assert objective.command_line(adam.params, adam) == ["echo", "--opt=adam", "--beta2=0.95",
                                                         "1"]
    assert objective.environment(adam.params, adam) == {"B2": "0.95"}


def test_each_fold_gets_the_params_as_they_were_sampled(write):
    write("popping.py", "def evaluate(params, X_train, y_train, X_val, y_val):\n"
                        "    return params.pop('C') / 10\n")  # it takes what it wants out
    cfg = load_config(write("c.yaml", 'objective: {function: "popping:evaluate"}\n'
                                      "data: {dataset: iris}\ncv: {folds: 3}\n" + SPACE))
    objective = build_objective(cfg)
    result = objective(Trial(0, {"C": 2.0}, (0.65,), 1))
    assert result.status == "complete" and result.scores == (0.2, 0.2, 0.2)
