"""`hpsearch zoom` and multi-round runs, end to end."""

from __future__ import annotations

import json
import math

import yaml
from run_tables import trials

from hpsearch.cli import cli
from hpsearch.config import load_config
from hpsearch.runs import rounds

VALLEY = """\
import math
def evaluate(p):
    a = math.log10(p["lr"]) - math.log10(3e-3)
    b = math.log10(1 - p["beta"]) - math.log10(3e-3)
    return -(a * a + b * b)
"""

CONFIG = """\
name: valley
objective: {function: "valley:evaluate"}
search: {trials: 60, seed: 2, rounds: 1}
parallel: {n_jobs: 1}
space:
  lr:   {scale: log, low: 1.0e-8, high: 1.0}
  beta: {scale: one_minus_log, low: 0.5, high: 0.99999999}
  act:  [relu, tanh]
"""


def invoke(runner, *args):
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_zoom_writes_a_narrower_config_of_the_same_scales(runner, write, tmp_path):
    write("valley.py", VALLEY)
    invoke(runner, "run", write("valley.yaml", CONFIG), "-q")
    out = tmp_path / "zoomed.yaml"
    result = invoke(runner, "zoom", "valley", "--top", "5", "--out", out)
    assert "old range" in result.stdout and "lr" in result.stdout
    text = out.read_text()
    assert text.startswith("# Zoomed from run valley, round 1, around its best 5 trials: #")
    zoomed = load_config(out)  # loads as a config
    lr, beta = zoomed.space.scales["lr"], zoomed.space.scales["beta"]
    assert lr.kind == "log" and beta.kind == "one_minus_log"
    assert math.log10(lr.high / lr.low) < 6
    assert 0.5 < beta.low < beta.high < 0.99999999
    best = json.loads(invoke(runner, "leaderboard", "valley", "--format", "json", "--top", "1")
                      .stdout)[0]["params"]
    assert lr.low <= best["lr"] <= lr.high and beta.low <= best["beta"] <= beta.high
    # and it runs
    data = yaml.safe_load(text)
    data["name"], data["search"]["trials"] = "zoomed", 4
    invoke(runner, "run", write("z.yaml", yaml.safe_dump(data)), "-q")
    assert len(trials(tmp_path / "runs" / "zoomed")) == 4


def test_zoom_files_travel_with_their_project_and_are_never_overwritten(runner, write,
                                                                         tmp_path):
    """Paths relative to the file itself: the project moved elsewhere still runs it; a second
    zoom writes a new file, and an existing --out needs --force."""
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    (project / "lib" / "far_valley.py").write_text(VALLEY)
    (project / "valley.yaml").write_text(
        CONFIG.replace('"valley:evaluate"}', '"far_valley:evaluate", path: lib}'))
    runner.invoke(cli, ["run", str(project / "valley.yaml"), "--runs-dir",
                        str(project / "runs"), "-q"], catch_exceptions=False)
    zoom = ["zoom", "valley", "--runs-dir", str(project / "runs")]
    invoke(runner, *zoom, "--top", "5")
    first = project / "runs" / "valley" / "zoom-round2.yaml"
    data = yaml.safe_load(first.read_text())
    assert data["objective"]["path"] == ["../../lib"]
    text = first.read_text()
    second = invoke(runner, *zoom, "--top", "8")
    assert first.read_text() == text  # kept
    again = project / "runs" / "valley" / "zoom-round2-2.yaml"
    assert again.is_file() and str(again.name) in second.stderr
    refused = runner.invoke(cli, [*zoom, "--out", str(first)])
    assert refused.exit_code == 2 and "--force" in refused.stderr and first.read_text() == text
    invoke(runner, *zoom, "--top", "8", "--out", first, "--force")
    assert first.read_text() != text
    moved = tmp_path / "elsewhere"
    project.rename(moved)
    invoke(runner, "run", moved / "runs" / "valley" / "zoom-round2.yaml", "--trials", "3",
           "--name", "moved", "-q")
    assert len(trials(tmp_path / "runs" / "moved")) == 3


def test_zoom_run_adds_a_round_to_the_same_run(runner, write, tmp_path):
    write("valley.py", VALLEY)
    invoke(runner, "run", write("valley.yaml", CONFIG), "-q")
    invoke(runner, "zoom", "valley", "--top", "5", "--trials", "10", "--run", "-q")
    rows = trials(tmp_path / "runs" / "valley")
    assert len(rows) == 70 and {r.trial.round for r in rows} == {1, 2}
    assert sorted(r.number for r in rows) == list(range(70))
    kept = rounds(tmp_path / "runs" / "valley")
    assert [(r["round"], r["kind"], r["trials"]) for r in kept] == [(1, "random", 60),
                                                                    (2, "zoom", 10)]
    lo, hi = kept[1]["lo"], kept[1]["hi"]
    for row in rows[60:]:  # stored in the first space's unit cube, inside the region
        assert all(a - 1e-9 <= u <= b + 1e-9 for u, a, b in zip(row.trial.unit, lo, hi)
                   if b - a < 1)
    board = invoke(runner, "leaderboard", "valley").stdout
    assert "round" in board


def test_multi_round_run_stores_rounds_and_regions(runner, write, tmp_path):
    write("valley.py", VALLEY)
    result = invoke(runner, "run", write("valley.yaml", CONFIG), "--rounds", "3")
    rows = trials(tmp_path / "runs" / "valley")
    assert len(rows) == 60
    sizes = [sum(r.trial.round == k for r in rows) for k in (1, 2, 3)]
    assert sum(sizes) == 60 and sizes[0] < sizes[1] < sizes[2]  # growing rounds
    assert [r["kind"] for r in rounds(tmp_path / "runs" / "valley")] == ["random", "zoom",
                                                                         "zoom"]
    assert f"round 2: {sizes[1]} trials in" in result.stderr
    listed = json.loads(invoke(runner, "leaderboard", "valley", "--format", "json").stdout)
    assert {r["round"] for r in listed} == {1, 2, 3}


def test_zoom_needs_complete_trials(runner, write):
    write("bad.py", "def evaluate(p):\n    raise ValueError('no')\n")
    runner.invoke(cli, ["run", str(write("bad.yaml", CONFIG.replace("valley:", "bad:"))), "-q"])
    result = runner.invoke(cli, ["zoom", "valley"])
    assert result.exit_code == 2
    assert "only 0 complete trial(s)" in result.stderr
