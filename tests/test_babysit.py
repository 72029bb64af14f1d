"""Panda mode: hot changes from the control file, refusals, pause/stop, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from hpsearch.babysit import Babysitter
from hpsearch.cli import cli

CONFIG = """\
name: panda
objective:
  estimator: hpsearch.models:NeuralNetClassifier
  fixed: {epochs: 6, hidden_units: 16, batch_size: 32}
data: {dataset: digits, scale: standard}
search: {seed: 1}
space:
  learning_rate: {log: [1.0e-4, 1.0e-1]}
  beta1: {one_minus_log: [0.8, 0.99]}
  hidden_layers: {int: [1, 3]}
"""


@pytest.fixture
def config(write):
    return write("panda.yaml", CONFIG)


def edit(sitter: Babysitter, **changes) -> None:
    control = yaml.safe_load(sitter.control_path.read_text())
    control.update(changes)
    sitter.control_path.write_text(yaml.safe_dump(control))


def test_control_file_starts_with_the_current_values(config, tmp_path):
    sitter = Babysitter.start(config, {"learning_rate": 3e-3}, runs_dir=tmp_path / "runs")
    text = sitter.control_path.read_text()
    control = yaml.safe_load(text)
    assert control["state"] == "run" and control["learning_rate"] == 3e-3
    assert control["epochs"] == 6
    assert "#   hidden_layers: 2" in text  # structural values are shown, commented out
    sitter.close()


def test_a_hot_change_applies_from_the_next_epoch(config, tmp_path):
    sitter = Babysitter.start(config, {"learning_rate": 3e-3}, runs_dir=tmp_path / "runs")
    sitter.step()
    sitter.step()
    assert sitter.model.net_.hyper.learning_rate[0] == pytest.approx(3e-3)
    edit(sitter, learning_rate=1e-4, beta1=0.5)
    sitter.read_control()
    assert "epoch 3: learning_rate 0.003 → 0.0001" in sitter.messages
    record = sitter.step()  # epoch 3 trains with the new values
    assert record["epoch"] == 3 and record["learning_rate"] == pytest.approx(1e-4)
    assert sitter.model.net_.hyper.learning_rate[0] == pytest.approx(1e-4)
    assert sitter.model.net_.hyper.beta1[0] == pytest.approx(0.5)
    changes = sitter.store.changes()
    assert {(c["epoch"], c["name"], c["new"]) for c in changes} == {
        (3, "learning_rate", 1e-4), (3, "beta1", 0.5)}
    assert [e["learning_rate"] for e in sitter.store.epochs()][:3] == pytest.approx(
        [3e-3, 3e-3, 1e-4])
    sitter.close()


def test_structural_and_invalid_changes_are_refused_and_training_goes_on(config, tmp_path):
    sitter = Babysitter.start(config, {}, runs_dir=tmp_path / "runs")
    sitter.step()
    edit(sitter, hidden_layers=5, learning_rate=-1.0, epochs=8)
    sitter.step()
    said = " ".join(sitter.messages)
    assert "hidden_layers: refused, it is structural (the model keeps 2)" in said
    assert "learning_rate: refused" in said and "must be > 0" in said
    assert sitter.model.hidden_layers == 2 and sitter.model.learning_rate > 0
    assert sitter.model.epochs == 8  # the valid change still applies
    assert sitter.run() == "done" and sitter.model.epoch_ == 8
    sitter.close()


def test_pause_and_stop(config, tmp_path):
    sitter = Babysitter.start(config, {}, runs_dir=tmp_path / "runs")
    sitter.step()
    edit(sitter, state="pause")
    pauses = []

    def on_pause(s):
        pauses.append(s.model.epoch_)
        edit(s, state="stop")

    assert sitter.run(on_pause=on_pause, poll=0.01) == "stopped"
    assert pauses == [1] and sitter.model.epoch_ == 1
    sitter.close()


def test_resume_from_the_checkpoint_equals_an_uninterrupted_run(config, tmp_path):
    straight = Babysitter.start(config, {"learning_rate": 3e-3}, name="straight",
                                runs_dir=tmp_path / "runs")
    assert straight.run() == "done"
    split = Babysitter.start(config, {"learning_rate": 3e-3}, name="split",
                             runs_dir=tmp_path / "runs")
    for _ in range(3):
        split.step()
    split.close()
    again = Babysitter.resume("split", runs_dir=tmp_path / "runs")
    assert again.model.epoch_ == 3
    assert again.run() == "done"
    for a, b in zip(straight.model.net_.params, again.model.net_.params):
        for key in a:
            assert np.array_equal(a[key], b[key]), key
    assert [e["loss"] for e in straight.store.epochs()] == [e["loss"]
                                                           for e in again.store.epochs()]
    straight.close()
    again.close()


STEPPER = """\
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class Stepper(RegressorMixin, BaseEstimator):
    \"\"\"Linear regression by gradient descent, one full-batch step an epoch: a model of the
    user's own that follows the babysit protocol.\"\"\"

    hot_params = ("lr", "epochs")

    def __init__(self, lr=0.1, epochs=6, ridge=0.0):
        self.lr, self.epochs, self.ridge = lr, epochs, ridge

    def check_params(self):
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def begin(self, X, y, validation=None):
        self.X_, self.y_, self.validation_ = X, y, validation
        self.w_, self.epoch_ = np.zeros(X.shape[1]), 0
        return self

    def train_epoch(self):
        residual = self.X_ @ self.w_ - (self.y_ - self.y_.mean())
        self.w_ = self.w_ - self.lr * (self.X_.T @ residual / len(residual) + self.ridge * self.w_)
        self.epoch_ += 1
        X_val, y_val = self.validation_
        return {"epoch": self.epoch_, "loss": float(np.mean(residual ** 2)),
                "val_score": float(-np.mean((X_val @ self.w_ - (y_val - self.y_.mean())) ** 2)),
                "learning_rate": self.lr}

    def state(self):
        return {"w": self.w_, "epoch": np.array(self.epoch_)}

    def load_state(self, arrays):
        self.w_, self.epoch_ = arrays["w"].copy(), int(arrays["epoch"])
        return self
