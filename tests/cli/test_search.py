"""The default search: coarse-to-fine rounds and early stopping decided by the run (`auto`), warm
starts from earlier runs, enqueued points, and conditional spaces through every command."""

from __future__ import annotations

import json

import pytest
import yaml
from run_tables import trials

from hpsearch.cli import cli
from hpsearch.runs import rounds
from hpsearch.search.coarse_to_fine import round_sizes

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
    return [r.trial.round for r in trials(tmp_path / "runs" / name)]


def test_rounds_auto_is_the_default_and_is_said(runner, write, tmp_path):
    write("three.py", THREE)
    out = invoke(runner, "run", write("a.yaml", config("auto60", "three", 60)))
    # 2 workers: a look-ahead of 5; round 2 learns from 5 results, round 1 has 10 trials
    assert "search.rounds: auto: 9 rounds: 10 trials over the whole space, then rounds of 4 " \
        "to 10" in out.stderr and "up to 5 trials behind (search.lookahead: auto for 2 " \
        "workers)" in out.stderr
    assert [rounds_of(tmp_path, "auto60").count(r) for r in range(1, 10)] == \
        round_sizes(60, 10, 9) == [10, 4, 4, 5, 5, 7, 7, 8, 10]
    kept = yaml.safe_load((tmp_path / "runs" / "auto60" / "config.yaml").read_text())
    # what was decided, so that a resume does the same
    assert (kept["search"]["rounds"], kept["search"]["lookahead"]) == (9, 5)
    # few trials: one round of random search; rounds: 1 keeps plain random search
    out = invoke(runner, "run", write("b.yaml", config("auto8", "three", 8)))
    assert "search.rounds: auto: 1 round (8 trials are too few" in out.stderr
    assert set(rounds_of(tmp_path, "auto8")) == {1}
    out = invoke(runner, "run", write("c.yaml", config("one60", "three", 60, ", rounds: 1")))
    assert "search.rounds" not in out.stderr and set(rounds_of(tmp_path, "one60")) == {1}


@pytest.mark.slow
def test_the_model_keeps_learning_with_more_workers(runner, write, tmp_path):
    write("three.py", THREE)
    out = invoke(runner, "run", write("a.yaml", config("wide", "three", 60, n_jobs=8)))
    # 8 workers: a look-ahead of 12, round 1 of 17; later rounds never wait for a round's end
    seen = rounds_of(tmp_path, "wide")
    assert seen.count(1) == 17 and max(seen) >= 8, seen
    assert "lookahead: auto for 8 workers" in out.stderr


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
    statuses = [r.status for r in trials(tmp_path / "runs" / "reports")]
    assert statuses.count("pruned") >= 6 and statuses.count("complete") >= 4
    write("three.py", THREE)
    out = invoke(runner, "run", write("b.yaml", config("silent", "three", 24, ", rounds: 1")))
    assert "search.early_stopping: auto: off (three:evaluate reports no per-epoch scores)" \
        in out.stderr
    out = invoke(runner, "run", write("c.yaml", config(
        "unstopped", "lrcurve", 24, ", rounds: 1, early_stopping: false",
        "space:\n  lr: {uniform: [0, 1]}\n")))
    assert "early_stopping" not in out.stderr
    assert {r.status for r in trials(tmp_path / "runs" / "unstopped")} == {"complete"}


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
    con.execute("DELETE FROM meta WHERE key = 'config'")  # older runs kept no config there
    con.commit()
    con.close()
    invoke(runner, "resume", "old", "-q")
    rows = trials(folder)
    assert len(rows) == 30 and {r.status for r in rows} == {"complete"}
    assert {r.trial.round for r in rows} == {1}


