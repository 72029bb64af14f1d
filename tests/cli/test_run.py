"""`hpsearch run` and `hpsearch leaderboard` end to end, for each objective kind."""

from __future__ import annotations

import csv
import io
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from run_tables import trials

from hpsearch.cli import cli
from hpsearch.errors import StoreError
from hpsearch.runs import open_run

ROOT = Path(__file__).resolve().parents[2]

SVC = """\
name: svc
objective: {estimator: "sklearn.svm:SVC", fixed: {kernel: rbf}}
data: {dataset: iris}
cv: {folds: 2, scoring: accuracy}
search: {trials: 4, seed: 5}
parallel: {n_jobs: 2}
space:
  C:     {scale: log, low: 1.0e-1, high: 1.0e+2}
  gamma: {log: [1.0e-3, 1.0]}
"""

HELPERS = """\
import math, sys
def evaluate(params):
    if params["x"] > 0.5:
        raise ValueError("x too big")
    return params["x"]
def nan(params):
    return math.nan
def per_fold(params, X_train, y_train, X_val, y_val, seed):
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression(C=params["C"], max_iter=300)
    return model.fit(X_train, y_train).score(X_val, y_val)
"""


def invoke(runner, *args, ok=True):
    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=not ok)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_estimator_run_stores_every_fold_and_shows_the_leaderboard(runner, write, tmp_path):
    result = invoke(runner, "run", write("svc.yaml", SVC))
    rows = trials(tmp_path / "runs" / "svc")
    assert [r.number for r in rows] == [0, 1, 2, 3]
    for row in rows:
        assert row.status == "complete" and row.trial.round == 1
        scores = row.scores
        assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
        assert row.mean == pytest.approx(np.mean(scores))
        assert row.std == pytest.approx(np.std(scores))
        assert 0.1 <= row.params["C"] <= 100 and 1e-3 <= row.params["gamma"] <= 1
        assert len(row.trial.unit) == 2
    assert "svc: 4 trials, 4 complete" in result.stdout
    assert "score (mean ± std)" in result.stdout
    config = (tmp_path / "runs" / "svc" / "config.yaml").read_text()
    assert "sklearn.svm:SVC" in config


def test_leaderboard_formats(runner, write, tmp_path):
    invoke(runner, "run", write("svc.yaml", SVC), "--quiet")
    rows = json.loads(invoke(runner, "leaderboard", "svc", "--format", "json").stdout)
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    means = [r["mean_score"] for r in rows]
    assert means == sorted(means, reverse=True)
    assert set(rows[0]["params"]) == {"C", "gamma"}
    top = json.loads(invoke(runner, "leaderboard", "runs/svc", "--format", "json", "--top", "2")
                     .stdout)
    assert top == rows[:2]
    table = list(csv.DictReader(io.StringIO(
        invoke(runner, "leaderboard", "svc", "--format", "csv").stdout)))
    assert len(table) == 4 and float(table[0]["param_C"]) == rows[0]["params"]["C"]
    assert float(table[0]["split1_score"]) == rows[0]["scores"][1]
    md = invoke(runner, "leaderboard", "svc", "--format", "markdown").stdout
    assert md.splitlines()[0].startswith("| rank | trial | round | C | gamma |")
    assert "svc: 4 trials" in invoke(runner, "leaderboard", "svc").stdout


def test_unknown_run_is_bad_input(runner):
    result = invoke(runner, "leaderboard", "nope", ok=False)
    assert result.exit_code == 2
    assert "no run 'nope'" in result.stderr


def test_same_name_never_overwrites(runner, write, tmp_path):
    path = write("svc.yaml", SVC.replace("trials: 4", "trials: 1"))
    invoke(runner, "run", path, "-q")
    invoke(runner, "run", path, "-q")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["svc", "svc-2"]


def test_same_seed_same_trials_whatever_the_workers(runner, write, tmp_path):
    write("helpers.py", HELPERS)
    config = """\
name: {name}
objective: {{function: "helpers:per_fold"}}
data: {{dataset: iris, scale: standard}}
cv: {{folds: 2}}
search: {{trials: 4, seed: 7}}
parallel: {{n_jobs: {jobs}}}
space:
  C: {{log: [1.0e-3, 10]}}
"""
    invoke(runner, "run", write("one.yaml", config.format(name="one", jobs=1)), "-q")
    invoke(runner, "run", write("two.yaml", config.format(name="two", jobs=2)), "-q")
    one, two = trials(tmp_path / "runs" / "one"), trials(tmp_path / "runs" / "two")
    assert [(r.trial, r.scores) for r in one] == [(r.trial, r.scores) for r in two]
    assert len({r.params["C"] for r in one}) == 4


