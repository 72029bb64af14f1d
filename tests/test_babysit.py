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


def test_cli_babysit_and_resume(runner, config, write, tmp_path):
    write("p.yaml", "learning_rate: 0.003\n")
    result = runner.invoke(cli, ["babysit", str(config), "--params", "p.yaml"])
    assert result.exit_code == 0, result.output
    assert "epoch    6" in result.stderr and "panda: 6 epochs" in result.stdout
    again = runner.invoke(cli, ["babysit", "--resume", "panda"])
    assert again.exit_code == 0 and "done" in again.stderr
    wrong = runner.invoke(cli, ["resume", "panda"])
    assert wrong.exit_code == 2 and "hpsearch babysit --resume" in wrong.stderr


def test_babysit_from_a_trial_of_a_run(runner, config, tmp_path):
    assert runner.invoke(cli, ["run", str(config), "--trials", "2", "--jobs", "1",
                               "-q"]).exit_code == 0
    result = runner.invoke(cli, ["babysit", str(config), "--from-run", "panda", "--trial", "1",
                                 "--name", "one"])
    assert result.exit_code == 0, result.output
    from hpsearch.api import open_run

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
