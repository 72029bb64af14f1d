"""Executors behind one protocol, the one registry of backends, and the runner that hands them
trials and recovers from a dead worker."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpsearch.cli import cli
from hpsearch.errors import InputError
from hpsearch.execution import EXECUTORS, executor_for
from hpsearch.execution.executor import Executor
from hpsearch.execution.local import InProcessExecutor, LokyExecutor, ThreadingExecutor
from hpsearch.execution.trials import TrialRunner
from hpsearch.space import Space, Uniform
from hpsearch.trial import Status, plan_trials

ROOT = Path(__file__).resolve().parents[1]
LOCAL = {"in-process": InProcessExecutor, "threading": lambda: ThreadingExecutor(2),
         "loky": lambda: LokyExecutor(2)}


def everything(executor: Executor, futures: list) -> list:
    """What each task returned, waiting with the executor's own wait."""
    out, pending = [], list(futures)
    while pending:
        done = executor.wait(pending)
        assert done, "wait returns only once a task has ended"
        for future in done:
            pending.remove(future)
            out.append(executor.result(future))
    return out


@pytest.mark.parametrize("make", LOCAL.values(), ids=list(LOCAL))
def test_an_executor_hands_back_what_each_task_returned(make):
    with make() as executor:
        futures = [executor.submit(pow, i, 2) for i in range(6)]
        assert sorted(everything(executor, futures)) == [0, 1, 4, 9, 16, 25]
        assert executor.capacity >= executor.workers >= 1


@pytest.mark.parametrize("make", LOCAL.values(), ids=list(LOCAL))
def test_a_task_that_raises_is_not_a_dead_worker(make):
    with make() as executor:
        future = executor.submit(int, "not a number")
        executor.wait([future])
        with pytest.raises(ValueError) as raised:
            executor.result(future)
        assert not executor.died(raised.value)


def test_loky_knows_a_dead_worker():
    with LokyExecutor(2) as executor:
        future = executor.submit(os._exit, 3)
        executor.wait([future])
        with pytest.raises(Exception) as raised:
            executor.result(future)
        assert executor.died(raised.value)
        assert everything(executor, [executor.submit(abs, -2)]) == [2]  # a new pool


def test_in_process_runs_each_task_when_waited_for():
    ran = []
    executor = InProcessExecutor()
    futures = [executor.submit(ran.append, i) for i in range(3)]
    assert ran == []
    executor.wait(futures)
    assert ran == [0]  # one at a time: a debugging run stops at the first failure
    executor.cancel(futures[1:])
    assert ran == [0] and all(f.cancelled() for f in futures[1:])


def test_one_worker_on_this_machine_is_the_driver_itself():
    assert isinstance(executor_for("loky", 1), InProcessExecutor)
    assert isinstance(executor_for("threading", 1), InProcessExecutor)
    assert isinstance(executor_for("loky", 2, in_process=True), InProcessExecutor)
    assert type(executor_for("loky", 2)) is LokyExecutor
    assert type(executor_for("dask", 1)) is EXECUTORS["dask"]  # a cluster stays a cluster


def test_the_registry_is_the_one_list_of_backends(tmp_path, monkeypatch):
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for name, cls in EXECUTORS.items():
        assert cls.name == name
        if cls.package is not None:
            assert cls.extra in extras, f"{name} names an extra pyproject.toml lacks"
    # the config's choices and the command line's come from it
    monkeypatch.chdir(tmp_path)
    Path("c.yaml").write_text("objective: {function: m:f}\nparallel: {backend: lokky}\n"
                              "space: {x: {uniform: [0, 1]}}\n")
    out = CliRunner().invoke(cli, ["sample", "c.yaml"])
    assert out.exit_code == 2 and "did you mean 'loky'" in out.output
    assert "choose one of: " + ", ".join(EXECUTORS) in out.output
    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    assert "[" + "|".join(EXECUTORS) + "]" in help_text


def test_a_missing_backend_names_the_extra_that_installs_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    with pytest.raises(InputError, match=r"pip install 'hpsearch\[dask\]'"):
        EXECUTORS["dask"].check()


def test_a_cluster_that_does_not_answer_is_refused_before_anything_runs():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(InputError, match=f"nothing answers at tcp://127.0.0.1:{port}"):
        EXECUTORS["dask"].check(f"tcp://127.0.0.1:{port}")


SPACE = Space({"x": Uniform(0.0, 1.0)})


def square(trial):
    return (trial.params["x"] ** 2,)


