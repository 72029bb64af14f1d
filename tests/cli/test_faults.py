"""Faults: crashing and hanging trials, a killed driver and resume, the run lock, unsafe names
and values, distributed backends."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_tables import table, trials

from hpsearch.cli import cli
from hpsearch.errors import StoreError
from hpsearch.trial import TrialResult

FAULTY = """\
import os, time
def evaluate(p):
    k = p["k"]
    if k == 0:
        os._exit(3)
    if k == 1:
        open(os.path.join(os.path.dirname(__file__), f"hang-{os.getpid()}"), "w").close()
        time.sleep(600)
    if k == 2:
        raise ValueError("two is bad")
    return float(k)
"""


def config(name: str, module: str, trials: int, extra: str = "", high: int = 9) -> str:
    return (f'name: {name}\nobjective: {{function: "{module}:evaluate"}}\n'
            f"search: {{trials: {trials}, seed: 0, rounds: 1}}\n{extra}"
            f"space:\n  k: {{scale: int, low: 0, high: {high}}}\n")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def check_outcomes(rows: list[TrialResult]) -> None:
    for row in rows:
        k = row.params["k"]
        expected = {0: "crashed", 1: "timeout", 2: "failed"}.get(k, "complete")
        assert row.status == expected, (k, row.status, row.error)
        if k == 0:
            assert "exited with code 3" in row.error
        elif k == 2:
            assert "two is bad" in row.error
        elif k > 2:
            assert row.mean == k


@pytest.mark.slow
def test_crash_timeout_and_error_are_recorded_and_the_rest_completes(runner, write, tmp_path):
    write("faulty.py", FAULTY)
    path = write("f.yaml", config("f", "faulty", 30, "parallel: {n_jobs: 2, timeout: 1.5}\n"))
    result = runner.invoke(cli, ["run", str(path), "-q"])
    assert result.exit_code == 0, result.output
    rows = trials(tmp_path / "runs" / "f")
    assert len(rows) == 30
    check_outcomes(rows)
    assert {r.status for r in rows} >= {"crashed", "timeout", "failed", "complete"}
    assert "timed out after 1.5 s" in result.stderr and "crashed" in result.stderr
    hung = [int(p.name[5:]) for p in tmp_path.glob("hang-*")]
    assert hung
    deadline = time.time() + 120  # only against a hang
    while any(map(alive, hung)) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(map(alive, hung)), "a timed-out trial's process is still running"


@pytest.mark.slow
def test_a_worker_that_dies_takes_no_other_trial_with_it(runner, write, tmp_path):
    # No timeout: the fast path, where a crash breaks the pool and the unfinished trials run
    # again, each in a process of its own. (Without a timeout, k == 1 would hang: disabled.)
    write("faulty.py", FAULTY.replace("if k == 1:", "if k == -1:"))
    path = write("c.yaml", config("c", "faulty", 24, "parallel: {n_jobs: 2}\n"))
    result = runner.invoke(cli, ["run", str(path), "-q"])
    assert result.exit_code == 0, result.output
    rows = trials(tmp_path / "runs" / "c")
    assert [r.number for r in rows] == list(range(24))
    for row in rows:
        assert row.status == {0: "crashed", 2: "failed"}.get(row.params["k"], "complete")
    assert "a worker process died" in result.stderr


CRASH_ON_ZERO = """\
import os, uuid
def evaluate(p):
    open(os.path.join(os.path.dirname(__file__), "calls", f"{os.getpid()}-{uuid.uuid4().hex}"),
         "w").close()
    if p["k"] == 0:
        os._exit(3)
    return float(p["k"])
