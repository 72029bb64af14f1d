"""`hpsearch best`: the winning configuration as a config to run or copy, as JSON, or as the
command line that trained it; and runs of one configuration (every parameter fixed)."""

from __future__ import annotations

import json
import shlex
import sys

import yaml

from hpsearch.cli import cli
from hpsearch.runs import open_run

SCORE = """\
import math
def evaluate(p):
    bonus = {"relu": 0.1, "tanh": 0.0}[p["act"]]
    return -(math.log10(p["lr"]) + 2.0) ** 2 - 0.05 * (p["layers"] - 3) ** 2 + bonus
"""

CONFIG = """\
name: win
objective: {function: "score:evaluate"}
search: {trials: 12, seed: 3}
parallel: {n_jobs: 1}
space:
  lr: {log: [1.0e-4, 1.0]}
  layers: {int: [1, 5]}
  act: [relu, tanh]
"""


def test_best_as_yaml_is_a_config_of_the_best_values_that_runs(runner, write, tmp_path):
    write("score.py", SCORE)
    assert runner.invoke(cli, ["run", str(write("c.yaml", CONFIG))]).exit_code == 0
    best = open_run("win").best
    out = runner.invoke(cli, ["best", "win"])
    assert out.exit_code == 0, out.output
    doc = yaml.safe_load(out.output)
    assert doc["space"] == dict(best.params)  # every value exact, each parameter fixed
    assert doc["name"] == "win-best" and doc["search"]["trials"] == 5
    assert out.output.startswith(f"# trial {best.number} of win (")
    (tmp_path / "b.yaml").write_text(out.output)
    ran = runner.invoke(cli, ["run", "b.yaml"])
    assert ran.exit_code == 0, ran.output
    assert "every parameter is fixed: one configuration, tried 5 times" in ran.output
    again = open_run("win-best")
    assert len(again.results) == 5 and {r.mean for r in again.results} == {best.mean}
    assert len({r.trial.seed for r in again.results}) == 5  # each trial its own seed
    # a run of one configuration has nothing to rank, plot or zoom, and says so
    for command in (["importance", "win-best"], ["plot", "win-best"], ["zoom", "win-best"]):
        refused = runner.invoke(cli, command)
        assert refused.exit_code == 2 and "every parameter is fixed (one configuration, " \
            "tried 5 times): nothing to" in refused.output


def test_best_as_json_and_a_chosen_trial_and_to_a_file(runner, write, tmp_path):
    write("score.py", SCORE)
    runner.invoke(cli, ["run", str(write("c.yaml", CONFIG))])
    run = open_run("win")
    out = runner.invoke(cli, ["best", "win", "--format", "json"])
    found = json.loads(out.output)
    assert (found["trial"], found["score"], found["params"]) == \
        (run.best.number, run.best.mean, dict(run.best.params))
    out = runner.invoke(cli, ["best", "win", "--trial", "4", "--out", "sub/t4.yaml"])
    assert out.exit_code == 2 and "--out sub/t4.yaml: cannot write it" in out.output
    (tmp_path / "sub").mkdir()
    out = runner.invoke(cli, ["best", "win", "--trial", "4", "--out", "sub/t4.yaml"])
    assert out.exit_code == 0, out.output
    doc = yaml.safe_load((tmp_path / "sub" / "t4.yaml").read_text())
    assert doc["space"] == dict(run.results[4].params) and doc["name"] == "win-trial4"
    assert doc["objective"]["path"] == [".."]  # relative to the file: it travels with it
    out = runner.invoke(cli, ["best", "win", "--trial", "99"])
    assert out.exit_code == 2 and "no trial 99 (its trials: 0 to 11)" in out.output
    out = runner.invoke(cli, ["best", "win", "--format", "args"])
    assert out.exit_code == 2 and "--format args is for command objectives" in out.output


def test_best_as_args_is_the_command_line_of_the_best_trial(runner, write):
    write("train.py", "import json, sys\n"
                      "lr, layers = float(sys.argv[2]), int(sys.argv[4])\n"
                      "print(json.dumps({'score': -abs(lr - 0.01) - layers / 100}))\n")
    write("c.yaml", f"name: cmd\nobjective:\n  command: [{sys.executable}, train.py, --lr, "
                    "'{lr}', --layers, '{layers}', --seed, '{seed}']\n"
                    "search: {trials: 6, seed: 1}\nparallel: {n_jobs: 1}\n"
                    "space: {lr: {log: [1.0e-4, 1.0]}, layers: {int: [1, 5]}}\n")
    assert runner.invoke(cli, ["run", "c.yaml"]).exit_code == 0
    best = open_run("cmd").best
    out = runner.invoke(cli, ["best", "cmd", "--format", "args"])
    assert out.exit_code == 0, out.output
    assert shlex.split(out.output) == [sys.executable, "train.py", "--lr",
                                       repr(best.params["lr"]), "--layers",
                                       str(best.params["layers"]), "--seed",
                                       str(best.trial.seed)]


SEEDED = """\
import random
def evaluate(p, seed):
    return p["x"] + random.Random(seed).random() / 100  # the seed moves the score a little
"""


def test_best_as_yaml_runs_the_winning_trial_again_and_shows_the_seed_s_effect(runner, write):
    write("seeded.py", SEEDED)
    write("s.yaml", "name: s\nobjective: {function: 'seeded:evaluate'}\n"
                    "search: {trials: 10, seed: 5}\nparallel: {n_jobs: 1}\n"
                    "space: {x: {uniform: [0, 1]}}\n")
    assert runner.invoke(cli, ["run", "s.yaml", "-q"]).exit_code == 0
    best = open_run("s").best
    out = runner.invoke(cli, ["best", "s", "--out", "b.yaml"])
    assert out.exit_code == 0, out.output
    assert yaml.safe_load(open("b.yaml"))["search"]["seeds"] == [best.trial.seed]
    ran = runner.invoke(cli, ["run", "b.yaml", "-q"])
    assert ran.exit_code == 0, ran.output
    again = sorted(open_run("s-best").results, key=lambda r: r.number)
    assert again[0].trial.seed == best.trial.seed and again[0].mean == best.mean  # exactly
    assert len({r.trial.seed for r in again}) == 5 and len({r.mean for r in again}) == 5
    means = [r.mean for r in again]
    assert f"One configuration, 5 seeds: {min(means):.6g} to {max(means):.6g}" in ran.stderr
    assert f"trial 0 (seed {best.trial.seed}): {best.mean:.6g}" in ran.stderr


def test_search_seeds_must_be_whole_numbers(runner, write):
    write("seeded.py", SEEDED)
    write("s.yaml", "name: s\nobjective: {function: 'seeded:evaluate'}\n"
                    "search: {trials: 3, seeds: [1, -2]}\nspace: {x: {uniform: [0, 1]}}\n")
    out = runner.invoke(cli, ["run", "s.yaml"])
    assert out.exit_code == 2
    assert "s.yaml:3: search.seeds: must be a list of whole numbers >= 0 (the first trials' " \
        "seeds), got [1, -2]" in out.stderr