def test_failing_trials_are_recorded_and_the_search_goes_on(runner, write, tmp_path):
    write("helpers.py", HELPERS)
    path = write("flaky.yaml", 'name: flaky\nobjective: {function: "helpers:evaluate"}\n'
                               "search: {trials: 12, seed: 1}\nparallel: {n_jobs: 2}\n"
                               "space: {x: {uniform: [0, 1]}}\n")
    result = invoke(runner, "run", path)
    rows = trials(tmp_path / "runs" / "flaky")
    assert len(rows) == 12
    failed = [r for r in rows if r.status == "failed"]
    assert failed and len(failed) < 12
    for row in rows:
        x = row.params["x"]
        if x > 0.5:
            assert row.status == "failed" and math.isnan(row.mean)
            assert "ValueError: x too big" in row.error
        else:
            assert row.status == "complete" and row.mean == pytest.approx(x)
    assert f"{len(failed)} of 12 trials failed" in result.stderr
    assert "ValueError: x too big" in result.stderr


def test_nan_is_a_failure_and_all_failing_exits_1(runner, write, tmp_path):
    write("helpers.py", HELPERS)
    path = write("nan.yaml", 'objective: {function: "helpers:nan"}\nsearch: {trials: 3}\n'
                             "space: {x: {uniform: [0, 1]}}\n")
    result = invoke(runner, "run", path, "-q", ok=False)
    assert result.exit_code == 1
    assert "All 3 trials failed" in result.stderr and "score of nan" in result.stderr
    assert "--raise" in result.stderr
    assert [r.status for r in trials(tmp_path / "runs" / "nan")] == ["failed"] * 3


def test_raise_stops_at_the_first_failure_with_its_traceback(runner, write, tmp_path):
    write("helpers.py", HELPERS)
    path = write("flaky.yaml", 'objective: {function: "helpers:evaluate"}\n'
                               "search: {trials: 10, seed: 1}\nspace: {x: {uniform: [0, 1]}}\n")
    result = invoke(runner, "run", path, "--raise", ok=False)
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and 'raise ValueError("x too big")' in result.stderr
    rows = trials(tmp_path / "runs" / "flaky")
    assert rows[-1].status == "failed"
    assert all(r.status == "complete" for r in rows[:-1])


def test_command_objective_substitutes_placeholders_without_a_shell(runner, write, tmp_path):
    script = write("score.py", "import json, sys\nprint('chatter')\n"
                               "print(json.dumps({'scores': [float(sys.argv[1]), 1.0],"
                               " 'trial': int(sys.argv[2])}))\n")
    path = write("cmd.yaml", f"""\
objective: {{command: ["{sys.executable}", "{script}", "{{x}}", "{{trial}}"]}}
search: {{trials: 3}}
parallel: {{n_jobs: 1}}
space: {{x: {{uniform: [0, 1]}}}}
""")
    invoke(runner, "run", path, "-q")
    for row in trials(tmp_path / "runs" / "cmd"):
        assert row.scores == (row.params["x"], 1.0)


def test_command_without_a_score_fails_and_keeps_stderr(runner, write, tmp_path):
    script = write("bad.py", "import sys\nprint('no json here')\n"
                             "print('oops: gpu missing', file=sys.stderr)\n")
    path = write("cmd.yaml", f"""\
objective: {{command: ["{sys.executable}", "{script}"]}}
search: {{trials: 1}}
space: {{x: {{uniform: [0, 1]}}}}
""")
    invoke(runner, "run", path, "-q", ok=False)
    (row,) = trials(tmp_path / "runs" / "cmd")
    assert row.status == "failed"
    assert "printed no score" in row.error and "oops: gpu missing" in row.error