def test_pruned_trials_are_not_lost_to_later_rounds(runner, write, tmp_path):
    write("lrcurve.py", CURVE)
    invoke(runner, "run", write("a.yaml", config(
        "both", "lrcurve", 60, "", "space:\n  lr: {uniform: [0, 1]}\n")), "-q")
    rows = trials(tmp_path / "runs" / "both")
    assert len(rows) == 60 and len({r.trial.round for r in rows}) >= 6
    pruned = [r for r in rows if r.status == "pruned"]
    assert pruned and all(r.extra["score"] is not None for r in pruned)


COUNTED = """\
import math, os
def evaluate(p):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.log"), "a") as f:
        f.write("x\\n")
    return -(math.log10(p["a"]) + 2.0) ** 2 - (p["b"] - 0.3) ** 2 - 0.05 * (p["c"] - 3) ** 2
"""


def calls(tmp_path):
    path = tmp_path / "calls.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_warm_start_feeds_earlier_trials_without_running_them(runner, write, tmp_path):
    write("counted.py", COUNTED)  # a module name of its own in each test: imports are cached
    invoke(runner, "run", write("a.yaml", config("first", "counted", 30, ", rounds: 1")), "-q")
    assert calls(tmp_path) == 30
    out = invoke(runner, "run", write("b.yaml", config("second", "counted", 10,
                                                       ", warm_start: [first]")))
    assert calls(tmp_path) == 40  # ten new trials, the thirty earlier ones not run again
    assert "search.warm_start: 30 of 30 trials of first feed the model" in out.stderr
    rows = trials(tmp_path / "runs" / "second")
    assert len(rows) == 10 and [r.number for r in rows] == list(range(10))
    first_round = rounds(tmp_path / "runs" / "second")[0]
    assert first_round["kind"] == "zoom"  # round 1 searches around the earlier trials
    best_before = max(r.scores[0] for r in trials(tmp_path / "runs" / "first"))
    assert sorted(r.scores[0] for r in rows)[5] > best_before - 1.0
    # the same from the command line, and a run that is not there
    invoke(runner, "run", write("c.yaml", config("third", "counted", 10)), "--warm-start",
           "first", "-q")
    assert calls(tmp_path) == 50
    result = runner.invoke(cli, ["run", str(write("d.yaml", config("fourth", "counted", 10))),
                                 "--warm-start", "frist"])
    assert result.exit_code == 2 and "search.warm_start: no run 'frist'" in result.stderr
    assert not (tmp_path / "runs" / "fourth").exists() and calls(tmp_path) == 50


def test_warm_start_keeps_the_trials_that_fit_the_space(runner, write, tmp_path):
    write("counted_fit.py", COUNTED)
    invoke(runner, "run", write("a.yaml", config("wide", "counted_fit", 30, ", rounds: 1")),
           "-q")
    narrow = "space:\n  a: {log: [1.0e-3, 1.0]}\n  b: {uniform: [0, 1]}\n  c: {int: [1, 6]}\n"
    out = invoke(runner, "run", write("b.yaml", config("narrow", "counted_fit", 10,
                                                       ", warm_start: [wide]", narrow)))
    inside = [r for r in trials(tmp_path / "runs" / "wide") if r.params["a"] >= 1e-3]
    assert f"{len(inside)} of 30 trials of wide feed the model" in out.stderr
    assert 0 < len(inside) < 30


def test_enqueued_points_come_first_and_count_in_the_budget(runner, write, tmp_path):
    write("counted_enq.py", COUNTED)
    invoke(runner, "run", write("e.yaml", config(
        "enq", "counted_enq", 6, ", enqueue: [{a: 0.01, b: 0.123, c: 3}, {a: 0.5}]")), "-q")
    rows = trials(tmp_path / "runs" / "enq")
    assert len(rows) == 6 and calls(tmp_path) == 6
    first, second = (r.params for r in rows[:2])
    assert first == {"a": 0.01, "b": 0.123, "c": 3}
    assert second["a"] == 0.5 and 0 <= second["b"] <= 1  # what it leaves out is sampled
    shown = json.loads(invoke(runner, "sample", tmp_path / "e.yaml", "-n", "2", "--format",
                              "json").stdout)
    assert shown[0] == first


