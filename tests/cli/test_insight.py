"""Understanding a run: importance, plots, export, retest, and the list of runs."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from hpsearch.cli import cli
from hpsearch.insight import importance
from hpsearch.space import Log, Space, Uniform
from hpsearch.trial import Status, Trial, TrialResult

DRIVE = """\
import math
def evaluate(p):
    return -(math.log10(p["lr"]) + 2.5) ** 2 + 0.01 * p["noise_a"] + 0.01 * p["noise_b"]
"""

CONFIG = """\
name: drive
objective: {function: "drive:evaluate"}
search: {trials: TRIALS, seed: 3}
parallel: {n_jobs: 1}
space:
  noise_a: {scale: uniform, low: 0, high: 1}
  lr:      {scale: log, low: 1.0e-5, high: 1.0}
  noise_b: {scale: uniform, low: 0, high: 1}
"""


@pytest.fixture
def drive(runner, write):
    """A run of 48 trials whose score depends on lr only (plus a little noise)."""
    write("drive.py", DRIVE)
    result = runner.invoke(cli, ["run", str(write("drive.yaml", CONFIG.replace("TRIALS", "48"))),
                                 "-q"])
    assert result.exit_code == 0, result.output
    return "drive"


def invoke(runner, *args):
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_importance_puts_the_driving_parameter_first():
    space = Space({"a": Uniform(0, 1), "lr": Log(1e-5, 1), "b": Uniform(0, 1)})
    import numpy as np

    rng = np.random.default_rng(0)
    results = []
    for n in range(60):
        params = space.from_unit(rng.random(3))
        score = -(np.log10(params["lr"]) + 2.5) ** 2 + 0.01 * params["a"]
        results.append(TrialResult(Trial(n, params, tuple(space.to_unit(params)), 0),
                                   Status.COMPLETE, (score,)))
    found = importance(space, results)
    assert list(found.shares)[0] == "lr" and found.shares["lr"] > 0.8
    assert found.r2 > 0.8 and found.reliable
    assert sum(found.shares.values()) == pytest.approx(1)


def test_importance_command(runner, drive):
    out = invoke(runner, "importance", drive).stdout
    assert out.index("lr") < out.index("noise_a") and out.index("lr") < out.index("noise_b")
    assert "too few trials" not in out


def test_importance_says_when_there_are_too_few_trials(runner, write):
    write("drive.py", DRIVE)
    invoke(runner, "run", write("d.yaml", CONFIG.replace("TRIALS", "6")), "-q")
    assert "too few trials to say" in invoke(runner, "importance", "drive").stdout


def test_terminal_view_shows_the_score_along_each_parameter(runner, drive):
    out = invoke(runner, "plot", drive).stdout
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert set(lines) == {"lr", "noise_a", "noise_b"}
    assert "1.00e-05" in lines["lr"] and "█" in lines["lr"]


@pytest.mark.parametrize("suffix", [".png", ".svg", ".html"])
def test_plot_files_are_valid_images(runner, drive, tmp_path, suffix):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"plot{suffix}"
    invoke(runner, "plot", drive, "--out", path)
    data = path.read_bytes()
    if suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 600 and height >= 400
    elif suffix == ".svg":
        assert b"<svg" in data[:2000]
    else:
        assert data.startswith(b"<!doctype html>") and b"data:image/svg+xml;base64," in data


def test_plot_needs_a_known_file_kind(runner, drive, tmp_path):
    pytest.importorskip("matplotlib")
    result = runner.invoke(cli, ["plot", drive, "--out", str(tmp_path / "p.jpg")])
    assert result.exit_code == 2 and ".png, .svg or .html" in result.stderr


def test_export_round_trips(runner, drive, tmp_path):
    rows = json.loads(invoke(runner, "export", drive, "--format", "json").stdout)
    table = list(csv.DictReader(io.StringIO(invoke(runner, "export", drive).stdout)))
    assert [r["trial"] for r in rows] == list(range(48))
    assert len(table) == 48
    for row, line in zip(rows, table):
        assert float(line["param_lr"]) == row["param_lr"]
        assert float(line["mean_score"]) == row["mean_score"]
        assert float(line["split0_score"]) == row["split0_score"]
        assert line["status"] == row["status"] == "complete"
    leader = json.loads(invoke(runner, "leaderboard", drive, "--format", "json", "--top", "1")
                        .stdout)[0]
    assert rows[leader["trial"]]["rank_score"] == 1
    out = tmp_path / "x.csv"
    invoke(runner, "export", drive, "--out", out)
    assert out.read_text() == invoke(runner, "export", drive).stdout


def test_export_to_parquet_reads_back(runner, drive, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")  # the parquet extra; the test extra has it
    invoke(runner, "export", drive, "--format", "parquet", "--out", tmp_path / "t.parquet")
    table = pq.read_table(tmp_path / "t.parquet").to_pylist()
    rows = json.loads(invoke(runner, "export", drive, "--format", "json").stdout)
    assert table == rows
    no_out = runner.invoke(cli, ["export", drive, "--format", "parquet"])
    assert no_out.exit_code == 2 and "give --out" in no_out.stderr


def test_retest_stores_a_marked_round_and_compares(runner, drive):
    result = invoke(runner, "retest", drive, "--top", "3", "--seeds", "2")
    assert "old rank" in result.stdout and "new score" in result.stdout
    rows = json.loads(invoke(runner, "export", drive, "--format", "json").stdout)
    retests = [r for r in rows if r["retest"]]
    assert len(retests) == 6 and {r["round"] for r in retests} == {2}
    best = sorted((r for r in rows if not r["retest"]), key=lambda r: r["rank_score"])[:3]
    assert sorted({r["retest_of"] for r in retests}) == sorted(r["trial"] for r in best)
    for r in retests:  # same configuration, new seed; this objective is deterministic
        original = rows[r["retest_of"]]
        assert r["param_lr"] == original["param_lr"] and r["seed"] != original["seed"]
        assert r["mean_score"] == pytest.approx(original["mean_score"])


def test_retest_on_other_data(runner, write):
    write("fold.py", "def evaluate(p, X_train, y_train, X_val, y_val):\n"
                     "    return float(len(X_train[0]))\n")
    invoke(runner, "run", write("f.yaml", 'name: f\nobjective: {function: "fold:evaluate"}\n'
                                          "data: {dataset: iris}\ncv: {folds: 2}\n"
                                          "search: {trials: 3}\nparallel: {n_jobs: 1}\n"
                                          "space: {x: {uniform: [0, 1]}}\n"), "-q")
    invoke(runner, "retest", "f", "--top", "1", "--data", "wine")
    rows = json.loads(invoke(runner, "export", "f", "--format", "json").stdout)
    assert [r["mean_score"] for r in rows if r["retest"]] == [13.0]  # wine has 13 features
    assert {r["mean_score"] for r in rows if not r["retest"]} == {4.0}


def test_runs_lists_each_state(runner, write, tmp_path):
    write("drive.py", DRIVE)
    write("slow.py", "import time\ndef evaluate(p):\n    time.sleep(0.3)\n    return 1.0\n")
    invoke(runner, "run", write("d.yaml", CONFIG.replace("TRIALS", "5")), "-q")
    write("s.yaml", 'objective: {function: "slow:evaluate"}\nsearch: {trials: 200}\n'
                    "parallel: {n_jobs: 1}\nspace: {x: {uniform: [0, 1]}}\n")
    write("k.yaml", 'objective: {function: "slow:evaluate"}\nsearch: {trials: 200}\n'
                    "parallel: {n_jobs: 1}\nspace: {x: {uniform: [0, 1]}}\n")
    procs = [subprocess.Popen([sys.executable, "-m", "hpsearch", "run", name, "-q"],
                              cwd=tmp_path, start_new_session=True, stderr=subprocess.DEVNULL)
             for name in ("s.yaml", "k.yaml")]
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not all(
                (tmp_path / "runs" / n / "trials.db").exists() for n in ("s", "k")):
            time.sleep(0.1)
        time.sleep(1.0)
        os.killpg(procs[1].pid, signal.SIGKILL)
        procs[1].wait()
        out = invoke(runner, "runs").stdout
        states = {line.split()[1]: line.split()[-2] for line in out.splitlines()
                  if line.startswith("│")}
        assert states == {"drive": "finished", "s": "running", "k": "interrupted"}
    finally:
        os.killpg(procs[0].pid, signal.SIGKILL)
        procs[0].wait()


def test_runs_lists_an_unreadable_run_as_damaged_beside_the_others(runner, write, tmp_path):
    write("drive.py", DRIVE)
    invoke(runner, "run", write("d.yaml", CONFIG.replace("TRIALS", "3")), "-q")
    broken = tmp_path / "runs" / "broken"
    broken.mkdir()
    (broken / "trials.db").write_bytes(b"not a database at all" * 100)
    result = runner.invoke(cli, ["runs"])
    assert result.exit_code == 0
    assert "drive" in result.stdout and "finished" in result.stdout
    assert "broken" in result.stdout and "damaged" in result.stdout
    assert "broken: its store trials.db is damaged (file is not a database)" in " ".join(
        result.stdout.split())
