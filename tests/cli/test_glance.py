"""A run at a glance: a leaderboard that fits any terminal, the best trial's card, a live status
read from another process while the run goes on, json everywhere, and two runs compared."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from hpsearch.cli import cli
from hpsearch.present import report
from hpsearch.runs import open_run

EIGHT = """\
import math
def evaluate(p):
    base = 0.985 - 0.004 * (math.log10(p["learning_rate"]) + 2.5) ** 2
    base -= 0.002 * abs(p["hidden_layers"] - 2) + 0.001 * math.log10(p["lr_decay"] / 1e-3)
    wobble = 0.002 + 0.004 * ((p["hidden_units"] * 7 + p["batch_size"] * 13) % 17) / 17
    return [base + wobble * math.sin(1.3 * k + 1000 * p["beta2"]) for k in range(5)]
"""

CONFIG = """\
name: {name}
objective: {{function: "eight:evaluate"}}
search: {{trials: 30, seed: {seed}, direction: {direction}, rounds: 1}}
parallel: {{n_jobs: 1}}
space:
  learning_rate: {{scale: log, low: 1.0e-4, high: 1.0e-1}}
  beta1:         {{scale: one_minus_log, low: 0.8, high: 0.99}}
  beta2:         {{scale: one_minus_log, low: 0.99, high: 0.9999}}
  lr_decay:      {{scale: log, low: 1.0e-3, high: 1.0}}
  hidden_layers: {{scale: int, low: 1, high: 3}}
  hidden_units:  {{scale: int, low: 32, high: 256, log: true}}
  batch_size:    {{scale: int, low: 16, high: 256, log: true}}
  batch_norm:    [false, true]
"""
NAMES = ["learning_rate", "beta1", "beta2", "lr_decay", "hidden_layers", "hidden_units",
         "batch_size", "batch_norm"]


def invoke(runner, *args):
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def eight(runner, write):
    """A finished run of 30 trials over the quickstart's eight parameters, five folds each."""
    write("eight.py", EIGHT)
    invoke(runner, "run", write("eight.yaml", CONFIG.format(name="eight", seed=4,
                                                            direction="maximize")), "-q")
    return "eight"


def rendered(renderable, width: int) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_the_leaderboard_fits_and_shows_every_score_whole(eight, width):
    run = open_run(eight)
    text = rendered(report.leaderboard_table(run, top=20, width=width), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for rank, result in run.ranked()[:20]:
        whole = f"{result.mean:.4f} ± {result.std:.4f}"
        row = [line for line in lines if re.match(rf"[│|]\s+{rank}\s+[│|]\s+{result.number}\s",
                                                  line)]
        assert len(row) == 1 and whole in row[0], (width, rank, whole, row)
    shown = [n for n in NAMES if n in lines[2]]  # the header line
    hidden = [n for n in NAMES if n not in shown]
    order = report.param_order(run, [r for _, r in run.ranked()[:20]])
    assert set(shown) == set(order[:len(shown)])  # the least telling are left out first
    if hidden:  # named below the table, with how to show them
        note = " ".join(text.split())
        assert "not shown: " + ", ".join(sorted(hidden, key=NAMES.index)) in note or all(
            n in note for n in hidden)
        assert "--columns" in note
    if width == 200:
        assert not hidden
    if width == 80:
        assert "learning_rate" in shown  # the one that drives the score is kept


def test_the_leaderboard_at_80_columns_from_the_command_line(eight):
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "hpsearch", "leaderboard", eight,
                           "--columns", "beta2,batch_norm"], capture_output=True, text=True,
                          env=env, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "beta2" in lines[2] and "batch_norm" in lines[2] and "± " in lines[4]


def test_columns_names_an_unknown_parameter(runner, eight):
    result = runner.invoke(cli, ["leaderboard", eight, "--columns", "beta_2"])
    assert result.exit_code == 2
    assert "no searched parameter or metric 'beta_2'" in result.stderr and "beta2" in result.stderr


