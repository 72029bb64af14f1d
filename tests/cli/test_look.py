"""What users see of a run's results: tables that keep every number whole at 80 columns,
metrics as columns, learning curves out of the store, and trials stopped early keeping the
score (and metrics) they were stopped at in every view."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from hpsearch.cli import cli
from hpsearch.runs import open_run

TRAIN = """\
import json, sys
lr, wd = float(sys.argv[1]), float(sys.argv[2])
if sys.argv[3] == "5":
    raise SystemExit("a very long error message that must never widen the score column " * 3)
q = 1 - (lr - 0.3) ** 2 - (wd - 0.01) ** 2 * 100
for epoch in range(1, 7):
    print(json.dumps({"epoch": epoch, "score": q * (1 - 0.4 / epoch),
                      "val_loss": 1 - q + 0.4 / epoch}), flush=True)
print(json.dumps({"score": q * (1 - 0.4 / 6), "test_accuracy": q - 0.01}))
"""


@pytest.fixture
def curves(runner, write):
    write("train.py", TRAIN)
    write("c.yaml", f"name: curves\nobjective: {{command: [{sys.executable}, train.py, '{{lr}}', "
                    "'{wd}', '{trial}']}\n"
                    "search: {trials: 24, seed: 2, early_stopping: asha}\nparallel: {n_jobs: 2}\n"
                    "space: {lr: {log: [1.0e-3, 1.0]}, wd: {log: [1.0e-5, 1.0e-1]}, "
                    "width_of_the_layer: {int: [8, 512]}, dropout_rate: {uniform: [0, 0.5]}}\n")
    result = runner.invoke(cli, ["run", "c.yaml", "--quiet"])
    assert result.exit_code == 0, result.output
    run = open_run("curves")
    assert run.pruned and run.failed  # the view has every kind of trial to show
    return run


def test_at_80_columns_a_table_drops_columns_never_cuts_a_number(curves):
    out = subprocess.run([sys.executable, "-m", "hpsearch", "leaderboard", "curves", "--columns",
                          "dropout_rate,width_of_the_layer,lr", "--top", "30"],
                         capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in text
    assert all(head in lines[1] + lines[2] for head in ("rank", "trial", "score"))
    assert "not shown, too wide for 80 columns: width_of_the_layer" in " ".join(lines)
    # every complete trial's score whole, and the failed one's row no wider for its error
    for r in curves.results:
        if r.status.value == "complete":
            assert f"{r.mean:.4f}" in text
    assert "failed" in text and "very long error" not in text


def test_metrics_are_columns_and_a_stopped_trial_keeps_its_score_and_metrics(runner, curves):
    out = runner.invoke(cli, ["leaderboard", "curves", "--columns", "lr,test_accuracy",
                              "--top", "30"])
    assert out.exit_code == 0, out.output
    assert "test_accuracy" in out.output
    best = curves.best
    assert f"{best.extra['metrics']['test_accuracy']:.4f}" in out.output
    stopped = curves.pruned[0]
    assert f"{stopped.extra['score']:.4f} @ epoch {stopped.extra['epoch']}" in out.output
    rows = json.loads(runner.invoke(cli, ["leaderboard", "curves", "--format", "json",
                                          "--top", "100"]).output)
    for row in (r for r in rows if r["status"] == "pruned"):
        assert row["stopped_epoch"] == 4 and row["stopped_score"] is not None
        assert row["mean_score"] is None and "val_loss" in row["metrics"]
    exported = list(csv.DictReader(io.StringIO(runner.invoke(cli, ["export", "curves"]).output)))
    assert {r["stopped_epoch"] for r in exported if r["status"] == "pruned"} == {"4"}
    refused = runner.invoke(cli, ["leaderboard", "curves", "--columns", "test_acuracy"])
    assert refused.exit_code == 2 and "did you mean 'test_accuracy'" in refused.output


def test_learning_curves_come_out_of_export_and_python(runner, curves):
    out = runner.invoke(cli, ["export", "curves", "--per-epoch"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    complete = [r.number for r in curves.results if r.status.value == "complete"]
    by_trial = {n: [r for r in rows if int(r["trial"]) == n] for n in complete}
    assert all([int(r["epoch"]) for r in got] == [1, 2, 3, 4, 5, 6] for got in by_trial.values())
    first = by_trial[complete[0]]
    assert float(first[5]["metric_val_loss"]) == pytest.approx(
        1 - float(first[5]["score"]) / (1 - 0.4 / 6) + 0.4 / 6)
    stopped = curves.pruned[0]
    assert [int(r["epoch"]) for r in rows if int(r["trial"]) == stopped.number] == [1, 2, 3, 4]
    curve = curves.curve(stopped.number)
    assert [c["epoch"] for c in curve] == [1, 2, 3, 4] and curve[-1]["score"] == \
        stopped.extra["score"] and "val_loss" in curve[-1]
    assert json.loads(runner.invoke(cli, ["export", "curves", "--per-epoch", "--format",
                                          "json"]).output)[0]["epoch"] == 1


def test_zoom_plot_and_runs_wrap_names_and_keep_every_value_whole_at_80_columns(curves):
    env = {**os.environ, "COLUMNS": "80"}
    for command in (["zoom", "curves"], ["plot", "curves"], ["runs"]):
        out = subprocess.run([sys.executable, "-m", "hpsearch", *command], capture_output=True,
                             text=True, env=env)
        assert out.returncode == 0, out.stderr
        assert "…" not in out.stdout and max(map(len, out.stdout.splitlines())) <= 80, \
            out.stdout
    zoom = subprocess.run([sys.executable, "-m", "hpsearch", "zoom", "curves"],
                          capture_output=True, text=True, env=env).stdout
    assert "1.00e-03..1.00e+00" in zoom and "1.00e-05..1.00e-01" in zoom  # old ranges whole


def test_a_stopped_trial_s_log_ends_saying_when_and_why(runner, curves):
    stopped = curves.pruned[0]
    log = runner.invoke(cli, ["logs", "curves", str(stopped.number)]).output
    assert log.splitlines()[-1] == f"[hpsearch: stopped early, {stopped.error}]"
    assert stopped.error.startswith("pruned at epoch 4: not in the top 1/3")


def test_plot_to_html_is_an_interactive_page_with_every_trial_stopped_ones_too(runner, curves):
    out = runner.invoke(cli, ["plot", "curves", "--out", "f.html"])
    assert out.exit_code == 0, out.output
    page = open("f.html", encoding="utf-8").read().replace("\\u003cbr\\u003e", "<br>")
    assert "<script" in page and "<img" not in page
    assert "Plotly.newPlot" in page  # plotly.js inside the page: no script from the internet
    assert not re.search(r"<script[^>]*src=[\"']?https?:", page)
    stopped = curves.pruned[0]
    assert f"trial {stopped.number}, round {stopped.trial.round}" in page
    assert f"(stopped at epoch {stopped.extra['epoch']})" in page
    best = curves.best
    assert f"trial {best.number}, round {best.trial.round}<br>score {best.mean:.4f}" in page


def test_tensorboard_export_is_read_back_by_tensorboard_s_own_reader(runner, curves, tmp_path):
    pytest.importorskip("tensorboardX")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = runner.invoke(cli, ["export", "curves", "--format", "tensorboard", "--out", "tb"])
    assert out.exit_code == 0, out.output
    assert "24 trials written to tb: tensorboard --logdir tb" in out.output
    folders = sorted((tmp_path / "tb").iterdir())
    assert [f.name for f in folders] == [f"trial-{n:02d}" for n in range(24)]
    best, stopped = curves.best, curves.pruned[0]
    for result, epochs in ((best, 6), (stopped, 4)):
        acc = accumulator.EventAccumulator(str(tmp_path / "tb" / f"trial-{result.number:02d}"))
        acc.Reload()
        curve = acc.Scalars("score")
        assert [e.step for e in curve] == list(range(1, epochs + 1))
        assert curve[-1].value == pytest.approx(curves.curve(result.number)[-1]["score"])
        assert len(acc.Scalars("val_loss")) == epochs
        start = plugin_data_pb2.HParamsPluginData.FromString(
            acc.PluginTagToContent("hparams")["_hparams_/session_start_info"])
        hp = start.session_start_info.hparams
        assert hp["lr"].number_value == pytest.approx(result.params["lr"])
        assert hp["status"].string_value == result.status.value
    refused = runner.invoke(cli, ["export", "curves", "--format", "tensorboard"])
    assert refused.exit_code == 2 and "give --out DIR" in refused.output


def test_tensorboard_export_replaces_its_own_files_and_says_in_one_line_when_it_cannot(
        runner, curves, tmp_path, capfd):
    pytest.importorskip("tensorboardX")
    assert runner.invoke(cli, ["export", "curves", "--format", "tensorboard", "--out",
                               "tb"]).exit_code == 0
    older = tmp_path / "tb" / "trial-00" / "events.out.tfevents.1.earlier"
    older.write_bytes(b"")  # what an export a second earlier left
    again = runner.invoke(cli, ["export", "curves", "--format", "tensorboard", "--out", "tb"])
    assert again.exit_code == 0, again.output
    assert not older.exists()
    assert all(len(list(folder.iterdir())) == 1 for folder in (tmp_path / "tb").iterdir())
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "trial-00").write_text("a file where a trial's folder goes")
    blocked = runner.invoke(cli, ["export", "curves", "--format", "tensorboard", "--out",
                                  "blocked"])
    assert blocked.exit_code == 2 and "Traceback" not in blocked.output
    assert blocked.output.strip().splitlines() == [
        "Error: --out blocked: cannot write there (Not a directory); give a folder you can write "
        "to"]
    assert "NaN" not in "".join(capfd.readouterr())


def test_tensorboard_export_of_failed_trials_writes_their_params_and_no_nan(runner, write,
                                                                            tmp_path, capfd):
    pytest.importorskip("tensorboardX")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    write("failing.py", "def f(p):\n    raise ValueError('no score')\n")
    write("f.yaml", "name: failed\nobjective: {function: 'failing:f'}\n"
                    "search: {trials: 3, rounds: 1}\nparallel: {n_jobs: 1}\n"
                    "space: {x: {uniform: [0, 1]}}\n")
    assert runner.invoke(cli, ["run", "f.yaml", "-q"]).exit_code == 1
    capfd.readouterr()
    out = runner.invoke(cli, ["export", "failed", "--format", "tensorboard", "--out", "tb"])
    assert out.exit_code == 0, out.output
    assert "NaN" not in out.output + "".join(capfd.readouterr())
    acc = accumulator.EventAccumulator(str(tmp_path / "tb" / "trial-0"))
    acc.Reload()
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")  # its params
    assert acc.Tags()["scalars"] == []  # and no score


def test_tensorboard_export_without_tensorboardx_says_what_to_install(runner, curves,
                                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "tensorboardX.summary", None)
    out = runner.invoke(cli, ["export", "curves", "--format", "tensorboard", "--out", "tb"])
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [
        "Error: export --format tensorboard needs tensorboardX: pip install "
        "'hpsearch[tensorboard]' (and tensorboard to look at it)"]


def test_a_diverged_trial_never_flattens_the_html_figure_s_score_axes(runner, write):
    pytest.importorskip("plotly")
    from hpsearch.present.interactive import figure

    write("div.py", "def f(p, report):\n"
                    "    q = -5.0 if p['x'] > 0.9 else 0.9 + 0.05 * p['x']\n"
                    "    for epoch in (1, 2, 3):\n"
                    "        report(epoch, q * epoch / 3)\n"
                    "    return q\n")
    write("d.yaml", "name: div\nobjective: {function: 'div:f'}\n"
                    "search: {trials: 30, seed: 1, rounds: 1, early_stopping: false}\n"
                    "parallel: {n_jobs: 1}\nspace: {x: {uniform: [0, 1]}, y: {uniform: [0, 1]}}\n")
    assert runner.invoke(cli, ["run", "d.yaml", "-q"]).exit_code == 0
    run = open_run("div")
    diverged = [r for r in run.results if r.mean < 0]
    assert diverged  # the case at hand
    fig = figure(run, [], ["x", "y"])
    low, high = fig.layout.yaxis.range
    assert low > -1 and high < 1  # the 0.9..0.95 trials fill the axis
    assert f"{len(diverged)} trial{'s' * (len(diverged) > 1)} worse than" in \
        fig.layout.title.text
    edge = [y for t in fig.data if t.name and t.name.startswith("round") for y in t.y
            if y < 0.9]
    assert len(edge) == 2 * len(diverged) and set(edge) == {low}  # on each panel's edge
    out = runner.invoke(cli, ["plot", "div", "--out", "f.html"])
    assert out.exit_code == 0, out.output
    assert "width:100%" in open("f.html").read().replace(" ", "")  # as wide as the window
