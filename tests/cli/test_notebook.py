"""From a notebook and from your own data: callables and objects, in-memory data, DataFrames, the
best model refitted, overrides, and data as users have it (text columns, gaps)."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from run_tables import trials
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import hpsearch
from hpsearch.cli import cli
from hpsearch.errors import ConfigError, InputError, ObjectiveError

pd = pytest.importorskip("pandas")  # the test extra installs it

NOTEBOOK = """\
import math, sys
import pandas as pd
from sklearn.datasets import load_iris
import hpsearch

def objective(params, X_train, y_train, X_val, y_val):
    from sklearn.linear_model import LogisticRegression
    model = LogisticRegression(C=params["C"], max_iter=500).fit(X_train, y_train)
    return {"score": model.score(X_val, y_val), "train": model.score(X_train, y_train)}

iris = load_iris(as_frame=True)
frame = iris.frame.rename(columns={"target": "species"})
frame["species"] = frame["species"].map(dict(enumerate(iris.target_names)))
result = hpsearch.run({
    "name": "notebook",
    "objective": {"function": objective},
    "data": {"frame": frame, "target": "species"},
    "cv": {"folds": 3},
    "search": {"trials": 6, "seed": 0},
    "parallel": {"n_jobs": 2},
    "space": {"C": {"log": [1.0e-3, 10.0]}},
}, runs_dir=sys.argv[1])
table = result.to_dataframe()
print(len(table), table["mean_score"].max() == result.best.mean,
      sorted(c for c in table.columns if c.startswith(("param_", "metric_", "split"))))