def test_top_1_is_the_best_trials_card(runner, eight):
    best = json.loads(invoke(runner, "leaderboard", eight, "--format", "json", "--top", "1")
                      .stdout)[0]
    card = invoke(runner, "leaderboard", eight, "--top", "1").stdout
    assert all(name in card for name in NAMES)
    assert f"{best['mean_score']:.4f} ± {best['std_score']:.4f}" in card
    assert all(f"{s:.4f}" in card for s in best["scores"]) and len(best["scores"]) == 5
    assert re.search(rf"best trial\s+│ {best['trial']} \(round 1", card)


def test_runs_importance_and_status_speak_json(runner, eight):
    runs = json.loads(invoke(runner, "runs", "--format", "json").stdout)
    assert [r["name"] for r in runs] == ["eight"] and runs[0]["trials"] == 30
    found = json.loads(invoke(runner, "importance", eight, "--format", "json").stdout)
    assert found["trials"] == 30 and set(found["shares"]) == set(NAMES)
    assert list(found["shares"])[0] == "learning_rate"
    status = json.loads(invoke(runner, "status", eight, "--format", "json").stdout)
    assert (status["status"], status["planned"], status["complete"], status["running"]) == (
        "finished", 30, 30, 0)
    best = json.loads(invoke(runner, "leaderboard", eight, "--format", "json").stdout)[0]
    assert status["best"]["trial"] == best["trial"]


HELD = """\
import os, time
def evaluate(p):
    while not os.path.exists("go"):  # held until the test has seen it run
        time.sleep(0.05)
    return p["x"]
"""