def test_enqueue_mistakes_name_their_line(runner, write):
    write("counted.py", COUNTED)
    for point, message in (("{a: 2.0}", "2.0 is not a value of a (log"),
                           ("{aa: 0.1}", "no searched parameter 'aa'; did you mean 'a'"),
                           ("{c: 3.5}", "3.5 is not a value of c (int 1..6)")):
        path = write("bad.yaml", config("bad", "counted", 6, f", enqueue: [{point}]"))
        result = runner.invoke(cli, ["run", str(path)])
        assert result.exit_code == 2, result.output
        assert "bad.yaml:3" in result.stderr and message in result.stderr, result.stderr


CONDITIONAL = """\
import math
def evaluate(p):
    opt, b1, b2 = p["optimizer"], p.get("beta1"), p.get("beta2")
    want = {"sgd": (False, False), "momentum": (True, False), "adam": (True, True)}[opt]
    if ((b1 is not None), (b2 is not None)) != want:
        raise ValueError(f"{opt} trial got beta1={b1!r} beta2={b2!r}")
    s = -(math.log10(p["learning_rate"]) + 2.5) ** 2
    if b1 is not None:
        s -= 0.1 * (math.log10(1 - b1) + 1.5) ** 2
    if b2 is not None:
        s -= 0.1 * (math.log10(1 - b2) + 3) ** 2
    return s + {"sgd": 0.0, "momentum": 0.1, "adam": 0.2}[opt]
"""

BRANCHES = """\
space:
  learning_rate: {log: [1.0e-4, 1.0e-1]}
  optimizer:
    choice:
      sgd: {}
      momentum: {beta1: {one_minus_log: [0.8, 0.99]}}
      adam:
        beta1: {one_minus_log: [0.8, 0.99]}
        beta2: BETA2
"""
GOOD_BETA2 = "{one_minus_log: [0.99, 0.9999]}"
HAS = {"sgd": set(), "momentum": {"beta1"}, "adam": {"beta1", "beta2"}}


def branch_ok(params):
    return set(params) - {"learning_rate", "optimizer"} == HAS[params["optimizer"]]


def test_a_conditional_space_samples_each_branch_with_its_own_parameters(runner, write):
    path = write("c.yaml", config("cond", "branches", 30, "",
                                  BRANCHES.replace("BETA2", GOOD_BETA2)))
    for sampler in ("random", "sobol", "grid"):
        points = json.loads(invoke(runner, "sample", path, "-n", "600", "--sampler", sampler,
                                   "--format", "json").stdout)
        assert len(points) == 600 and all(branch_ok(p) for p in points), sampler
        for p in points:
            assert 0.8 <= p.get("beta1", 0.9) <= 0.99 and 0.99 <= p.get("beta2", 0.999) <= 0.9999
        if sampler != "grid":  # each branch a third of the points
            shares = [sum(p["optimizer"] == o for p in points) / 600 for o in HAS]
            assert all(abs(s - 1 / 3) < 0.06 for s in shares), (sampler, shares)
    table = invoke(runner, "sample", path, "-n", "20").stdout
    sgd = next(line for line in table.splitlines() if " sgd " in line)
    assert sgd.count("│") == 6 and sgd.split("│")[4].strip() == ""  # an empty cell for beta1