@pytest.mark.parametrize(
    "objective, data, message",
    [
        ('{function: "nowhere:evaluate"}', "", "cannot import 'nowhere'"),
        ('{function: "math:sqroot"}', "", "did you mean 'math:sqrt'"),
        ('{estimator: "math:sqrt"}', "data: {dataset: iris}\n", "not a scikit-learn-style"),
        ('{estimator: "sklearn.svm:SVC"}', "", "needs data"),
        ('{estimator: "sklearn.svm:SVC"}', "data: {dataset: iris}\n", "takes no parameter 'x'"),
        ('{command: [no-such-program-hps, "{x}"]}', "", "not found"),
        ('{estimator: "sklearn.linear_model:Ridge"}',
         "data: {dataset: diabetes}\ncv: {scoring: accuracyy}\n", "did you mean 'accuracy'"),
    ],
)
def test_objective_mistakes_are_caught_before_any_trial(runner, write, tmp_path, objective, data,
                                                        message):
    name = "alpha" if "Ridge" in objective else "x"
    space = f"space: {{{name}: {{uniform: [1, 2]}}}}\n"
    path = write("bad.yaml", f"objective: {objective}\n{data}{space}")
    result = invoke(runner, "run", path, ok=False)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_csv_and_npz_data(runner, write, tmp_path):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    lines = ["a,b,species,c,d"] + [f"{r[0]},{r[1]},{['set', 'ver', 'vir'][t]},{r[2]},{r[3]}"
                                   for r, t in zip(X, y)]
    write("iris.csv", "\n".join(lines) + "\n")
    np.savez(tmp_path / "iris.npz", X=X, y=y)
    body = ('objective: {estimator: "sklearn.neighbors:KNeighborsClassifier"}\n'
            "cv: {folds: 2}\nsearch: {trials: 2}\nparallel: {n_jobs: 1}\n"
            "space: {n_neighbors: {int: [1, 9]}}\n")
    invoke(runner, "run", write("c.yaml", "name: c\ndata: {path: iris.csv, target: species}\n"
                                + body), "-q")
    invoke(runner, "run", write("n.yaml", "name: n\ndata: {path: iris.npz}\n" + body), "-q")
    for name in ("c", "n"):
        rows = trials(tmp_path / "runs" / name)
        assert all(r.status == "complete" and r.mean > 0.8 for r in rows)
    result = invoke(runner, "run", write("t.yaml", "data: {path: iris.csv, target: specis}\n"
                                         + body), ok=False)
    assert result.exit_code == 2 and "did you mean 'species'" in result.stderr


def test_python_api_returns_trials_and_the_best(tmp_path):
    import hpsearch

    (tmp_path / "svc.yaml").write_text(SVC)
    result = hpsearch.run(tmp_path / "svc.yaml", trials=3, n_jobs=1, runs_dir=tmp_path / "runs")
    assert len(result.results) == 3
    assert result.best.mean == max(r.mean for r in result.results)
    again = hpsearch.open_run("svc", runs_dir=tmp_path / "runs")
    stored = {r.number: r.scores for r in again.results}
    assert stored == {r.number: r.scores for r in result.results}
    assert set(stored) == {0, 1, 2}
    assert again.best.number == result.best.number


@pytest.mark.slow
def test_example_config_runs(runner):
    invoke(runner, "run", ROOT / "configs" / "example.yaml", "--trials", "2", "--jobs", "1",
           "-q")


THREE_THEN_WAIT = """\
import os, time
def evaluate(p):
    for slot in range(3):  # the first three calls end at once, the others wait for Ctrl-C
        try:
            os.close(os.open(f"slot-{slot}", os.O_CREAT | os.O_EXCL))
            return p["x"]
        except FileExistsError:
            continue
    time.sleep(3600)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_keeps_finished_trials(tmp_path):
    (tmp_path / "slow.py").write_text(THREE_THEN_WAIT)
    (tmp_path / "slow.yaml").write_text(
        'objective: {function: "slow:evaluate"}\nsearch: {trials: 100}\n'
        "parallel: {n_jobs: 2}\nspace: {x: {uniform: [0, 1]}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "hpsearch", "run", "slow.yaml"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "runs" / "slow"
    deadline = time.time() + 600  # only against a hang: the run cannot end by itself
    while time.time() < deadline:
        try:
            if len(trials(run_dir)) == 3:
                break
        except StoreError:  # not created yet
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "Interrupted" in err
    rows = trials(run_dir)
    assert len(rows) == 3 and all(r.status == "complete" for r in rows)
    assert "slow:" in out  # the leaderboard of what finished
    assert open_run(run_dir).status == "interrupted"


@pytest.mark.slow
def test_quickstart_runs(runner, tmp_path):
    invoke(runner, "run", ROOT / "configs" / "quickstart.yaml", "--trials", "2", "--jobs", "1",
           "-q")
    rows = trials(tmp_path / "runs" / "quickstart")
    assert [r.status for r in rows] == ["complete", "complete"]
    assert all(len(r.scores) == 5 for r in rows)
