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
