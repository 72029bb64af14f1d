"""Your own training code: per-epoch reports from any program, early stopping per fold, logs,
metrics, devices, the environment, and failures that explain themselves."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from run_tables import table, trials

import hpsearch
from hpsearch.cli import cli
from hpsearch.errors import AllTrialsFailed
from hpsearch.trial import TrialResult

PY = sys.executable

TRAIN = """\
import json, math, os, sys, time
lr, trial = float(sys.argv[1]), sys.argv[2]
print(f"hello from trial {trial}", flush=True)
quality = max(0.0, 1 - abs(math.log10(lr) + 2.5) / 2.5)
for epoch in range(1, 13):
    time.sleep(0.02)
    score = 0.1 + 0.8 * quality * (1 - 0.7 ** epoch)
    print(json.dumps({"epoch": epoch, "score": score, "train_loss": 1 - score}), flush=True)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, f"reached-{trial}"), "w") as f:
        f.write(str(epoch))
print(json.dumps({"score": score, "test_metric": 0.5 + int(trial) / 1000}))
"""


def command_config(name: str, script: str, trials: int, extra: str = "", args: str = "") -> str:
    return (f"name: {name}\nobjective: {{command: [{PY}, {script}, \"{{lr}}\", \"{{trial}}\""
            f"{args}]}}\nsearch: {{trials: {trials}, seed: 3{extra}}}\n"
            "parallel: {n_jobs: 2}\nspace: {lr: {log: [1.0e-5, 1.0]}}\n")


def invoke(runner, *args, code=0):
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


@pytest.mark.slow
def test_a_commands_epoch_reports_drive_early_stopping(runner, write, tmp_path):
    write("train.py", TRAIN)
    config = write("c.yaml", command_config(
        "curves", "train.py", 16, ", early_stopping: {method: asha, min_epochs: 2}"))
    invoke(runner, "run", config, "-q")
    rows = trials(tmp_path / "runs" / "curves")
    pruned = [r for r in rows if r.status == "pruned"]
    complete = [r for r in rows if r.status == "complete"]
    assert pruned and complete and len(pruned) + len(complete) == 16
    time.sleep(0.5)  # a pruned command left running would reach its last epoch by now
    for row in pruned:
        reached = int((tmp_path / f"reached-{row.number}").read_text() or 0)
        assert reached < 12, "a pruned command was not stopped"
        assert "pruned at epoch" in row.error and "fold" not in row.error
    for row in complete:
        assert [h["epoch"] for h in row.extra["history"]] == list(range(1, 13))  # its curve
        assert row.extra["metrics"] == {"test_metric": pytest.approx(0.5 + row.number / 1000)}
    reports = table(tmp_path / "runs" / "curves", "intermediate")
    first = [r for r in reports if r["trial"] == complete[0].number]
    assert len(first) == 12 and "train_loss" in json.loads(first[0]["metrics"])
    # the metric beside the score is exported and in the leaderboard's json
    exported = json.loads(invoke(runner, "export", "curves", "--format", "json").stdout)
    by_trial = {r["trial"]: r for r in exported}
    for row in complete:
        assert by_trial[row.number]["metric_test_metric"] == \
            pytest.approx(0.5 + row.number / 1000)
    board = json.loads(invoke(runner, "leaderboard", "curves", "--format", "json").stdout)
    assert board[0]["metrics"]["test_metric"] == pytest.approx(0.5 + board[0]["trial"] / 1000)
    # what trial 3 printed is in its log
    assert "hello from trial 3" in invoke(runner, "logs", "curves", "3").stdout
    assert "hello from trial 3" in (tmp_path / "runs" / "curves" / "logs" / "3.log").read_text()


def test_the_result_is_the_last_json_line_or_else_the_last_report(runner, write, tmp_path):
    write("p.py", "import json, sys\n"
                  "print(json.dumps({'epoch': 1, 'score': 0.25}))\n"
                  "print('{not json')\n"  # ignored, counted
                  "print(json.dumps({'epoch': 2, 'score': 'high'}))\n"  # not a number: ignored
                  "print(json.dumps({'config': 'no score here'}))\n"  # plain output
                  "print(json.dumps({'epoch': 2, 'score': 0.5}))\n"
                  "if sys.argv[2] == '0': print(json.dumps({'score': 0.9, 'seconds': 3}))\n"
                  "print('bye')\n")
    invoke(runner, "run", write("c.yaml", command_config("last", "p.py", 2)), "-q")
    rows = trials(tmp_path / "runs" / "last")
    assert rows[0].status == rows[1].status == "complete"
    assert rows[0].mean == 0.9 and rows[0].extra["metrics"] == {"seconds": 3}
    assert rows[1].mean == 0.5  # no final line: the last report's score
    assert rows[1].extra["ignored_lines"] == 2
    assert "ignored 2 stdout lines" in (tmp_path / "runs" / "last" / "logs" / "1.log").read_text()


@pytest.mark.slow
def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(runner, write, tmp_path):
    write("stubborn.py", """\
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
trial = int(sys.argv[2])
with open(f"pid-{trial}", "w") as f:
    f.write(str(os.getpid()))