"""


@pytest.mark.slow
def test_once_the_crash_is_found_the_rest_go_back_to_the_shared_workers(runner, write, tmp_path):
    write("crash.py", CRASH_ON_ZERO)
    (tmp_path / "calls").mkdir()
    path = write("c.yaml", config("c", "crash", 40, "parallel: {n_jobs: 2}\n"))
    result = runner.invoke(cli, ["run", str(path), "-q"])
    assert result.exit_code == 0, result.output
    rows = trials(tmp_path / "runs" / "c")
    assert [r.number for r in rows] == list(range(40))
    for row in rows:
        assert row.status == ("crashed" if row.params["k"] == 0 else "complete")
    assert "go back to the shared workers" in result.stderr
    # Isolated, every trial has a process of its own; back on the shared workers, processes
    # are reused. Running all the rest isolated would leave only the calls before the first
    # crash on reused processes.
    pids = [name.split("-")[0] for name in os.listdir(tmp_path / "calls")]
    assert sum(pids.count(pid) > 1 for pid in pids) >= 20


CRASH_ONCE = """\
import os, uuid
def evaluate(p):
    here = os.path.dirname(__file__)
    open(os.path.join(here, "calls", f"{os.getpid()}-{uuid.uuid4().hex}"), "w").close()
    if p["k"] == 0 and not os.path.exists(os.path.join(here, "crashed-once")):
        open(os.path.join(here, "crashed-once"), "w").close()
        os._exit(9)  # as an out-of-memory kill under load: it does not happen again
    return float(p["k"])
"""


def test_after_a_crash_that_does_not_recur_the_rest_go_back_to_the_shared_workers(
        runner, write, tmp_path):
    write("once.py", CRASH_ONCE)
    (tmp_path / "calls").mkdir()
    path = write("o.yaml", config("o", "once", 40, "parallel: {n_jobs: 2}\n"))
    result = runner.invoke(cli, ["run", str(path), "-q"])
    assert result.exit_code == 0, result.output
    rows = trials(tmp_path / "runs" / "o")
    assert [r.status for r in rows] == ["complete"] * 40  # nothing lost, nothing twice
    assert "the crash did not recur" in result.stderr
    pids = [name.split("-")[0] for name in os.listdir(tmp_path / "calls")]
    assert sum(pids.count(pid) > 1 for pid in pids) >= 20  # the rest on reused workers


def test_max_failures_stops_the_search(runner, write, tmp_path):
    write("always.py", "def evaluate(p):\n    raise RuntimeError('broken setup')\n")
    path = write("m.yaml", 'name: m\nobjective: {function: "always:evaluate"}\n'
                           "search: {trials: 50, max_failures: 5}\nparallel: {n_jobs: 1}\n"
                           "space: {k: {int: [0, 9]}}\n")
    result = runner.invoke(cli, ["run", str(path), "-q"])
    assert result.exit_code == 1
    assert "stopped after 5 failed trials (search.max_failures: 5)" in result.stderr
    assert "broken setup" in result.stderr
    assert len(trials(tmp_path / "runs" / "m")) == 5


SLOW = "import time\ndef evaluate(p):\n    time.sleep(0.25)\n    return p['k'] / 10\n"
HELD = """\
import os, time
HERE = os.path.dirname(os.path.abspath(__file__))  # a reused worker may work elsewhere
def evaluate(p):
    for slot in range({quick}):  # the first calls end at once, the others wait for "go"
        try:
            os.close(os.open(os.path.join(HERE, f"slot-{{slot}}"), os.O_CREAT | os.O_EXCL))
            return p['k'] / 10
        except FileExistsError:
            continue
    while not os.path.exists(os.path.join(HERE, "go")):
        time.sleep(0.05)
    return p['k'] / 10