"""


@pytest.mark.slow
def test_a_notebook_function_on_a_dataframe_runs_in_worker_processes(tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == ("6 True ['metric_train', 'param_C', 'split0_score', "
                                          "'split1_score', 'split2_score']")
    assert all(r.status == "complete" for r in trials(tmp_path / "runs" / "notebook"))
    config = (tmp_path / "runs" / "notebook" / "config.yaml").read_text()
    assert config.startswith("# objective.function: __main__:objective lives only in the "
                             "Python session")
    assert "function: __main__:objective" in config and "in_memory:" in config
    # From another process, the run cannot be resumed: it says why, in one line
    again = subprocess.run([sys.executable, "-m", "hpsearch", "resume", "notebook"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "data.in_memory" in again.stderr and "resume or retest it from Python" in again.stderr


def test_a_config_file_naming_main_is_refused_before_any_trial(runner, write, tmp_path):
    path = write("m.yaml", 'objective: {function: "__main__:objective"}\n'
                           "space: {x: [1, 2]}\n")
    result = runner.invoke(cli, ["run", str(path)])
    assert result.exit_code == 2 and "__main__:objective names something of the Python " \
        "session" in result.stderr
    assert not (tmp_path / "runs").exists()


def iris_config(**changes) -> dict:
    X, y = load_iris(return_X_y=True)
    config = {"name": "iris", "objective": {"estimator": LogisticRegression},
              "data": {"X": X, "y": y}, "cv": {"folds": 3},
              "search": {"trials": 5, "seed": 0}, "parallel": {"n_jobs": 1},
              "space": {"C": {"log": [1.0e-3, 10.0]}}}
    config.update(changes)
    return config


def test_estimator_classes_and_instances_and_arrays(tmp_path):
    result = hpsearch.run(iris_config(), runs_dir=tmp_path / "runs")
    assert result.complete == 5
    # an instance's params are the base, the trial's on top
    instance = LogisticRegression(max_iter=7, tol=0.5)
    by_instance = hpsearch.run(iris_config(name="inst", objective={"estimator": instance}),
                               runs_dir=tmp_path / "runs")
    assert [r.mean for r in by_instance.results] != [r.mean for r in result.results]
    config = (tmp_path / "runs" / "inst" / "config.yaml").read_text()
    assert "sklearn.linear_model._logistic:LogisticRegression" in config
    assert "max_iter: 7" in config and "tol: 0.5" in config


def test_refit_keeps_the_best_configuration_fitted_on_all_the_data(tmp_path):
    X, y = load_iris(return_X_y=True)
    result = hpsearch.run(iris_config(search={"trials": 5, "seed": 0, "refit": True}),
                          runs_dir=tmp_path / "runs")
    model = hpsearch.load_model(tmp_path / "runs" / "iris")
    assert model.get_params()["C"] == result.best.params["C"]
    assert result.best_model.get_params()["C"] == result.best.params["C"]
    assert (model.predict(X) == result.best_model.predict(X)).all()
    info = json.loads((tmp_path / "runs" / "iris" / "model.json").read_text())
    assert info["trial"] == result.best.number and info["rows"] == 150
    assert set(info["versions"]) >= {"hpsearch", "scikit-learn", "numpy"}
    # a trial of one's choice, from Python with the same data
    other = hpsearch.refit(tmp_path / "runs" / "iris", trial=3, data={"X": X, "y": y})
    assert other.get_params()["C"] == result.results[3].params["C"]


def test_refit_follows_the_best_through_a_resume_and_a_zoom(tmp_path, caplog):
    X, y = load_iris(return_X_y=True)
    runs = tmp_path / "runs"

    class Stop(hpsearch.RunEvents):
        def trial_done(self, result):
            if result.number == 2:
                raise KeyboardInterrupt

    config = iris_config(search={"trials": 8, "seed": 1, "refit": True},
                         objective={"estimator": LogisticRegression, "fixed": {"max_iter": 2000}})
    with pytest.raises(KeyboardInterrupt):
        hpsearch.run(config, runs_dir=runs, events=Stop())
    done = hpsearch.resume("iris", data={"X": X, "y": y}, runs_dir=runs)
    assert done.complete == 8
    model = hpsearch.load_model(runs / "iris")  # kept at the end of the resumed run
    assert model.get_params()["C"] == done.best.params["C"]
    # a zoom into the run refits when it finds a better trial; the model is never stale
    zoomed = hpsearch.zoom("iris", trials=6, runs_dir=runs, data={"X": X, "y": y})
    info = json.loads((runs / "iris" / "model.json").read_text())
    assert info["trial"] == zoomed.best.number and info["was_best"]
    # a model that was the best and is not any more says so when it is loaded
    info["trial"] = 0
    (runs / "iris" / "model.json").write_text(json.dumps(info))
    hpsearch.load_model(runs / "iris")
    assert "its model is trial 0's" in caplog.text and \
        f"the best is now trial {zoomed.best.number}'s" in caplog.text


def test_refit_is_for_estimators(write):
    with pytest.raises(ConfigError, match="applies to estimator objectives") as info:
        hpsearch.load_config(write("f.yaml", 'objective: {function: "math:sqrt"}\n'
                                             "search: {refit: true}\nspace: {x: [1, 2]}\n"))
    assert info.value.key == "search.refit" and info.value.line == 2


def test_load_model_says_when_scikit_learn_differs(tmp_path, caplog):
    hpsearch.run(iris_config(search={"trials": 2, "seed": 0, "refit": True}),
                 runs_dir=tmp_path / "runs")
    info_path = tmp_path / "runs" / "iris" / "model.json"
    info = json.loads(info_path.read_text())
    info["versions"]["scikit-learn"] = "0.1"
    info_path.write_text(json.dumps(info))
    hpsearch.load_model(tmp_path / "runs" / "iris")
    assert "fitted with scikit-learn 0.1" in caplog.text
    with pytest.raises(InputError, match="no fitted model yet"):
        hpsearch.run(iris_config(name="plain", search={"trials": 1}), runs_dir=tmp_path / "runs")
        hpsearch.load_model(tmp_path / "runs" / "plain")


def test_in_memory_runs_resume_with_the_same_data_only(tmp_path):
    X, y = load_iris(return_X_y=True)

    class Stop(hpsearch.RunEvents):
        def trial_done(self, result):
            if result.number == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hpsearch.run(iris_config(), runs_dir=tmp_path / "runs", events=Stop())
    with pytest.raises(InputError, match="resume needs the data the run started with"):
        hpsearch.resume("iris", data={"X": X[::-1], "y": y[::-1]}, runs_dir=tmp_path / "runs")
    done = hpsearch.resume("iris", data={"X": X, "y": y}, runs_dir=tmp_path / "runs")
    assert done.complete == 5
    _, found = hpsearch.retest("iris", top=1, data={"X": X[:100], "y": y[:100]},
                               runs_dir=tmp_path / "runs")
    assert found[0].same_data is False


def messy_csv(path: Path) -> None:
    rng = random.Random(0)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["f1", "f2", "color", "label"])
        for _ in range(240):
            f1, f2 = rng.gauss(0, 1), rng.gauss(0, 1)
            color = rng.choice(["red", "green", "blue", ""])  # text, and some gaps
            label = int(f1 + (1.0 if color == "red" else -0.3) + rng.gauss(0, 0.4) > 0)
            out.writerow(["" if rng.random() < 0.05 else f"{f1:.4f}", f"{f2:.4f}", color, label])


@pytest.mark.slow
@pytest.mark.parametrize("estimator, impute, space", [
    ("sklearn.ensemble:RandomForestClassifier", ", impute: median",
     "{max_depth: {int: [2, 6]}}"),
    ("sklearn.ensemble:HistGradientBoostingClassifier", "",
     "{learning_rate: {log: [0.02, 0.3]}}"),
])
def test_a_csv_with_text_and_gaps(runner, write, tmp_path, estimator, impute, space):
    messy_csv(tmp_path / "messy.csv")
    path = write("c.yaml", f'name: messy\nobjective: {{estimator: "{estimator}"}}\n'
                           f"data: {{path: messy.csv, target: label, categorical: auto{impute}}}\n"
                           f"cv: {{folds: 3}}\nsearch: {{trials: 3}}\nspace: {space}\n")
    result = runner.invoke(cli, ["run", str(path), "-q"])
    assert result.exit_code == 0, result.output
    rows = trials(tmp_path / "runs" / "messy")
    assert all(r.status == "complete" and r.mean > 0.7 for r in rows)


def test_text_columns_need_to_be_named_categorical(runner, write, tmp_path):
    messy_csv(tmp_path / "messy.csv")
    path = write("c.yaml", 'objective: {estimator: "sklearn.svm:SVC"}\n'
                           "data: {path: messy.csv, target: label}\nspace: {C: {log: [1, 2]}}\n")
    result = runner.invoke(cli, ["run", str(path)])
    assert result.exit_code == 2 and "set data.categorical: auto" in result.stderr


def test_holdout_and_folds_checked_before_any_trial(runner, write, tmp_path):
    base = 'objective: {estimator: "sklearn.svm:SVC"}\ndata: {dataset: iris}\n'
    holdout = write("h.yaml", base + "name: h\ncv: {holdout: 0.25}\nsearch: {trials: 2}\n"
                                     "space: {C: {log: [1, 2]}}\n")
    assert runner.invoke(cli, ["run", str(holdout), "-q"]).exit_code == 0
    rows = trials(tmp_path / "runs" / "h")
    assert all(len(r.scores) == 1 for r in rows)
    for folds, message in ((500, "the data has 150 rows"), (60, "class 0 has 50 rows")):
        too_many = write("f.yaml", base + f"cv: {{folds: {folds}}}\n"
                                          "space: {C: {log: [1, 2]}}\n")
        result = runner.invoke(cli, ["run", str(too_many), "--runs-dir", "many"])
        assert result.exit_code == 2 and message in result.stderr
        assert not (tmp_path / "many").exists()


def test_set_overrides_are_checked_like_the_file(runner, write, tmp_path):
    path = write("s.yaml", 'name: s\nobjective: {estimator: "sklearn.svm:SVC"}\n'
                           "data: {dataset: iris}\ncv: {folds: 3}\nsearch: {trials: 8}\n"
                           "space:\n  C: {scale: log, low: 1.0e-1, high: 1.0e+3}\n")
    result = runner.invoke(cli, ["run", str(path), "--set", "search.trials=3",
                                 "--set", "space.C.high=1e0", "-q"])
    assert result.exit_code == 0, result.output
    rows = trials(tmp_path / "runs" / "s")
    assert len(rows) == 3 and all(r.params["C"] <= 1.0 for r in rows)
    saved = hpsearch.load_config(tmp_path / "runs" / "s" / "config.yaml")
    assert saved.search.trials == 3 and saved.space.scales["C"].high == 1.0
    sampled = runner.invoke(cli, ["sample", str(path), "--set", "space.C.high=2", "-n", "40",
                                  "--format", "json"])
    assert max(p["C"] for p in json.loads(sampled.stdout)) <= 2
    for setting, message in (("space.C.low=-1", "--set space.C.low=-1: space.C.low: low > 0"),
                             ("search.trials=0", "--set search.trials=0: search.trials: must"),
                             ("serch.trials=3", "did you mean 'search'"),
                             ("search", "give key.path=value")):
        bad = runner.invoke(cli, ["run", str(path), "--set", setting])
        assert bad.exit_code == 2 and message in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1


def test_to_dataframe_without_pandas_says_how(monkeypatch, tmp_path):
    result = hpsearch.run(iris_config(search={"trials": 1}), runs_dir=tmp_path / "runs")
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(InputError, match=r"pip install 'hpsearch\[pandas\]'"):
        result.to_dataframe()
    assert result.rows()[0]["param_C"] == result.results[0].params["C"]


def test_in_memory_data_must_be_whole(tmp_path):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ConfigError, match="X must be 2-D and y 1-D with as many rows"):
        hpsearch.run(iris_config(data={"X": X, "y": y[:10]}), runs_dir=tmp_path / "runs")
    with pytest.raises(ConfigError, match="target must name the column"):
        frame = pd.DataFrame(X, columns=list("abcd")).assign(label=y)
        hpsearch.run(iris_config(data={"frame": frame, "target": "labl"}),
                     runs_dir=tmp_path / "runs")
    with pytest.raises(ObjectiveError, match="no parameter 'Cee'"):
        hpsearch.run(iris_config(space={"Cee": {"log": [1, 2]}}), runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert np.isfinite(X).all()


ROOT = Path(__file__).resolve().parents[2]
CHECKS = """
assert len(table) == 40 and table["mean_score"].max() > 0.7, table
after = hpsearch.open_run("churn")
searched = {r.trial.round for r in after.results[:40]}  # rounds: auto gives 40 trials 3 rounds
zoomed = {r.trial.round for r in after.results[40:]}
assert len(after.results) == 60 and zoomed == {max(searched) + 1}, (searched, zoomed)
print("readme example ok")
"""


@pytest.mark.slow
def test_the_readmes_notebook_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    start = readme.index("import numpy as np\nimport pandas as pd\nimport hpsearch\n")
    code = readme[start:readme.index("```", start)]  # whole: its data made in it
    script = tmp_path / "notebook.py"
    script.write_text(code + CHECKS)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "readme example ok" in done.stdout


def test_a_dataframe_s_text_column_is_refused_before_any_trial_unless_categorical(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"plan": rng.choice(["basic", "plus", "pro"], 90),
                       "usage": rng.normal(size=90), "paid": rng.random(90) > 0.5})
    df["churned"] = ((df["plan"] == "basic") ^ (df["usage"] > 0.5)).astype(int)
    config = {"name": "frame",
              "objective": {"estimator": "sklearn.ensemble:HistGradientBoostingClassifier"},
              "data": {"frame": df, "target": "churned"}, "cv": {"folds": 3},
              "search": {"trials": 3, "seed": 0}, "parallel": {"n_jobs": 1},
              "space": {"learning_rate": {"log": [0.01, 0.3]}}}
    with pytest.raises(ObjectiveError, match=r"data: column 'plan' holds text \('.+'\), not "
                                             r"numbers; for columns of categories set "
                                             r"data.categorical: auto"):
        hpsearch.run(config, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs" / "frame").exists()  # refused before any trial
    config["data"]["categorical"] = "auto"
    assert hpsearch.run(config, runs_dir=tmp_path / "runs").complete == 3


def test_run_shows_a_progress_line_with_the_best_so_far_unless_told_not_to(tmp_path, capfd):
    result = hpsearch.run(iris_config(name="shown"), runs_dir=tmp_path / "runs")
    err = capfd.readouterr().err
    assert "shown" in err and "5/5" in err and \
        f"best {result.best.mean:.4f} (trial {result.best.number})" in err
    hpsearch.run(iris_config(name="quiet"), runs_dir=tmp_path / "runs", progress=False)
    assert capfd.readouterr().err == ""

    class Mine(hpsearch.RunEvents):
        seen = 0

        def trial_done(self, result):
            Mine.seen += 1

    hpsearch.run(iris_config(name="both"), runs_dir=tmp_path / "runs", events=Mine(),
                 progress=True)
    assert Mine.seen == 5 and "5/5" in capfd.readouterr().err


def test_progress_in_a_notebook_without_ipywidgets_is_lines_not_a_silent_bar(
        tmp_path, monkeypatch):
    """rich draws its live bar in Jupyter with ipywidgets: without it a tenth of the trials at a
    time is said in a line, and what to install for the bar."""
    from hpsearch.present import report

    shown: list[str] = []  # what the notebook displays under the cell
    monkeypatch.setattr(report.stderr, "is_jupyter", True)
    monkeypatch.setattr("rich.jupyter.display", lambda segments, text: shown.append(text))
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if not installed
    hpsearch.run({"name": "nb", "objective": {"function": lambda p: p["x"]},
                  "search": {"trials": 20, "rounds": 1}, "parallel": {"n_jobs": 1},
                  "space": {"x": {"uniform": [0, 1]}}}, runs_dir=tmp_path / "runs",
                 progress=True)
    said = "".join(shown)
    assert "a live progress bar here needs ipywidgets: pip install 'hpsearch[notebook]'" in \
        " ".join(said.split())  # as wrapped to the notebook's width
    lines = [line for line in said.splitlines() if line.startswith("nb: ")]
    assert [line.split()[1] for line in lines] == [f"{2 * k}/20" for k in range(1, 11)]
    assert "best " in lines[-1] and 'install "ipywidgets"' not in said