def test_a_conditional_space_through_every_command(runner, write, tmp_path):
    write("branches.py", CONDITIONAL)
    invoke(runner, "run", write("c.yaml", config("cond", "branches", 30, "",
                                                 BRANCHES.replace("BETA2", GOOD_BETA2))), "-q")
    rows = trials(tmp_path / "runs" / "cond")
    assert len(rows) == 30 and {r.status for r in rows} == {"complete"}
    assert len({r.trial.round for r in rows}) >= 3 and all(branch_ok(r.params) for r in rows)
    board = json.loads(invoke(runner, "leaderboard", "cond", "--format", "json",
                              "--top", "30").stdout)
    assert all(branch_ok(r["params"]) for r in board)
    exported = invoke(runner, "export", "cond", "--format", "csv").stdout.splitlines()
    header = exported[0].split(",")
    for line in exported[1:]:
        cells = dict(zip(header, line.split(",")))
        present = {n for n in ("beta1", "beta2") if cells[f"param_{n}"] != ""}
        assert present == HAS[cells["param_optimizer"]]
    zoomed = tmp_path / "z.yaml"
    invoke(runner, "zoom", "cond", "--out", zoomed)
    points = json.loads(invoke(runner, "sample", zoomed, "-n", "50", "--format",
                               "json").stdout)
    assert all(branch_ok(p) for p in points)
    assert "beta2" in invoke(runner, "importance", "cond").stdout
    assert "optimizer" in invoke(runner, "plot", "cond").stdout
    assert "best" in invoke(runner, "compare", "cond", "cond").stdout


def test_a_branch_error_names_its_line(runner, write):
    path = write("bad.yaml", config("bad", "branches", 10, "",
                                    BRANCHES.replace("BETA2", "{log: [0, 1]}")))
    result = runner.invoke(cli, ["sample", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "bad.yaml:13" in result.stderr and "space.optimizer.choice.adam.beta2" \
        in result.stderr


def test_a_name_in_two_branches_is_one_parameter(runner, write):
    different = BRANCHES.replace("BETA2", GOOD_BETA2).replace(
        "momentum: {beta1: {one_minus_log: [0.8, 0.99]}}",
        "momentum: {beta1: {one_minus_log: [0.5, 0.99]}}")
    result = runner.invoke(cli, ["sample", str(write("two.yaml", config("two", "b", 10, "",
                                                                        different)))])
    assert result.exit_code == 2
    assert "'beta1' is defined twice" in result.stderr and "two.yaml:" in result.stderr


def test_branches_nest(runner, write):
    nested = """\
space:
  optimizer:
    choice:
      sgd: {}
      adam:
        schedule:
          choice:
            constant: {}
            step: {gamma: {uniform: [0.1, 0.9]}}
"""
    path = write("n.yaml", config("nested", "b", 10, "", nested))
    points = json.loads(invoke(runner, "sample", path, "-n", "400", "--format", "json").stdout)
    for p in points:
        has = set(p) - {"optimizer"}
        if p["optimizer"] == "sgd":
            assert has == set()
        else:
            assert has == ({"schedule", "gamma"} if p["schedule"] == "step" else {"schedule"})
    assert 0.1 < sum("gamma" in p for p in points) / 400 < 0.4  # a quarter


def test_auto_lookahead_on_a_cluster_says_to_give_its_workers(write):
    from types import SimpleNamespace

    from hpsearch.api import _decided
    from hpsearch.config import load_config

    write("three.py", THREE)
    cfg = load_config(write("a.yaml", config("c", "three", 60))).replace(
        parallel={"backend": "dask", "address": "tcp://10.1.2.3:8786", "n_jobs": -1})
    _, lines = _decided(cfg, SimpleNamespace(reports_epochs=True))
    assert any(line.startswith("search.lookahead: auto counts this machine's") and
               "set parallel.n_jobs to the trials the cluster runs at once" in line
               for line in lines)
    _, lines = _decided(cfg.replace(parallel={"n_jobs": 64}), SimpleNamespace(reports_epochs=True))
    assert not any(line.startswith("search.lookahead: auto counts") for line in lines)
    assert "search.rounds: auto: 1 round (60 trials are too few to learn from between rounds " \
        "with 64 workers running at once)" in lines
    _, lines = _decided(cfg.replace(parallel={"n_jobs": 64}, search={"trials": 400}),
                        SimpleNamespace(reports_epochs=True))
    assert any("87 trials over the whole space" in line and "up to 82 trials behind "
               "(search.lookahead: auto for 64 workers)" in line for line in lines)
