"""The Python API: events while a run goes, one lifecycle for every way of running trials,
reading commands that write nothing, and each trial's estimator built once."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import pytest
from run_tables import trials

import hpsearch
from hpsearch.api import resume, retest, run_next_round
from hpsearch.cli import cli
from hpsearch.objective import import_target
from hpsearch.runs import zoom_region

SQUARE = "def evaluate(p):\n    return -(p['x'] - 0.3) ** 2\n"


def config(tmp_path: Path, trials: int = 8, rounds: int = 1) -> dict:
    (tmp_path / "api_square.py").write_text(SQUARE)
    return {"name": "sq",
            "objective": {"function": "api_square:evaluate", "path": [str(tmp_path)]},
            "search": {"trials": trials, "seed": 0, "rounds": rounds},
            "parallel": {"n_jobs": 1}, "space": {"x": {"uniform": [0, 1]}}}


class Recorder(hpsearch.RunEvents):
    def __init__(self, stop_after: int | None = None) -> None:
        self.seen: list[tuple] = []
        self.stop_after = stop_after

    def run_started(self, run, total):
        self.seen.append(("started", run.status, total, len(run.results)))

    def round_started(self, number, region, size):
        self.seen.append(("round", number, size))

    def trial_done(self, result):
        self.seen.append(("trial", result.number))
        done = sum(kind == "trial" for kind, *_ in self.seen)
        if self.stop_after is not None and done >= self.stop_after:
            raise KeyboardInterrupt


def status(run_dir: Path) -> str:
    return hpsearch.open_run(run_dir).status


def test_events_follow_a_run_in_order(tmp_path):
    events = Recorder()
    result = hpsearch.run(config(tmp_path, trials=14, rounds=3), runs_dir=tmp_path / "runs",
                          events=events)
    kinds = [e[0] for e in events.seen]
    assert events.seen[0] == ("started", "running", 14, 0)
    rounds = [e for e in events.seen if e[0] == "round"]
    assert [e[1] for e in rounds] == [1, 2, 3] and sum(e[2] for e in rounds) == 14
    assert kinds.count("trial") == 14 and kinds.index("round") < kinds.index("trial")
    # a round opens before its first trial ends, and after the results it learns from
    for _, number, _ in rounds[1:]:
        first = min(r.number for r in result.results if r.trial.round == number)
        assert events.seen.index(("round", number, rounds[number - 1][2])) < \
            events.seen.index(("trial", first))
    assert result.status == "finished" and hpsearch.open_run(result.path).status == "finished"


def test_the_readme_watch_example_runs(tmp_path, capsys):
    class Watch(hpsearch.RunEvents):  # as in the README's Python section
        def trial_done(self, trial):
            print(trial.number, trial.status, trial.mean)

    hpsearch.run(config(tmp_path, trials=3), runs_dir=tmp_path / "runs", events=Watch())
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["0", "complete"], ["1", "complete"],
                                                    ["2", "complete"]]


def test_every_way_of_running_trials_marks_the_run_the_same_way(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt):
        hpsearch.run(config(tmp_path, trials=8), runs_dir=runs, events=Recorder(stop_after=3))
    assert status(runs / "sq") == "interrupted" and len(trials(runs / "sq")) == 3
    resumed = resume("sq", runs_dir=runs)
    assert resumed.status == "finished" and len(trials(runs / "sq")) == 8
    current, region, _ = zoom_region("sq", runs_dir=runs)
    with pytest.raises(KeyboardInterrupt):
        run_next_round("sq", region, trials=4, runs_dir=runs, events=Recorder(stop_after=2))
    assert status(runs / "sq") == "interrupted"
    again, found = retest("sq", top=2, runs_dir=runs)
    assert status(runs / "sq") == "finished" and len(found) == 2
    assert again.next_round == 4  # the zoom round and the retest round came after round 1


def fingerprint(run_dir: Path) -> dict:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(run_dir.iterdir()) if p.is_file()}


def test_reading_commands_write_nothing_to_a_run(runner, tmp_path):
    hpsearch.run(config(tmp_path, trials=12), runs_dir=tmp_path / "runs")
    before = fingerprint(tmp_path / "runs" / "sq")
    for args in (["leaderboard", "sq"], ["leaderboard", "sq", "--format", "json"],
                 ["export", "sq"], ["runs"], ["importance", "sq"], ["plot", "sq"]):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
    assert fingerprint(tmp_path / "runs" / "sq") == before  # no file written, none created


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders anyway")
def test_a_run_in_a_folder_that_cannot_be_written_is_readable(runner, tmp_path):
    hpsearch.run(config(tmp_path, trials=6), runs_dir=tmp_path / "runs")
    run_dir = tmp_path / "runs" / "sq"
    os.chmod(run_dir, 0o555)
    try:
        result = runner.invoke(cli, ["leaderboard", "sq", "--format", "json"])
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)) == 6
    finally:
        os.chmod(run_dir, 0o755)


@pytest.mark.parametrize("estimator, param, fixed", [
    ("sklearn.linear_model:LogisticRegression", "C", {"max_iter": 300}),
    ("hpsearch.models:NeuralNetClassifier", "learning_rate", {"epochs": 2, "hidden_units": 8}),
])
def test_each_trial_builds_its_estimator_once(tmp_path, monkeypatch, estimator, param, fixed):
    cls = import_target(estimator)
    built: list[dict] = []
    original = cls.__init__

    @functools.wraps(original)  # the same signature: get_params and clone still work
    def counting(self, *args, **kwargs):
        built.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", counting)
    cfg = {"name": "count", "objective": {"estimator": estimator, "fixed": fixed},
           "data": {"dataset": "iris"}, "cv": {"folds": 3},
           "search": {"trials": 4, "seed": 0}, "parallel": {"n_jobs": 1},
           "space": {param: {"log": [0.01, 0.1]}}}
    result = hpsearch.run(cfg, runs_dir=tmp_path / "runs")
    # A trial's build passes its values and no seed (set after); each fold's clone passes
    # every param, the seed among them; the checks before the run build defaults (no values).
    for trial in result.results:
        mine = [b for b in built if b.get(param) == trial.params[param]]
        builds = [b for b in mine if "random_state" not in b]
        clones = [b for b in mine if b.get("random_state") is not None]
        assert len(builds) == 1 and len(clones) == 3 and len(mine) == 4, (trial.number, built)
