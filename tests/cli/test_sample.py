"""`hpsearch sample` and the CLI's bad-input handling, run as a user types them."""

from __future__ import annotations

import csv
import io
import json

import pytest

from hpsearch.cli import cli

SPACE = """\
name: scales
objective: {function: "math:sqrt"}
search: {trials: 10, seed: 3}
space:
  lr:     {scale: log, low: 1e-4, high: 1}
  beta:   {one_minus_log: [0.9, 0.999]}
  layers: {scale: int, low: 2, high: 4}
  act:    [relu, tanh]
  epochs: 7
"""


def sample(runner, path, *args):
    return runner.invoke(cli, ["sample", str(path), *args], catch_exceptions=False)


def test_json_is_a_list_of_points_keyed_by_parameter(runner, write):
    result = sample(runner, write("s.yaml", SPACE), "-n", "4000", "--format", "json")
    assert result.exit_code == 0
    points = json.loads(result.stdout)
    assert len(points) == 4000
    assert set(points[0]) == {"lr", "beta", "layers", "act", "epochs"}
    lr = [p["lr"] for p in points]
    decades = [sum(10.0 ** (k - 4) <= v < 10.0 ** (k - 3) for v in lr) / 4000 for k in range(4)]
    assert decades == pytest.approx([0.25] * 4, abs=0.035)
    assert sum(p["beta"] < 0.99 for p in points) / 4000 == pytest.approx(0.5, abs=0.035)
    assert {p["epochs"] for p in points} == {7}


def test_csv_has_a_header_and_full_precision(runner, write):
    path = write("s.yaml", SPACE)
    rows = list(csv.DictReader(io.StringIO(sample(runner, path, "--format", "csv").stdout)))
    points = json.loads(sample(runner, path, "--format", "json").stdout)
    assert len(rows) == 10 == len(points)
    assert list(rows[0]) == ["lr", "beta", "layers", "act", "epochs"]
    assert [float(r["lr"]) for r in rows] == [p["lr"] for p in points]  # exact, not rounded


def test_table_shows_values_on_their_scale(runner, write):
    out = sample(runner, write("s.yaml", SPACE), "-n", "3").stdout
    assert "one_minus_log" in out and "3 points" in out
    assert "e-0" in out  # log values in scientific notation


@pytest.mark.parametrize("sampler", ["random", "sobol", "grid"])
def test_seed_and_sampler_options(runner, write, sampler):
    path = write("s.yaml", SPACE)
    one = sample(runner, path, "--sampler", sampler, "--seed", "1", "--format", "json").stdout
    again = sample(runner, path, "--sampler", sampler, "--seed", "1", "--format", "json").stdout
    other = sample(runner, path, "--sampler", sampler, "--seed", "2", "--format", "json").stdout
    assert one == again and one != other


def test_default_count_and_seed_come_from_the_config(runner, write):
    path = write("s.yaml", SPACE)
    default = sample(runner, path, "--format", "json").stdout
    assert len(json.loads(default)) == 10
    assert default == sample(runner, path, "--seed", "3", "--format", "json").stdout


def test_says_which_points_round_1_tries_when_the_run_has_rounds(runner, write):
    """With several rounds only round 1's points are known before a run: sample says so."""
    path = write("s.yaml", SPACE.replace("trials: 10", "trials: 60"))
    result = sample(runner, path, "--format", "json", "--set", "parallel.n_jobs=1")
    assert len(json.loads(result.stdout)) == 60  # stdout stays the points alone
    assert "first 9 of these in round 1; its 8 later rounds" in result.stderr
    short = sample(runner, path, "-n", "4", "--set", "parallel.n_jobs=1").stderr
    assert "these 4 and 5 more in round 1" in short
    first = json.loads(sample(runner, path, "-n", "10", "--format", "json").stdout)
    run = json.loads(result.stdout)[:10]
    assert first == run  # the first ones are the same points whatever -n
    plain = sample(runner, path, "--set", "search.rounds=1")
    assert "round" not in plain.stderr


BAD = {
    "syntax": ("space:\n  lr: {scale: log, low: 1e-4, high: 1\n", "YAML syntax error"),
    "unknown_scale": ("space:\n  lr: {scale: logg, low: 1e-4, high: 1}\n", "did you mean 'log'"),
    "low_ge_high": ("space:\n  lr: {scale: uniform, low: 5, high: 1}\n", "low < high"),
    "log_nonpositive": ("space:\n  lr: {scale: log, low: 0, high: 1}\n", "low > 0"),
    "beta_range": ("space:\n  b: {scale: one_minus_log, low: 0.9, high: 1.5}\n", "0 < high < 1"),
    "int_fraction": ("space:\n  n: {scale: int, low: 2.5, high: 4}\n", "whole number"),
    "empty_choice": ("space:\n  a: {scale: choice, values: []}\n", "at least one value"),
    "nan_fixed": ("space:\n  a: .nan\n", "NaN is not a value"),
    "nan_option": ("space:\n  a: [1, .nan]\n", "NaN is not an option"),
    "missing_space": ("", "space: missing"),
    "unknown_key": ("spaec:\n  lr: {scale: log, low: 1e-4, high: 1}\n", "did you mean 'space'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line_naming_the_file(runner, write, case):
    tail, message = BAD[case]
    path = write(f"{case}.yaml", 'name: bad\nobjective: {function: "math:sqrt"}\n' + tail)
    result = runner.invoke(cli, ["sample", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {path}:")
    assert message in lines[0]


def test_missing_file_exits_2(runner):
    result = runner.invoke(cli, ["sample", "nope.yaml"])
    assert result.exit_code == 2
    assert "Error: nope.yaml: no such file" in result.stderr


def test_help_lists_every_command(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("sample", "run", "resume", "leaderboard", "zoom", "importance", "plot",
                    "export", "retest", "runs", "babysit"):
        assert f"  {command} " in result.stdout, command
        sub = runner.invoke(cli, [command, "--help"])
        assert sub.exit_code == 0 and "Usage: " in sub.stdout