for epoch in range(1, 2000):  # trial 0 at once; the worse ones would take 40 s
    print(json.dumps({"epoch": epoch, "score": -trial}), flush=True)
    open(f"reached-{trial}", "w").write(str(epoch))
    time.sleep(0.02 if trial else 0)
""")
    config = write("c.yaml", command_config("stubborn", "stubborn.py", 4,
                                            ", lookahead: 0, early_stopping: {method: median, "
                                            "min_epochs: 1, startup: 1}")
                   .replace("command: [", "grace: 0.5, command: ["))
    invoke(runner, "run", config, "-q")
    rows = trials(tmp_path / "runs" / "stubborn")
    pruned = [r.number for r in rows if r.status == "pruned"]
    assert len(pruned) >= 2
    for trial in pruned:  # killed after the grace, long before its last epoch (40 s away)
        # (empty when it was killed between opening the file and writing its epoch)
        assert int((tmp_path / f"reached-{trial}").read_text() or 0) < 1999
    for trial in range(4):
        pid = int((tmp_path / f"pid-{trial}").read_text())
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_megabytes_of_output_keep_the_log_bounded(runner, write, tmp_path):
    write("loud.py", "import json, sys\n"
                     "for i in range(60000):\n"
                     "    print(f'line {i:06d} ' + 'x' * 60)\n"
                     "print('the last words', file=sys.stderr)\n"
                     "print(json.dumps({'score': 1.0}))\n")
    invoke(runner, "run", write("c.yaml", command_config("loud", "loud.py", 1)), "-q")
    log = tmp_path / "runs" / "loud" / "logs" / "0.log"
    text = log.read_text()
    assert 4_000_000 < 60000 * 72 and log.stat().st_size < 1.1 * 2**20  # 4.3 MB printed
    assert text.startswith("line 000000") and "the last words" in text
    assert "line 059999" in text and "left out]" in text
    assert trials(tmp_path / "runs" / "loud")[0].status == "complete"


def test_follow_prints_a_log_across_its_cuts(tmp_path):
    from hpsearch.logs import TrialLog, follow

    log = TrialLog(tmp_path / "t.log", limit=4000, head=500)
    lines = [f"line {i:05d}\n" for i in range(3000)]
    done = threading.Event()

    def write() -> None:
        for i, line in enumerate(lines):
            log.write(line)
            if i % 100 == 0:
                time.sleep(0.001)
        log.close()
        done.set()

    printed: list[bytes] = []
    writer = threading.Thread(target=write)
    writer.start()
    follow(tmp_path / "t.log", done.is_set, printed.append, poll=0.0005)
    writer.join()
    text = b"".join(printed).decode()
    # everything printed is the trial's output in order, gaps only where the file was cut
    seen = [line for line in text.splitlines() if line.startswith("line ")]
    numbers = [int(line.split()[1]) for line in seen]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert numbers[0] == 0 and numbers[-1] == 2999
    assert (tmp_path / "t.log").stat().st_size <= 4000 + 200


FOLDS = """\
import numpy as np
from sklearn.linear_model import SGDClassifier