"""

STEPPER_CONFIG = """\
name: own
objective:
  estimator: stepper:Stepper
  fixed: {epochs: 6, ridge: 0.0}
data: {dataset: diabetes, scale: standard}
cv: {scoring: neg_mean_squared_error}
space:
  lr: {log: [1.0e-3, 1.0]}
"""


def test_a_model_of_ones_own_that_follows_the_protocol_is_babysat(runner, write, tmp_path):
    write("stepper.py", STEPPER)
    config = write("own.yaml", STEPPER_CONFIG)
    sitter = Babysitter.start(config, {"lr": 0.05}, runs_dir=tmp_path / "runs")
    control = yaml.safe_load(sitter.control_path.read_text())
    assert control == {"state": "run", "lr": 0.05, "epochs": 6}  # its own hot parameters
    assert "#   ridge: 0.0" in sitter.control_path.read_text()
    sitter.step()
    sitter.step()
    edit(sitter, lr=0.2, ridge=1.0)
    sitter.read_control()
    said = " ".join(sitter.messages)
    assert "epoch 3: lr 0.05 → 0.2" in said
    assert "ridge: refused, it is structural" in said
    assert sitter.step()["learning_rate"] == 0.2 and sitter.model.ridge == 0.0
    edit(sitter, lr=-1.0)
    sitter.read_control()
    assert "lr: refused, lr must be > 0" in " ".join(sitter.messages)
    assert sitter.run() == "done"
    rows = sitter.store.epochs()
    assert [r["learning_rate"] for r in rows] == [0.05, 0.05, 0.2, 0.2, 0.2, 0.2]
    assert rows[-1]["val_score"] > rows[0]["val_score"]  # it learns
    weights = sitter.model.w_
    sitter.close()
    again = Babysitter.resume("own", runs_dir=tmp_path / "runs")  # from its own checkpoint
    assert again.model.epoch_ == 6 and np.array_equal(again.model.w_, weights)
    again.close()
    result = runner.invoke(cli, ["babysit", str(config), "--name", "cli"])
    assert result.exit_code == 0, result.output
    assert "cli: 6 epochs" in result.stdout
    write("endless.py", STEPPER.replace("epochs=6, ridge", "ridge").replace(
        "self.lr, self.epochs, self.ridge = lr, epochs, ridge", "self.lr, self.ridge = lr, ridge"))
    endless = write("endless.yaml", STEPPER_CONFIG.replace("stepper:Stepper", "endless:Stepper")
                    .replace("epochs: 6, ", ""))
    result = runner.invoke(cli, ["babysit", str(endless)])
    assert result.exit_code == 2 and "Stepper has no epochs parameter" in result.stderr


def test_cli_babysit_and_resume(runner, config, write, tmp_path):
    write("p.yaml", "learning_rate: 0.003\n")
    result = runner.invoke(cli, ["babysit", str(config), "--params", "p.yaml"])
    assert result.exit_code == 0, result.output
    assert "epoch    6" in result.stderr and "panda: 6 epochs" in result.stdout
    again = runner.invoke(cli, ["babysit", "--resume", "panda"])
    assert again.exit_code == 0 and "done" in again.stderr
    wrong = runner.invoke(cli, ["resume", "panda"])
    assert wrong.exit_code == 2 and "hpsearch babysit --resume" in wrong.stderr


def test_a_diverging_model_ends_with_one_clear_line(runner, config, write):
    write("hot.yaml", "learning_rate: 1.0e+7\noptimizer: sgd\n")
    result = runner.invoke(cli, ["babysit", str(config), "--params", "hot.yaml"])
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "Error: training diverged at epoch 1" in result.stderr
    assert "lower learning_rate" in result.stderr


def test_babysit_from_a_trial_of_a_run(runner, config, tmp_path):
    assert runner.invoke(cli, ["run", str(config), "--trials", "2", "--jobs", "1",
                               "-q"]).exit_code == 0
    result = runner.invoke(cli, ["babysit", str(config), "--from-run", "panda", "--trial", "1",
                                 "--name", "one"])
    assert result.exit_code == 0, result.output
    from hpsearch.runs import open_run

    trial = open_run("panda").results[1]
    sitter = Babysitter.resume("one")
    assert sitter.model.learning_rate == trial.params["learning_rate"]
    sitter.close()


def test_babysit_needs_a_network(runner, write):
    path = write("svc.yaml", "objective: {estimator: 'sklearn.svm:SVC'}\n"
                             "data: {dataset: iris}\nspace: {C: {log: [0.1, 10]}}\n")
    result = runner.invoke(cli, ["babysit", str(path)])
    assert result.exit_code == 2 and "epoch by epoch" in result.stderr
    assert "--resume" in runner.invoke(cli, ["babysit", "--help"]).stdout
