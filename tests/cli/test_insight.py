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
from pathlib import Path

import numpy as np
import pytest

from hpsearch.cli import cli
from hpsearch.errors import StoreError
from hpsearch.insight import good_range, importance
from hpsearch.result import RunResult
from hpsearch.runs import open_run
from hpsearch.space import Int, Log, OneMinusLog, Space, Uniform
from hpsearch.trial import Direction, Status, Trial, TrialResult

DRIVE = """\
import math
def evaluate(p):
    return -(math.log10(p["lr"]) + 2.5) ** 2 + 0.01 * p["noise_a"] + 0.01 * p["noise_b"]
"""

CONFIG = """\
name: drive
objective: {function: "drive:evaluate"}
search: {trials: TRIALS, seed: 3, rounds: 1}
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
    assert "too few trials" not in out and "rounds after the first" not in out


def test_importance_says_when_there_are_too_few_trials(runner, write):
    write("drive.py", DRIVE)
    invoke(runner, "run", write("d.yaml", CONFIG.replace("TRIALS", "6")), "-q")
    assert "too few trials to say" in invoke(runner, "importance", "drive").stdout


def test_importance_says_when_its_trials_crowd_the_best_region(runner, write):
    """Trials of later rounds are not a sample of the whole space: the table says so."""
    write("drive.py", DRIVE)
    invoke(runner, "run", write("r.yaml", CONFIG.replace("TRIALS", "40")
                                .replace("rounds: 1", "rounds: 4")), "-q")
    out = invoke(runner, "importance", "drive").stdout
    assert "rounds after the first" in " ".join(out.split())


def test_terminal_view_shows_the_score_along_each_parameter(runner, drive):
    out = invoke(runner, "plot", drive).stdout
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert set(lines) == {"lr", "noise_a", "noise_b"}
    assert "1.00e-05" in lines["lr"] and "█" in lines["lr"]


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".png", ".svg", ".html"])
def test_plot_files_are_valid_images(runner, drive, tmp_path, suffix):
    pytest.importorskip("plotly" if suffix == ".html" else "matplotlib")
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
        assert data.startswith(b"<!doctype html>") and b"Plotly.newPlot" in data


def test_plot_needs_a_known_file_kind(runner, drive, tmp_path):
    pytest.importorskip("matplotlib")
    result = runner.invoke(cli, ["plot", drive, "--out", str(tmp_path / "p.jpg")])
    assert result.exit_code == 2 and ".png, .svg or .html" in result.stderr


def test_good_range_shows_whole_scores_and_leaves_out_diverged_ones():
    rng = np.random.default_rng(1)
    normal = rng.normal(0.9, 0.01, 200)
    assert good_range(normal, Direction.MAXIMIZE) == (normal.min(), normal.max())
    # 40 % diverged at chance level: the axis starts close under the good ones
    mixed = np.concatenate([rng.uniform(0.9, 0.98, 60), rng.uniform(0.08, 0.12, 40)])
    worst, best = good_range(mixed, Direction.MAXIMIZE)
    assert 0.75 < worst < 0.9 and best == mixed.max()
    losses = np.concatenate([rng.uniform(0.1, 0.3, 50), [1e6, 3e7]])
    worst, best = good_range(losses, Direction.MINIMIZE)
    assert 0.3 <= worst < 2 and best == losses.min()


def _run(space, scores, rounds=None, histories=None, direction=Direction.MAXIMIZE):
    """A run of the given scores at random points of the space."""
    rng = np.random.default_rng(0)
    results = []
    for n, score in enumerate(scores):
        params = space.from_unit(rng.random(len(space.dims)))
        extra = {"history": histories[n]} if histories else {}
        results.append(TrialResult(Trial(n, params, tuple(space.to_unit(params)), n,
                                         rounds[n] if rounds else 1),
                                   Status.COMPLETE, (score,), 1.0, extra=extra))
    return RunResult(Path("runs/figure"), space, direction, results)


FIGURE_SPACE = Space({"lr": Log(1e-4, 1), "beta": OneMinusLog(0.9, 0.999),
                      "units": Int(32, 256, log=True)})


def test_figure_keeps_the_good_region_in_view_and_counts_the_outlier():
    pytest.importorskip("matplotlib")
    from hpsearch.present.plot import figure

    scores = list(np.linspace(0.90, 0.98, 40)) + [0.0]  # one diverged trial
    fig = figure(_run(FIGURE_SPACE, scores, rounds=[1] * 20 + [2] * 21), [],
                 ["lr", "beta", "units"])
    lr, beta, units, pair = fig.axes[:4]
    low, high = lr.get_ylim()
    assert 0.8 < low < 0.9 and 0.98 <= high < 1.0  # not stretched down to 0
    assert any("1 trial worse than" in t.get_text() for t in lr.texts)
    edge = [c for c in lr.collections if c.get_offsets()[:, 1].min() == low]
    assert len(edge) == 1 and len(edge[0].get_offsets()) == 1  # drawn on the edge
    # 1 − β grows to the right on its own panel and upwards on the pair panel: both reversed
    assert beta.xaxis_inverted() and not lr.xaxis_inverted()
    assert fig.axes[3].get_title().startswith("lr × beta") and pair.yaxis_inverted()
    shown = [t for t in units.get_xticks() if 32 <= t <= 256]
    assert shown == [32, 64, 128, 256]  # whole numbers on a log axis
    assert any(ax.get_ylabel() == "score" for ax in fig.axes[4:])  # the pair panel's colorbar
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["round 1", "round 2"]


def test_figure_of_a_minimized_loss_ignores_a_huge_one():
    pytest.importorskip("matplotlib")
    from hpsearch.present.plot import figure

    space = Space({"lr": Log(1e-4, 1)})
    fig = figure(_run(space, list(np.linspace(0.1, 0.5, 30)) + [1e9],
                      direction=Direction.MINIMIZE), [], ["lr"])
    low, high = fig.axes[0].get_ylim()
    assert low < 0.1 and 0.5 < high < 5


def test_learning_curves_highlight_the_best_trials():
    pytest.importorskip("matplotlib")
    from hpsearch.present.plot import HIGHLIGHT, figure

    scores = list(np.linspace(0.5, 0.9, 12))
    histories = [[{"epoch": e, "loss": 1 / e, "val_score": s * (1 - 0.5 / e)}
                  for e in range(1, 6)] for s in scores]
    fig = figure(_run(Space({"lr": Log(1e-4, 1)}), scores, histories=histories), [], ["lr"])
    curves = next(ax for ax in fig.axes if ax.get_xlabel() == "epoch")
    assert curves.get_ylabel().startswith("validation score")
    labelled = [line.get_label() for line in curves.get_lines()
                if not line.get_label().startswith("_")]
    assert [label.split(":")[0] for label in labelled] == [
        f"trial {n}" for n in range(11, 11 - HIGHLIGHT, -1)]  # the best, best first
    grey = [line for line in curves.get_lines() if line.get_label().startswith("_")]
    assert len(grey) == 12


def test_plot_out_without_matplotlib_says_so_before_drawing(runner, drive, tmp_path,
                                                            monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    result = runner.invoke(cli, ["plot", drive, "--out", str(tmp_path / "p.png")])
    assert result.exit_code == 2 and result.stdout == ""
    assert "pip install 'hpsearch[plot]'" in result.stderr
    assert not (tmp_path / "p.png").exists()


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


@pytest.mark.slow
def test_runs_lists_each_state(runner, write, tmp_path):
    def stored(name: str) -> bool:
        try:
            return bool(open_run(tmp_path / "runs" / name).results)
        except StoreError:  # not created yet
            return False

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
        deadline = time.time() + 300  # only against a hang
        while time.time() < deadline and not all(stored(n) for n in ("s", "k")):
            time.sleep(0.1)  # a trial of each stored: both runs hold their locks
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


FORMULAS = """\
import sys
print('{"score": 0.5, "note": "=HYPERLINK(\\\\"http://x\\\\")"}')
"""


def test_csv_is_safe_to_open_in_a_spreadsheet_when_asked(runner, write, tmp_path):
    """Text that a spreadsheet would run (=, +, -, @, a tab) gets a leading quote with
    --excel-safe, in every csv hpsearch writes; numbers, negative ones included, do not."""
    write("f.py", FORMULAS)
    write("f.yaml", f'name: f\nobjective: {{command: ["{sys.executable}", f.py, "{{op}}"]}}\n'
                    "search: {trials: 4, direction: minimize}\nparallel: {n_jobs: 1}\n"
                    'space: {op: ["=1+1", "+cmd", "@SUM(A1)", "plain"], '
                    "w: {uniform: [-2, -1]}}\n")
    assert runner.invoke(cli, ["run", "f.yaml", "-q"]).exit_code == 0

    def cells(args):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        return list(csv.DictReader(io.StringIO(result.stdout)))

    raw = cells(["export", "f", "--format", "csv"])
    assert {r["param_op"] for r in raw} <= {"=1+1", "+cmd", "@SUM(A1)", "plain"}
    for args in (["export", "f", "--format", "csv", "--excel-safe"],
                 ["leaderboard", "f", "--format", "csv", "--excel-safe"]):
        rows = cells(args)
        assert {r["param_op"] for r in rows} <= {"'=1+1", "'+cmd", "'@SUM(A1)", "plain"}
        assert all(r["metric_note"] == "'=HYPERLINK(\"http://x\")" for r in rows)
        assert all(float(r["param_w"]) < 0 for r in rows)  # numbers unchanged
    sampled = cells(["sample", "f.yaml", "-n", "8", "--format", "csv", "--excel-safe"])
    assert {r["op"] for r in sampled} <= {"'=1+1", "'+cmd", "'@SUM(A1)", "plain"}
    refused = runner.invoke(cli, ["export", "f", "--format", "json", "--excel-safe"])
    assert refused.exit_code == 2 and "applies to --format csv" in refused.stderr
