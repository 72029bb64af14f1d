"""The default search: coarse-to-fine rounds and early stopping decided by the run (`auto`), warm
starts from earlier runs, enqueued points, and conditional spaces through every command."""

from __future__ import annotations

import json

import yaml
from run_tables import stored

from hpsearch.cli import cli

THREE = """\
import math
def evaluate(p):
    return -(math.log10(p["a"]) + 2.0) ** 2 - (p["b"] - 0.3) ** 2 - 0.05 * (p["c"] - 3) ** 2
"""

CURVE = """\
def evaluate(p, report=None):
    quality = 1.0 - min(1.0, abs(p["lr"] - 0.3) * 2.5)
    score = 0.0
    for epoch in range(1, 13):
        score = quality * (1 - 0.7 ** epoch)
        if report is not None:
            report(epoch, score)
    return score
"""


def config(name, module, trials, search="", space=None, n_jobs=2):
    return (f"name: {name}\nobjective: {{function: '{module}:evaluate'}}\n"
            f"search: {{trials: {trials}, seed: 1{search}}}\nparallel: {{n_jobs: {n_jobs}}}\n"
            + (space or "space:\n  a: {log: [1.0e-5, 1.0]}\n  b: {uniform: [0, 1]}\n"
                        "  c: {int: [1, 6]}\n"))


def invoke(runner, *args):
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def rounds_of(tmp_path, name):
    return [r["round"] for r in stored(tmp_path / "runs" / name)]


def test_rounds_auto_is_the_default_and_is_said(runner, write, tmp_path):
    write("three.py", THREE)
    out = invoke(runner, "run", write("a.yaml", config("auto60", "three", 60)))
    assert "search.rounds: auto: coarse to fine, 5 rounds of 18, 11, 11, 10, 10 trials" \
        in out.stderr
    assert sorted(set(rounds_of(tmp_path, "auto60"))) == [1, 2, 3, 4, 5]
    assert [rounds_of(tmp_path, "auto60").count(r) for r in range(1, 6)] == [18, 11, 11, 10, 10]
    kept = yaml.safe_load((tmp_path / "runs" / "auto60" / "config.yaml").read_text())
    assert kept["search"]["rounds"] == 5  # what was decided, so that a resume does the same
    # few trials: one round of random search; rounds: 1 keeps plain random search
    out = invoke(runner, "run", write("b.yaml", config("auto8", "three", 8)))
    assert "1 round of random search" in out.stderr and set(rounds_of(tmp_path, "auto8")) == {1}
    out = invoke(runner, "run", write("c.yaml", config("one60", "three", 60, ", rounds: 1")))
    assert "search.rounds" not in out.stderr and set(rounds_of(tmp_path, "one60")) == {1}


def test_rounds_auto_leaves_no_core_idle(runner, write, tmp_path):
    write("three.py", THREE)
    invoke(runner, "run", write("a.yaml", config("wide", "three", 60, n_jobs=8)), "-q")
    sizes = [rounds_of(tmp_path, "wide").count(r) for r in (1, 2, 3)]
    assert sizes == [20, 20, 20]  # 5 rounds would leave rounds of 10 for 8 workers


def test_rounds_must_be_auto_or_a_number(runner, write):
    write("three.py", THREE)
    result = runner.invoke(cli, ["run", str(write("a.yaml", config("x", "three", 10,
                                                                   ", rounds: many")))])
    assert result.exit_code == 2 and "a.yaml:3" in result.stderr
    assert "search.rounds: must be auto or a number of rounds" in result.stderr


def test_early_stopping_auto_follows_the_objective(runner, write, tmp_path):
    write("lrcurve.py", CURVE)
    out = invoke(runner, "run", write("a.yaml", config(
        "reports", "lrcurve", 24, ", rounds: 1", "space:\n  lr: {uniform: [0, 1]}\n")))
    assert "search.early_stopping: auto: asha (lrcurve:evaluate reports per-epoch scores" \
        in out.stderr
    statuses = [r["status"] for r in stored(tmp_path / "runs" / "reports")]
    assert statuses.count("pruned") >= 6 and statuses.count("complete") >= 4
    write("three.py", THREE)
    out = invoke(runner, "run", write("b.yaml", config("silent", "three", 24, ", rounds: 1")))
    assert "search.early_stopping: auto: off (three:evaluate reports no per-epoch scores)" \
        in out.stderr
    out = invoke(runner, "run", write("c.yaml", config(
        "unstopped", "lrcurve", 24, ", rounds: 1, early_stopping: false",
        "space:\n  lr: {uniform: [0, 1]}\n")))
    assert "early_stopping" not in out.stderr
    assert {r["status"] for r in stored(tmp_path / "runs" / "unstopped")} == {"complete"}


def test_a_run_stored_before_auto_resumes_as_it_ran(runner, write, tmp_path):
    """A stored config without rounds or early_stopping (an older run) goes on with one round
    and no early stopping, not with what `auto` would pick today."""
    write("lrcurve.py", CURVE)
    invoke(runner, "run", write("a.yaml", config(
        "old", "lrcurve", 30, ", rounds: 1, early_stopping: false",
        "space:\n  lr: {uniform: [0, 1]}\n")), "-q")
    folder = tmp_path / "runs" / "old"
    kept = yaml.safe_load((folder / "config.yaml").read_text())
    del kept["search"]["rounds"], kept["search"]["early_stopping"]
    (folder / "config.yaml").write_text(yaml.safe_dump(kept))
    import sqlite3

    con = sqlite3.connect(folder / "trials.db")
    con.execute("DELETE FROM trials WHERE number >= 20")
    con.execute("UPDATE meta SET value = '\"interrupted\"' WHERE key = 'status'")
    con.commit()
    con.close()
    invoke(runner, "resume", "old", "-q")
    rows = stored(folder)
    assert len(rows) == 30 and {r["status"] for r in rows} == {"complete"}
    assert {r["round"] for r in rows} == {1}


def test_pruned_trials_are_not_lost_to_later_rounds(runner, write, tmp_path):
    write("lrcurve.py", CURVE)
    invoke(runner, "run", write("a.yaml", config(
        "both", "lrcurve", 60, "", "space:\n  lr: {uniform: [0, 1]}\n")), "-q")
    rows = stored(tmp_path / "runs" / "both")
    assert len(rows) == 60 and len({r["round"] for r in rows}) == 5
    pruned = [r for r in rows if r["status"] == "pruned"]
    assert pruned and all(json.loads(r["extra"])["score"] is not None for r in pruned)