def evaluate(params, X_train, y_train, X_val, y_val, report):
    model = SGDClassifier(alpha=params["alpha"], learning_rate="constant", eta0=0.01,
                          random_state=0)
    classes = np.unique(y_train)
    for epoch in range(1, 9):
        model.partial_fit(X_train, y_train, classes=classes)
        report(epoch, float(model.score(X_val, y_val)), epoch_seconds=0.01)
    print("fold done")
    return {"score": float(model.score(X_val, y_val)), "train_score":
            float(model.score(X_train, y_train))}
"""


def test_a_cross_validated_function_is_compared_fold_by_fold(runner, write, tmp_path):
    write("folds.py", FOLDS)
    config = write("f.yaml", 'name: folds\nobjective: {function: "folds:evaluate"}\n'
                             "data: {dataset: wine, scale: standard}\ncv: {folds: 4}\n"
                             "search: {trials: 16, seed: 0, early_stopping: {method: asha, "
                             "min_epochs: 2}}\nparallel: {n_jobs: 2}\n"
                             "space: {alpha: {log: [1.0e-5, 10.0]}}\n")
    invoke(runner, "run", config, "-q")
    rows = trials(tmp_path / "runs" / "folds")
    complete = [r for r in rows if r.status == "complete"]
    pruned = [r for r in rows if r.status == "pruned"]
    assert complete and pruned
    assert all(" of fold " in r.error for r in pruned)
    reports = table(tmp_path / "runs" / "folds", "intermediate")
    trial = complete[0].number
    assert sorted({r["fold"] for r in reports if r["trial"] == trial}) == [0, 1, 2, 3]
    assert len([r for r in reports if r["trial"] == trial and r["epoch"] == 1]) == 4
    extra = complete[0].extra
    assert [h["epoch"] for h in extra["history"]] == list(range(1, 9))
    assert 0 <= extra["metrics"]["train_score"] <= 1  # the mean over the folds
    assert (tmp_path / "runs" / "folds" / "logs" / f"{trial}.log").read_text().count(
        "fold done") == 4


def test_a_run_in_which_no_trial_completes_says_why(runner, write, tmp_path):
    # Trial 0 reports well, then fails; every later trial reports worse and is pruned (one
    # worker, no look-ahead: each trial is compared with every trial before it).
    write("flat.py", "import json, sys\nfirst = sys.argv[2] == '0'\nfor e in range(1, 30):\n"
                     "    print(json.dumps({'epoch': e, 'score': float(first)}), flush=True)\n"
                     "sys.exit(1 if first else 0)\n")
    config = write("c.yaml", command_config("none", "flat.py", 6, ", lookahead: 0, "
                                            "early_stopping: {method: median, min_epochs: 1, "
                                            "startup: 1}")
                   .replace("n_jobs: 2", "n_jobs: 1"))
    result = invoke(runner, "run", config, code=1)
    statuses = [r.status for r in trials(tmp_path / "runs" / "none")]
    assert statuses == ["failed"] + ["pruned"] * 5
    assert "no trial completed: 5 pruned by early stopping and 1 failed" in result.stderr
    assert "min_epochs" in result.stderr and "0.0000 @ epoch 1" in result.stdout


def test_command_failures_explain_themselves(runner, write, tmp_path):
    write("boom.py", "import sys\nprint('starting')\n"
                     "sys.stderr.write('loading data\\nboom-xyz-42\\n')\nsys.exit(3)\n")
    config = write("b.yaml", command_config("boom", "boom.py", 3, args=', --note, "two words"'))
    result = invoke(runner, "run", config, code=1)
    assert "3× CommandFailed: exited with code 3" in result.stderr
    assert f"trial 0 ran: {PY} boom.py" in result.stderr and "'two words'" in result.stderr
    assert "| boom-xyz-42" in result.stderr and "--raise" in result.stderr
    for _ in range(2):  # debugging with --raise leaves one scratch run, not one per attempt
        raised = invoke(runner, "run", config, "--raise", "--runs-dir", "debug", code=1)
        assert "boom-xyz-42" in raised.stderr and "It ran: " in raised.stderr
    assert [p.name for p in (tmp_path / "debug").iterdir()] == ["boom"]
    with pytest.raises(AllTrialsFailed, match="raise_errors=True"):
        hpsearch.run(config, runs_dir=tmp_path / "api")


def test_env_and_placeholders_reach_the_command_once(runner, write, tmp_path):
    write("env.py", "import json, os, sys\n"
                    "print(json.dumps({'score': 1.0, 'tag': os.environ['MY_TAG'], "
                    "'arg': sys.argv[1]}))\n")
    config = write("e.yaml", f"name: env\nobjective:\n  command: [{PY}, env.py, \"{{word}}\"]\n"
                             "  env: {MY_TAG: \"t{trial}-{seed}\"}\n"
                             "search: {trials: 3}\nspace: {word: [\"{trial}\", plain]}\n")
    invoke(runner, "run", config, "-q")
    for row in trials(tmp_path / "runs" / "env"):
        metrics = row.extra["metrics"]
        assert metrics["tag"] == f"t{row.number}-{row.trial.seed}"
        assert metrics["arg"] == row.params["word"]  # "{trial}" reached as is


def test_env_is_for_commands_only(write):
    from hpsearch.config import load_config
    from hpsearch.errors import ConfigError

    with pytest.raises(ConfigError, match="applies to command objectives only") as info:
        load_config(write("x.yaml", 'objective: {function: "m:f", env: {A: b}}\n'
                                    "space: {x: [1, 2]}\n"))
    assert info.value.line == 1 and info.value.key == "objective.env"


PROBE = """\
import json, os, sys, time
start = time.time(); time.sleep(0.3)
print(json.dumps({"score": 1.0, "devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                  "start": start, "end": time.time()}))
"""

INSIDE = """\
import os, time
def evaluate(params):
    start = time.time(); time.sleep(0.2)
    return {"score": 1.0, "devices": os.environ.get("GPUS"), "pid": os.getpid(),
            "start": start, "end": time.time()}
"""


def never_shared(rows: list[TrialResult], slots: set[str]) -> int:
    """Checks that no two trials held a device at once; returns the most running at once."""
    spans = [r.extra["metrics"] for r in rows]
    assert {s["devices"] for s in spans} <= slots
    for a in spans:
        for b in spans:
            if a is not b and set(a["devices"].split(",")) & set(b["devices"].split(",")):
                assert a["end"] <= b["start"] or b["end"] <= a["start"], (a, b)
    events = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@pytest.mark.slow
def test_each_running_command_gets_its_own_devices(runner, write, tmp_path):
    write("probe.py", PROBE)
    config = write("d.yaml", f"name: dev\nobjective: {{command: [{PY}, probe.py]}}\n"
                             "search: {trials: 8}\nparallel: {devices: [0, 1, 2, 3], "
                             "devices_per_trial: 2}\nspace: {x: [1, 2]}\n")
    invoke(runner, "run", config, "-q")
    assert never_shared(trials(tmp_path / "runs" / "dev"), {"0,1", "2,3"}) == 2


def test_in_process_trials_keep_their_workers_devices(runner, write, tmp_path):
    write("inside.py", INSIDE)
    config = write("i.yaml", 'name: inside\nobjective: {function: "inside:evaluate"}\n'
                             "search: {trials: 8}\nparallel: {devices: [a, b], "
                             "device_variable: GPUS}\nspace: {x: [1, 2]}\n")
    invoke(runner, "run", config, "-q")
    rows = trials(tmp_path / "runs" / "inside")
    assert never_shared(rows, {"a", "b"}) == 2
    by_worker = {}
    for row in rows:
        metrics = row.extra["metrics"]
        by_worker.setdefault(metrics["pid"], set()).add(metrics["devices"])
    assert all(len(devices) == 1 for devices in by_worker.values())  # pinned for its life


@pytest.mark.parametrize("parallel, message", [
    ("{devices: [0, 1], n_jobs: 4}", "4 workers but 2 device slots"),
    ("{devices: [0, 1, 2], devices_per_trial: 4}", "4 devices per trial, but only 3"),
    ("{devices: [0, 0]}", "lists a device twice"),
    ("{devices: [0, 1], backend: threading}", "threads share one environment"),
])
def test_device_mistakes(write, parallel, message):
    from hpsearch.config import load_config
    from hpsearch.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(write("x.yaml", f'objective: {{function: "m:f"}}\nparallel: {parallel}\n'
                                    "space: {x: [1, 2]}\n"))


def test_a_store_of_version_1_keeps_its_reports_when_upgraded(runner, write, tmp_path):
    write("train.py", TRAIN)
    config = write("c.yaml", command_config("old", "train.py", 2))
    invoke(runner, "run", config, "-q")
    run_dir = tmp_path / "runs" / "old"
    con = sqlite3.connect(run_dir / "trials.db")  # as version 1 kept them
    con.executescript("DROP TABLE intermediate; CREATE TABLE intermediate (trial INTEGER, "
                      "epoch INTEGER, value REAL, PRIMARY KEY (trial, epoch)); "
                      "INSERT INTO intermediate VALUES (0, 1, 0.5); PRAGMA user_version = 1;")
    con.close()
    invoke(runner, "retest", "old", "--top", "1", "-q")
    reports = table(run_dir, "intermediate")
    assert {"trial": 0, "fold": 0, "epoch": 1, "value": 0.5, "metrics": None} in reports
    con = sqlite3.connect(run_dir / "trials.db")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 3
    con.close()


GUARD = """\
# Preloaded by the test's dask workers: they stand for machines that do not see the run folder.
import builtins, os, sqlite3
RUN = os.environ["GUARDED_RUN"]
def refuse_sqlite(*args, **kwargs):
    raise PermissionError("this worker cannot open the run's database")
sqlite3.connect = refuse_sqlite
real_open = builtins.open
def guarded_open(file, *args, **kwargs):
    if str(file).startswith(RUN):
        raise PermissionError(f"this worker cannot read {file}")
    return real_open(file, *args, **kwargs)
builtins.open = guarded_open
"""


@pytest.mark.slow
def test_reports_and_logs_travel_through_dask(write, tmp_path):
    pytest.importorskip("distributed")
    write("train.py", TRAIN)
    write("guard.py", GUARD)
    runs = tmp_path / "runs"
    env = dict(os.environ, GUARDED_RUN=str(runs), PYTHONPATH=str(tmp_path))
    scheduler = subprocess.Popen([PY, "-m", "distributed.cli.dask_scheduler", "--host",
                                  "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(tmp_path / "s.json")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    workers = []
    try:
        deadline = time.time() + 300  # only against a hang
        while not (tmp_path / "s.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads((tmp_path / "s.json").read_text())["address"]
        workers = [subprocess.Popen([PY, "-m", "distributed.cli.dask_worker", address,
                                     "--nthreads", "1", "--no-dashboard", "--preload", "guard",
                                     "--local-directory", str(tmp_path / f"w{i}")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=env, cwd=tmp_path) for i in range(2)]
        config = write("d.yaml", command_config(
            "dask", "train.py", 12, ", early_stopping: {method: asha, min_epochs: 2}")
            .replace("n_jobs: 2", f"n_jobs: 2, backend: dask, address: '{address}'"))
        result = hpsearch.run(config, runs_dir=runs)
    finally:
        for process in (*workers, scheduler):
            process.terminate()
        for process in (*workers, scheduler):
            process.wait(timeout=30)
    statuses = [r.status for r in result.results]
    assert "pruned" in statuses and "complete" in statuses and "failed" not in statuses
    rows = trials(runs / "dask")
    complete = [r for r in rows if r.status == "complete"]
    assert len(complete[0].extra["history"]) == 12
    assert len(table(runs / "dask", "intermediate")) > 12
    assert "hello from trial 0" in (runs / "dask" / "logs" / "0.log").read_text()


@pytest.mark.slow
def test_logs_follow_a_trial_while_it_runs(write, tmp_path):
    write("slow.py", "import json, sys, time\nfor i in range(12):\n"
                     "    print(f'step {i}', flush=True)\n    time.sleep(0.1)\n"
                     "print(json.dumps({'score': 1.0}))\n")
    config = write("s.yaml", f"name: slow\nobjective: {{command: [{PY}, slow.py]}}\n"
                             "search: {trials: 1}\nspace: {x: [1, 2]}\n")
    hps = [PY, "-m", "hpsearch"]
    run = subprocess.Popen([*hps, "run", str(config), "-q"], cwd=tmp_path)
    log = tmp_path / "runs" / "slow" / "logs" / "0.log"
    deadline = time.time() + 300  # only against a hang
    while not log.exists() and time.time() < deadline:
        time.sleep(0.05)
    followed = subprocess.run([*hps, "logs", "slow", "0", "--follow"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
    assert run.wait(timeout=600) == 0
    assert followed.returncode == 0
    assert [line for line in followed.stdout.splitlines() if line.startswith("step")] == \
        [f"step {i}" for i in range(12)]
    missing = subprocess.run([*hps, "logs", "slow", "7"], cwd=tmp_path, capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "no trial 7" in missing.stderr


ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_shell_example_speaks_the_protocol(runner, write, tmp_path):
    readme = (ROOT / "docs" / "objectives.md").read_text()
    start = readme.index("#!/bin/sh\n# train.sh LR")
    write("train.sh", readme[start:readme.index("```", start)])
    config = write("sh.yaml", "name: sh\nobjective: {command: [sh, train.sh, \"{lr}\"]}\n"
                              "search: {trials: 8, early_stopping: {method: median, "
                              "min_epochs: 2, startup: 2}}\nparallel: {n_jobs: 1}\n"
                              "space: {lr: {log: [0.02, 1]}}\n")
    invoke(runner, "run", config, "-q")
    rows = trials(tmp_path / "runs" / "sh")
    assert {r.status for r in rows} == {"complete", "pruned"}
    for row in rows:
        lr = row.params["lr"]
        if row.status == "complete":
            assert row.mean == pytest.approx(1 - 1 / (8 * lr * 100), abs=1e-4)
            assert len(row.extra["history"]) == 8


def test_the_pytorch_example_runs(tmp_path):
    pytest.importorskip("torch")  # an example's own dependency, not hpsearch's
    from hpsearch.config import load_config

    cfg = load_config(ROOT / "examples" / "pytorch" / "search.yaml")
    command = tuple(sys.executable if a == "python" else a for a in cfg.objective.target)
    command = tuple("3" if prev == "--epochs" else a
                    for prev, a in zip(("",) + command, command))
    cfg = cfg.replace(objective={"target": command}, search={"trials": 2})
    result = hpsearch.run(cfg, runs_dir=tmp_path / "runs")
    assert result.complete == 2 and result.best.mean > 0.5
    best = result.best
    assert len(best.extra["history"]) == 3 and 0 < best.extra["metrics"]["test_accuracy"] <= 1