class DiesOnce:
    """Trial 3 kills its process the first time it runs (a marker file remembers)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, trial):
        if trial.number == 3 and not self.marker.exists():
            self.marker.touch()
            os._exit(9)
        return (trial.params["x"],)


def always_dies(trial):
    if trial.number == 3:
        os._exit(9)
    return (trial.params["x"],)


@pytest.mark.parametrize("make", LOCAL.values(), ids=list(LOCAL))
def test_the_runner_hands_back_every_trial_once(make):
    trials = plan_trials(SPACE, "random", 9, 0)
    with make() as executor:
        runner = TrialRunner(executor, square)
        runner.submit(trials[:4])
        first = runner.next_result()
        runner.submit(trials[4:])  # trials submitted meanwhile join in
        results = [first, *runner.results()]
    assert sorted(r.number for r in results) == list(range(9))
    assert all(r.status is Status.COMPLETE and r.scores == (r.params["x"] ** 2,)
               for r in results)
    assert not runner.busy


def test_a_worker_that_dies_once_costs_no_trial(tmp_path):
    with LokyExecutor(2) as executor:
        runner = TrialRunner(executor, DiesOnce(tmp_path / "died"))
        runner.submit(plan_trials(SPACE, "random", 10, 0))
        results = list(runner.results())
    assert (tmp_path / "died").exists()
    assert sorted(r.number for r in results) == list(range(10))
    assert all(r.status is Status.COMPLETE for r in results)


def test_a_trial_that_kills_its_process_again_is_recorded_as_crashed():
    with LokyExecutor(2) as executor:
        runner = TrialRunner(executor, always_dies)
        runner.submit(plan_trials(SPACE, "random", 10, 0))
        results = {r.number: r for r in runner.results()}
    assert sorted(results) == list(range(10))
    assert results[3].status is Status.CRASHED and "exited with code 9" in results[3].error
    assert all(r.status is Status.COMPLETE for n, r in results.items() if n != 3)


def test_a_timeout_isolates_every_trial():
    def slow(trial):
        import time

        time.sleep(30 if trial.number == 1 else 0)
        return (1.0,)

    with InProcessExecutor() as executor:
        runner = TrialRunner(executor, slow, timeout=0.5)
        runner.submit(plan_trials(SPACE, "random", 3, 0))
        results = {r.number: r.status for r in runner.results()}
    assert results == {0: Status.COMPLETE, 1: Status.TIMEOUT, 2: Status.COMPLETE}


GUARDED = """\
import subprocess, sys, time
from hpsearch.execution.processes import started
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                         start_new_session=True)
with started(child.pid):
    print(child.pid, flush=True)
    time.sleep(600)
"""


def gone(pid: int, within: float = 120) -> bool:
    """Whether process pid ends (or is a zombie) before `within` seconds: a bound against a
    hang, not a timing the test depends on."""
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_group_dies_with_the_process_that_started_it():
    """kill -9 of the process that started a trial's process group (the driver with one
    worker, a worker of the pool): its guard kills the group."""
    owner = subprocess.Popen([sys.executable, "-c", GUARDED], stdout=subprocess.PIPE, text=True)
    child = int(owner.stdout.readline())
    assert not gone(child, within=0.2)
    owner.kill()
    owner.wait()
    assert gone(child)


def test_a_group_that_ended_is_not_killed_again(tmp_path):
    """The guard forgets a group once its block ends: a later process with that id is safe."""
    script = GUARDED.replace("with started(child.pid):\n    print(child.pid, flush=True)\n"
                             "    time.sleep(600)",
                             "with started(child.pid):\n    pass\nprint(child.pid, flush=True)"
                             "\ntime.sleep(600)")
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(owner.stdout.readline())
    owner.kill()
    owner.wait()
    assert not gone(child, within=1.0)  # not killed: the guard was told it ended
    os.killpg(child, 9)


def read_here(trial):
    """A score read from a file beside the current folder, as a notebook's function might."""
    return (float(Path("score.txt").read_text()),)


def test_workers_work_in_the_drivers_current_folder(tmp_path, monkeypatch):
    """A pool outlives a run: its workers follow the driver into the folder it is in now."""
    for name, score in (("a", "1.0"), ("b", "2.0")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "score.txt").write_text(score)
    seen = []
    for name in ("a", "b"):
        monkeypatch.chdir(tmp_path / name)
        with LokyExecutor(2) as executor:
            runner = TrialRunner(executor, read_here)
            runner.submit(plan_trials(SPACE, "random", 4, 0))
            seen.append({r.scores for r in runner.results()})
    assert seen == [{(1.0,)}, {(2.0,)}]