"""


def start_run(tmp_path: Path, name: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hpsearch", "run", f"{name}.yaml", "-q",
                             *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_rows(run_dir: Path, count: int, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if len(trials(run_dir)) >= count:
                return
        except StoreError:  # not created yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"{run_dir} did not reach {count} trials")


@pytest.mark.slow
def test_killed_driver_resumes_to_the_same_points(runner, write, tmp_path):
    write("slow.py", HELD.format(quick=4))
    write("s.yaml", config("s", "slow", 24, "parallel: {n_jobs: 2}\n", high=1000))
    write("ref.yaml", config("ref", "slow", 24, "parallel: {n_jobs: 2}\n", high=1000))
    proc = start_run(tmp_path, "s")
    wait_for_rows(tmp_path / "runs" / "s", 4)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, as kill -9 would
    proc.communicate()  # reaps it and closes its stderr pipe
    before = len(trials(tmp_path / "runs" / "s"))
    assert before == 4
    (tmp_path / "go").touch()
    listed = json.loads(runner.invoke(cli, ["leaderboard", "s", "--format", "json"]).stdout)
    assert len(listed) == before
    result = runner.invoke(cli, ["resume", "s", "-q"])
    assert result.exit_code == 0, result.output
    ref = runner.invoke(cli, ["run", str(tmp_path / "ref.yaml"), "-q"])
    assert ref.exit_code == 0
    resumed, reference = trials(tmp_path / "runs" / "s"), trials(tmp_path / "runs" / "ref")
    assert [r.number for r in resumed] == list(range(24))
    assert [(r.trial, r.scores) for r in resumed] == [(r.trial, r.scores) for r in reference]


@pytest.mark.slow
def test_a_run_in_progress_cannot_be_taken_twice(runner, write, tmp_path):
    write("slow.py", HELD.format(quick=3))
    write("s.yaml", config("s", "slow", 40, "parallel: {n_jobs: 1}\n"))
    proc = start_run(tmp_path, "s")
    try:
        wait_for_rows(tmp_path / "runs" / "s", 3)
        result = runner.invoke(cli, ["resume", "s"])
        assert result.exit_code == 2
        assert f"in use by process {proc.pid}" in result.stderr
        listed = runner.invoke(cli, ["leaderboard", "s", "--format", "json"])  # reads freely
        assert listed.exit_code == 0 and json.loads(listed.stdout)
        zoomed = runner.invoke(cli, ["zoom", "s", "--run"])
        assert zoomed.exit_code == 2 and "in use by process" in zoomed.stderr
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    (tmp_path / "go").touch()
    assert runner.invoke(cli, ["resume", "s", "-q"]).exit_code == 0  # the lock died with it
    assert len(trials(tmp_path / "runs" / "s")) == 40


@pytest.mark.parametrize("name", ["../evil", "a/b", "/tmp/x", ".hidden", "..", ""])
def test_run_names_cannot_leave_the_runs_folder(runner, write, tmp_path, name):
    path = write("n.yaml", 'objective: {function: "math:sqrt"}\nspace: {x: [1, 4]}\n')
    result = runner.invoke(cli, ["run", str(path), "--name", name])
    assert result.exit_code == 2
    assert "run name" in result.stderr
    assert not (tmp_path.parent / "evil").exists()
    named = write("m.yaml", f'name: "{name}"\nobjective: {{function: "math:sqrt"}}\n'
                            "space: {x: [1, 4]}\n")
    assert runner.invoke(cli, ["run", str(named)]).exit_code == 2


SQUARE = "def evaluate(p):\n    return p['k'] ** 2\n"


def store_version(run_dir: Path) -> int:
    con = sqlite3.connect(run_dir / "trials.db")
    version = con.execute("PRAGMA user_version").fetchone()[0]
    con.close()
    return version


def test_a_store_written_by_a_newer_hpsearch_is_refused_by_name(runner, write, tmp_path):
    write("square.py", SQUARE)
    path = write("s.yaml", config("s", "square", 4, "parallel: {n_jobs: 1}\n"))
    assert runner.invoke(cli, ["run", str(path), "-q"]).exit_code == 0
    run_dir = tmp_path / "runs" / "s"
    assert store_version(run_dir) >= 1
    con = sqlite3.connect(run_dir / "trials.db")
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    before = table(run_dir, "trials")
    for command in (["leaderboard", "s"], ["resume", "s"], ["zoom", "s"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 2, (command, result.output)
        assert "written by a newer hpsearch (store version 99" in result.stderr
        assert "upgrade hpsearch" in result.stderr
    assert table(run_dir, "trials") == before and store_version(run_dir) == 99


def test_a_store_from_before_versions_is_read_as_is_and_brought_up_to_date_by_a_writer(
        runner, write, tmp_path):
    write("square.py", SQUARE)
    path = write("s.yaml", config("s", "square", 4, "parallel: {n_jobs: 1}\n"))
    assert runner.invoke(cli, ["run", str(path), "-q"]).exit_code == 0
    run_dir = tmp_path / "runs" / "s"
    con = sqlite3.connect(run_dir / "trials.db")  # as the first releases wrote it
    con.execute("ALTER TABLE trials DROP COLUMN retest_of")
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()
    listed = runner.invoke(cli, ["leaderboard", "s", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    squares = sorted(row.params["k"] ** 2 for row in trials(run_dir))
    assert sorted(row["mean_score"] for row in json.loads(listed.stdout)) == squares
    assert store_version(run_dir) == 0  # a reading command writes nothing
    retested = runner.invoke(cli, ["retest", "s", "--top", "1", "-q"])
    assert retested.exit_code == 0, retested.output
    assert store_version(run_dir) >= 1 and "retest_of" in table(run_dir, "trials")[0]


def test_command_values_never_reach_a_shell(runner, write, tmp_path):
    script = write("echo.py", "import json, sys\nprint(json.dumps({'score': len(sys.argv[1])}))\n")
    values = [f"; touch {tmp_path}/pwned", f"$(touch {tmp_path}/pwned2)", "`touch pwned3`"]
    listed = ", ".join(json.dumps(v) for v in values)
    path = write("inj.yaml", f'objective: {{command: ["{sys.executable}", "{script}", "{{v}}"]}}\n'
                             f"search: {{trials: 6}}\nparallel: {{n_jobs: 1}}\n"
                             f"space: {{v: {{scale: choice, values: [{listed}]}}}}\n")
    assert runner.invoke(cli, ["run", str(path), "-q"]).exit_code == 0
    assert not list(tmp_path.glob("pwned*"))
    for row in trials(tmp_path / "runs" / "inj"):
        assert row.mean == len(row.params["v"])


def test_a_missing_backend_names_its_extra(runner, write, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    path = write("r.yaml", 'objective: {function: "math:sqrt"}\nparallel: {backend: ray}\n'
                           "space: {x: [1, 4]}\n")
    result = runner.invoke(cli, ["run", str(path)])
    assert result.exit_code == 2
    assert "pip install 'hpsearch[ray]'" in result.stderr


@pytest.mark.slow
def test_search_on_a_local_ray_instance(write, tmp_path):
    pytest.importorskip("ray")  # the ray extra: not installed by the test extra (it is large)
    import hpsearch

    write("slow.py", SLOW.replace("0.25", "0.05"))
    seen = []

    class Seen(hpsearch.RunEvents):
        def trial_done(self, result):
            seen.append((result.number, len(trials(tmp_path / "runs" / "ray"))))

    path = write("r.yaml", config("ray", "slow", 8, "parallel: {backend: ray, n_jobs: 2}\n"))
    result = hpsearch.run(path, runs_dir=tmp_path / "runs", events=Seen())
    rows = trials(tmp_path / "runs" / "ray")
    assert len(rows) == 8 and all(r.status == "complete" for r in rows)
    assert all(r.mean == pytest.approx(r.params["k"] / 10) for r in rows)
    # each result is stored as it arrives, before the next one is awaited
    assert [count for _, count in seen] == list(range(1, 9)) and result.complete == 8


@pytest.mark.slow
def test_search_on_a_dask_cluster(runner, write, tmp_path):
    distributed = pytest.importorskip("distributed")
    write("slow.py", SLOW.replace("0.25", "0.05"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        path = write("d.yaml", config("d", "slow", 12, "parallel: {backend: dask, address: "
                                      f"\"{cluster.scheduler_address}\"}}\n"))
        result = runner.invoke(cli, ["run", str(path), "-q"])
        assert result.exit_code == 0, result.output
        workers = cluster.scheduler_info["workers"]
        assert len(workers) == 2
    rows = trials(tmp_path / "runs" / "d")
    assert len(rows) == 12 and all(r.status == "complete" for r in rows)
    assert all(r.mean == pytest.approx(r.params["k"] / 10) for r in rows)