@pytest.mark.slow
def test_status_while_the_run_goes_on(write, tmp_path):
    """Another process reads the run as it runs: the planned total, running trials with their
    params, and the leaderboard marks them. The trials are held until then."""
    write("held.py", HELD)
    config = write("slow.yaml", "name: slow\nobjective: {function: 'held:evaluate'}\n"
                                "search: {trials: 8, seed: 1}\nparallel: {n_jobs: 2}\n"
                                "space:\n  x: {scale: uniform, low: 0, high: 1}\n")
    command = [sys.executable, "-m", "hpsearch"]
    background = subprocess.Popen([*command, "run", str(config), "-q"], cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        status = None
        deadline = time.monotonic() + 300  # only against a hang: the trials wait for "go"
        while time.monotonic() < deadline and background.poll() is None:
            read = subprocess.run([*command, "status", "slow", "--format", "json"],
                                  capture_output=True, text=True, cwd=tmp_path)
            if read.returncode:  # not created yet
                assert "no run" in read.stderr or "not found" in read.stderr, read.stderr
            elif json.loads(read.stdout)["running"] == 2:
                status = json.loads(read.stdout)
                break
            time.sleep(0.1)
        assert status is not None, background.stderr.read()
        assert (status["status"], status["planned"], status["complete"]) == ("running", 8, 0)
        assert all(0 <= t["params"]["x"] <= 1 for t in status["running_trials"])
        board = subprocess.run([*command, "leaderboard", "slow", "--format", "json"],
                               capture_output=True, text=True, cwd=tmp_path)
        assert sum(r["status"] == "running" for r in json.loads(board.stdout)) == 2
        (tmp_path / "go").touch()
        assert background.wait(timeout=600) == 0, background.stderr.read()
    finally:
        (tmp_path / "go").touch()
        background.kill()
    trial = status["running_trials"][0]
    assert trial["status"] == "running" and trial["elapsed"] >= 0
    final = json.loads(subprocess.run([*command, "status", "slow", "--format", "json"],
                                      capture_output=True, text=True, cwd=tmp_path).stdout)
    assert (final["status"], final["complete"], final["running"]) == ("finished", 8, 0)


def test_compare_two_runs(runner, write, eight):
    invoke(runner, "run", write("rival.yaml", CONFIG.format(name="rival", seed=9,
                                                            direction="maximize")), "-q")
    found = json.loads(invoke(runner, "compare", eight, "rival", "--format", "json").stdout)
    boards = [json.loads(invoke(runner, "leaderboard", name, "--format", "json").stdout)
              for name in ("eight", "rival")]
    for run, board in zip(found["runs"], boards):
        assert run["best"]["mean_score"] == board[0]["mean_score"]
        means = sorted(r["mean_score"] for r in board)
        assert run["quantiles"]["50%"] == pytest.approx((means[14] + means[15]) / 2)
        assert run["best_trials"] == 3  # 10 % of 30, at least 3
    lr = found["best_trials"]["learning_rate"]
    top = sorted(r["params"]["learning_rate"] for r in boards[0][:3])
    assert (lr[0]["low"], lr[0]["middle"], lr[0]["high"]) == tuple(top)
    assert set(found["best_trials"]["batch_norm"][1]["options"]) <= {"False", "True"}
    table = " ".join(invoke(runner, "compare", eight, "rival").stdout.split())
    assert "eight against rival" in table
    for board in boards:
        assert f"{board[0]['mean_score']:.4f}" in table
    assert "'s best is better by" in table


def test_status_and_compare_from_python(eight):
    import hpsearch

    status = hpsearch.status(eight)
    assert status["complete"] == 30 and status["status"] == "finished"
    run = hpsearch.open_run(eight)
    found = hpsearch.compare(run, eight)  # a RunResult or a name
    assert [r["run"] for r in found["runs"]] == ["eight", "eight"]
    assert found["runs"][0]["best"] == found["runs"][1]["best"]


def test_a_finished_run_took_the_time_it_took(eight, monkeypatch):
    """Its elapsed time is from its start to its end, the same read a minute later."""
    import time

    import hpsearch

    first = hpsearch.status(eight)["elapsed"]
    later = time.time() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert hpsearch.status(eight)["elapsed"] == first
    assert 0 < first < 60


def test_compare_refuses_runs_scored_the_other_way(runner, write, eight):
    invoke(runner, "run", write("loss.yaml", CONFIG.format(name="loss", seed=9,
                                                           direction="minimize")), "-q")
    result = runner.invoke(cli, ["compare", eight, "loss"])
    assert result.exit_code == 2
    assert "cannot compare eight (maximizes its score) with loss (minimizes it)" in result.stderr


def test_status_of_a_missing_run(runner, tmp_path):
    result = runner.invoke(cli, ["status", "nothere"])
    assert result.exit_code == 2 and "nothere" in result.stderr
    assert not Path("runs/nothere").exists()


def test_notes_on_a_run_and_its_trials_kept_in_its_folder(runner, eight):
    assert runner.invoke(cli, ["note", eight, "lr range too wide"]).exit_code == 0
    done = runner.invoke(cli, ["note", eight, "--trial", "3", "the one to ship"])
    assert done.exit_code == 0 and "noted for trial 3" in done.stderr
    shown = runner.invoke(cli, ["note", eight])
    assert shown.stdout.splitlines() == ["run: lr range too wide", "trial 3: the one to ship"]
    import hpsearch

    assert hpsearch.runs.notes(eight) == {"run": "lr range too wide",
                                          "trials": {3: "the one to ship"}}
    assert runner.invoke(cli, ["note", eight, "--trial", "3", ""]).exit_code == 0
    assert runner.invoke(cli, ["note", eight]).stdout.splitlines() == ["run: lr range too wide"]
    missing = runner.invoke(cli, ["note", eight, "--trial", "99", "x"])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"Error: runs/{eight}: no trial 99 yet (its trials: 0 to 29)"
    long = runner.invoke(cli, ["note", eight, "x" * 2001])
    assert long.exit_code == 2 and "a note of 2,001 characters: at most 2,000" in long.stderr
