"""Bad days: damaged and read-only runs, limits, signals, stray processes, and configs mutated
every which way. Never a traceback, never a stray process."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from run_tables import trials

from hpsearch.cli import cli
from hpsearch.runs import open_run

PY = sys.executable
ROOT = Path(__file__).resolve().parents[2]
EVALUATE = "def evaluate(p):\n    return (p['x'] - 0.25) ** 2 + p['y']\n"
CONFIG = """\
name: {name}
objective: {{function: "triv:evaluate"}}
search: {{trials: 12, seed: 0}}
parallel: {{n_jobs: 1}}
space:
  x: {{scale: uniform, low: 0, high: 1}}
  y: {{scale: log, low: 1.0e-3, high: 1}}
"""


@pytest.fixture
def finished(runner, write, tmp_path) -> Path:
    """A finished run of 12 trials, its database checkpointed as a run at rest is."""
    write("triv.py", EVALUATE)
    result = runner.invoke(cli, ["run", str(write("base.yaml", CONFIG.format(name="base"))),
                                 "-q"])
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "base"


def damage(kind: str, folder: Path) -> None:
    db, config = folder / "trials.db", folder / "config.yaml"
    if kind == "pages":  # damaged pages behind an intact header
        data = bytearray(db.read_bytes())
        page = int.from_bytes(data[16:18], "big")
        rng = random.Random(14)
        data[page:] = bytes(rng.getrandbits(8) for _ in range(len(data) - page))
        db.write_bytes(bytes(data))
    elif kind == "no-config":
        config.unlink()
    elif kind == "bad-yaml":
        config.write_text(config.read_text() + "\n: : [\n")
    elif kind == "bad-config":
        config.write_text(config.read_text().replace("scale: log", "scale: logg"))
    elif kind in ("params-not-json", "status-unknown"):
        con = sqlite3.connect(db)
        column, value = ("params", "not json") if kind == "params-not-json" else \
            ("status", "weird")
        con.execute(f"UPDATE trials SET {column} = ? WHERE number = 0", (value,))
        con.commit()
        con.close()
    elif kind == "lock-folder":
        (folder / "lock").unlink()
        (folder / "lock").mkdir()
    elif kind == "empty-db":
        db.write_bytes(b"")
    elif kind == "no-tables":
        db.unlink()
        sqlite3.connect(db).close()


KINDS = ["pages", "no-config", "bad-yaml", "bad-config", "params-not-json", "status-unknown",
         "lock-folder", "empty-db", "no-tables"]
READING = [["leaderboard", "{run}"], ["export", "{run}"], ["importance", "{run}"],
           ["plot", "{run}"], ["logs", "{run}", "0"], ["status", "{run}"],
           ["compare", "{run}", "{run}"]]
WRITING = [["resume", "{run}"], ["zoom", "{run}", "--run"], ["retest", "{run}"],
           ["refit", "{run}"], ["babysit", "--resume", "{run}"]]


@pytest.mark.parametrize("kind", KINDS)
def test_every_command_answers_a_damaged_run_in_one_line(runner, finished, kind):
    damage(kind, finished)
    before = finished.joinpath("trials.db").read_bytes()
    for args in READING + WRITING:
        if kind == "lock-folder" and args in READING:
            continue  # reading takes no lock: a lock that is a folder does not stop it
        if kind == "params-not-json" and args[0] == "status":
            continue  # status reads counts and the best trial's row: trial 0 is not read
        result = runner.invoke(cli, [a.replace("{run}", str(finished)) for a in args])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2, (kind, args, result.output)
        assert len(lines) == 1 and lines[0].startswith("Error: "), (kind, args, lines)
        assert "Traceback" not in result.output
        assert str(finished) in lines[0] or "config.yaml" in lines[0], (kind, args, lines)
    assert finished.joinpath("trials.db").read_bytes() == before  # nothing re-ran into it


def test_a_damaged_run_never_hides_the_others(runner, write, finished, tmp_path):
    runner.invoke(cli, ["run", str(write("other.yaml", CONFIG.format(name="other"))), "-q"])
    damage("pages", finished)
    result = runner.invoke(cli, ["runs"])
    assert result.exit_code == 0 and "Traceback" not in result.output
    table = " ".join(result.stdout.split())
    assert "other" in table and "finished" in table
    assert "base" in table and "damaged" in table and "base: its store trials.db is damaged"\
        in table


def test_a_name_no_folder_can_have_is_no_run_for_any_command(runner, finished):
    """A pasted line of 300 characters is longer than a file name can be: each command says
    there is no such run, in one line, as for any unknown name."""
    name = "a" * 300
    for args in READING + WRITING + [["best", "{run}"], ["dashboard", "{run}"]]:
        result = runner.invoke(cli, [a.replace("{run}", name) for a in args])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert lines == [f"Error: no run {name[:60]!r}… (300 characters); runs in runs: base"], \
            (args, lines)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="reads a run as another user: needs root and setpriv")
def test_a_run_on_a_read_only_volume_reads_as_any_other(finished):
    folder = Path(tempfile.mkdtemp())
    try:
        shutil.copytree(finished, folder / "runs" / "base")
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)  # nobody may write, everyone read
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PY, "-m",
                  "hpsearch"]
        probe = subprocess.run([*nobody, "--help"], capture_output=True)
        if probe.returncode:
            pytest.skip("this Python is not usable by another user here")
        read = subprocess.run([*nobody, "export", str(folder / "runs" / "base"), "--format",
                               "json"], capture_output=True, text=True, cwd=folder)
        assert read.returncode == 0, read.stderr
        assert read.stdout.count('"trial"') == 12
        (folder / "triv.py").parent.chmod(0o555)
        write = subprocess.run([*nobody, "resume", str(folder / "runs" / "base")],
                               capture_output=True, text=True, cwd=folder)
        assert write.returncode == 2 and "cannot take the run for writing" in write.stderr
        assert sorted(p.name for p in (folder / "runs" / "base").iterdir()) == \
            sorted(p.name for p in finished.iterdir())  # not a file written
    finally:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(folder)


def limited(name: str = "limit", trials: str = "4", parallel: str = "{n_jobs: 1}",
            fixed: str = "{}", extra_space: str = "") -> str:
    return (f'name: {name}\nobjective: {{function: "triv:evaluate", fixed: {fixed}}}\n'
            f"search: {{trials: {trials}}}\nparallel: {parallel}\nspace:\n"
            "  x: {uniform: [0, 1]}\n  y: {log: [1.0e-3, 1]}\n" + extra_space)


LIMITS = [
    (limited(trials="1e12"), "at most 1,000,000 trials"),
    (limited(extra_space="  n: {int: [1, 1.0e+300]}\n"), "beyond what an int parameter holds"),
    (limited(name="a" * 300), "at most 200 characters"),
    (limited(parallel="{backend: dask, address: 'tcp://127.0.0.1:9'}"), "nothing answers at"),
    (limited(fixed="{deep: " + "[" * 200 + "1" + "]" * 200 + "}"), "nested deeper than a config"),
    (limited(fixed="{deep: " + "[" * 20000 + "1" + "]" * 20000 + "}"),
     "nested deeper than a config"),
]


@pytest.mark.parametrize("text, message", LIMITS)
def test_limits_are_refused_up_front_and_leave_no_folder(runner, write, tmp_path, text,
                                                         message):
    write("triv.py", EVALUATE)
    result = runner.invoke(cli, ["run", str(write("l.yaml", text)), "-q"])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_config_file_too_large_is_refused_at_once(runner, write):
    path = write("big.yaml", "name: big\n" + "# " + "x" * 2_000_000 + "\n")
    result = runner.invoke(cli, ["sample", str(path)])
    assert result.exit_code == 2 and "is not a config (at most 1,048,576)" in result.stderr


SLEEPY = "import time\ndef evaluate(p):\n    time.sleep(2.0)\n    return p['x']\n"


def descendants(pid: int) -> set[int]:
    """Every process below pid, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(stat[1])
            except (OSError, IndexError):
                continue
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_sleepy(tmp_path: Path) -> subprocess.Popen:
    (tmp_path / "sleepy.py").write_text(SLEEPY)
    (tmp_path / "s.yaml").write_text('name: s\nobjective: {function: "sleepy:evaluate"}\n'
                                     "search: {trials: 20}\nparallel: {n_jobs: 2}\n"
                                     "space: {x: {uniform: [0, 1]}}\n")
    process = subprocess.Popen([PY, "-m", "hpsearch", "run", "s.yaml", "-q"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.time() + 300  # only against a hang
    while time.time() < deadline and (not (tmp_path / "runs" / "s" / "trials.db").exists()
                                      or len(trials(tmp_path / "runs" / "s")) < 2):
        time.sleep(0.2)
    return process


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_a_stopped_driver_leaves_no_process_behind(tmp_path, sig, code):
    process = start_sleepy(tmp_path)
    children = descendants(process.pid)
    assert children  # its workers
    process.send_signal(sig)
    assert process.wait(timeout=300) == code
    assert [pid for pid in children if not gone(pid)] == []
    rows = trials(tmp_path / "runs" / "s")
    assert rows and all(r.status == "complete" for r in rows)
    if sig == signal.SIGTERM:
        assert "Interrupted: finished trials are stored" in process.stderr.read()
    assert open_run(tmp_path / "runs" / "s").status == "interrupted"
    resumed = subprocess.run([PY, "-m", "hpsearch", "resume", "s", "-q"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert len(trials(tmp_path / "runs" / "s")) == 20


LINGER = """\
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(600)
print('{"score": 1}')
"""
LINGER_FN = """\
import os, time
def evaluate(p):
    with open(os.environ["PID_FILE"], "a") as out:
        out.write(f"{os.getpid()}\\n")
    time.sleep(600)
    return 1.0
"""


def gone(pid: int, within: float = 120) -> bool:
    """Whether process pid ends before `within` seconds (a bound against a hang)."""
    deadline = time.time() + within
    while time.time() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def pids_in(path: Path, count: int) -> list[int]:
    """The first `count` process ids written to a file, one per line (waiting for them)."""
    deadline = time.time() + 300  # only against a hang
    while time.time() < deadline:
        lines = path.read_text().split() if path.exists() else []
        if len(lines) >= count:
            return [int(x) for x in lines[:count]]
        time.sleep(0.05)
    raise AssertionError(f"{count} trials did not start")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["command", "function with a timeout",
                                  "threads with a timeout"])
def test_nothing_outlives_a_killed_driver_with_one_worker_or_threads(tmp_path, kind):
    """With n_jobs 1 or threads the trials' processes are the driver's own children: kill -9 of
    the driver must take them (and all they started) too, as the workers' do with loky. Under
    threads the two first trials start together, each forked while the other may be starting
    the guard: the kill comes at once, the moment both have started."""
    pid_file = tmp_path / "trial.pid"
    if kind == "command":
        (tmp_path / "linger.py").write_text(LINGER)
        objective = f'{{command: ["{PY}", linger.py, "{pid_file}", "{{x}}"]}}'
        parallel = "{n_jobs: 1}"
    else:
        (tmp_path / "linger_fn.py").write_text(LINGER_FN)
        objective = '{function: "linger_fn:evaluate"}'
        parallel = "{n_jobs: 1, timeout: 300}" if kind == "function with a timeout" else \
            "{n_jobs: 2, backend: threading, timeout: 300}"
    (tmp_path / "l.yaml").write_text(f"name: l\nobjective: {objective}\nsearch: {{trials: 2}}\n"
                                     f"parallel: {parallel}\nspace: {{x: {{uniform: [0, 1]}}}}\n")
    driver = subprocess.Popen([PY, "-m", "hpsearch", "run", "l.yaml", "-q"], cwd=tmp_path,
                              env={**os.environ, "PID_FILE": str(pid_file)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = pids_in(pid_file, 2 if kind.startswith("threads") else 1)
    driver.kill()
    driver.wait()
    assert [pid for pid in started if not gone(pid)] == [], "a trial outlived its driver"


HANG = "import time\ndef evaluate(p):\n    while True:\n        time.sleep(1)\n"


@pytest.mark.slow
def test_a_timeout_holds_under_threads_from_the_first_trial(tmp_path):
    """Two threads fork their first trials while the guard starts: a trial that inherited the
    guard's pipe once held both threads before their timed wait (about every other run), so
    three fresh drivers each end with every trial timed out."""
    (tmp_path / "hang.py").write_text(HANG)
    for k in range(3):
        (tmp_path / f"h{k}.yaml").write_text(
            f"name: h{k}\nobjective: {{function: 'hang:evaluate'}}\n"
            f"search: {{trials: 4, seed: {k}, rounds: 1, max_failures: 100}}\n"
            "parallel: {n_jobs: 2, backend: threading, timeout: 1}\n"
            "space: {x: {uniform: [0, 1]}}\n")
        ran = subprocess.run([PY, "-m", "hpsearch", "run", f"h{k}.yaml", "-q"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)  # against a hang
        assert ran.returncode == 1 and "All 4 trials failed" in ran.stderr, ran.stderr
        assert [r.status for r in trials(tmp_path / "runs" / f"h{k}")] == ["timeout"] * 4


EDITABLE = """\
name: e
objective: {{command: ["{py}", "{script}", "{{x}}"]}}
search: {{trials: 4, rounds: 1}}
parallel: {{n_jobs: 1}}
space: {{x: {{uniform: [0, 1]}}}}
"""


def test_a_run_whose_config_was_edited_is_not_resumed_silently(runner, write, tmp_path):
    write("good.py", "import sys\nprint('{\"score\": %s}' % sys.argv[1])\n")
    write("evil.py", "open('EDITED', 'w').close()\nprint('{\"score\": 0.5}')\n")
    write("e.yaml", EDITABLE.format(py=PY, script="good.py"))
    assert runner.invoke(cli, ["run", "e.yaml", "-q"]).exit_code == 0
    stored = tmp_path / "runs" / "e" / "config.yaml"
    stored.write_text(stored.read_text().replace("good.py", "evil.py")
                      .replace("trials: 4", "trials: 6"))
    refused = runner.invoke(cli, ["resume", "e"])
    assert refused.exit_code == 2 and not (tmp_path / "EDITED").exists()
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "its config.yaml was edited since the run started" in lines[0]
    assert "good.py' → '" in lines[0] and "search.trials: 4 → 6" in lines[0]
    assert "--accept-edits" in lines[0]
    for other in (["zoom", "e", "--run"], ["retest", "e"]):  # every command that runs trials
        before = sorted(p.name for p in (tmp_path / "runs" / "e").iterdir())
        result = runner.invoke(cli, other)
        assert result.exit_code == 2 and "was edited" in result.stderr
        assert sorted(p.name for p in (tmp_path / "runs" / "e").iterdir()) == before  # no file
    best = runner.invoke(cli, ["best", "e", "--format", "args"])  # what the trial ran
    assert best.exit_code == 0 and best.stdout.startswith(f"{PY} good.py ")
    assert "warning: " in best.stderr and "its config.yaml was edited since the run started " \
        "(objective.command[1]: 'good.py' → 'evil.py'; search.trials: 4 → 6); this is the " \
        "config its trials ran with" in best.stderr
    accepted = runner.invoke(cli, ["resume", "e", "--accept-edits", "-q"])
    assert accepted.exit_code == 0, accepted.output
    assert "going on with its edited config.yaml" in accepted.stderr
    assert (tmp_path / "EDITED").exists() and len(trials(tmp_path / "runs" / "e")) == 6
    assert runner.invoke(cli, ["resume", "e", "-q"]).exit_code == 0  # accepted: its own now


@pytest.mark.slow
def test_an_unedited_run_resumes_whatever_its_config_holds(runner, tmp_path):
    """What a run stores of its config reads back equal, for every shipped config."""
    for name in ("quickstart", "digits-svc", "breast-cancer-svc", "diabetes-regression",
                 "example"):
        result = runner.invoke(cli, ["run", str(ROOT / "configs" / f"{name}.yaml"), "--trials",
                                     "1", "--jobs", "1", "--name", name, "-q",
                                     "--set", "cv.folds=2"])
        assert result.exit_code == 0, result.output
        resumed = runner.invoke(cli, ["resume", name, "-q"])
        assert resumed.exit_code == 0, (name, resumed.output)


RAY = """\
name: r
objective: {function: "sleepy:evaluate"}
search: {trials: 200, rounds: 1}
parallel: {backend: ray, n_jobs: 2}
space: {x: {uniform: [0, 1]}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("how, code", [("SIGTERM", 143), ("Ctrl-C", 130), ("kill -9", -9)])
def test_a_ray_run_ends_as_a_loky_run_does(tmp_path, how, code):
    """Ray's own SIGTERM handler is put back by hpsearch's, Ctrl-C reaches the whole process
    group as a terminal sends it, and a local instance's processes (store, scheduler, agents)
    die with the driver, however it ends."""
    pytest.importorskip("ray")  # the ray extra: not installed by the test extra (it is large)
    (tmp_path / "sleepy.py").write_text(SLEEPY.replace("2.0", "0.2"))
    (tmp_path / "r.yaml").write_text(RAY)
    driver = subprocess.Popen([PY, "-m", "hpsearch", "run", "r.yaml"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and driver.poll() is None:
        try:
            if len(trials(tmp_path / "runs" / "r")) >= 4:
                break
        except Exception:  # not created yet
            pass
        time.sleep(0.2)
    below = descendants(driver.pid)
    assert below, "a local Ray instance's processes"
    {"SIGTERM": lambda: driver.send_signal(signal.SIGTERM),
     "Ctrl-C": lambda: os.killpg(driver.pid, signal.SIGINT),
     "kill -9": driver.kill}[how]()
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == code, err[-2000:]
    assert all(gone(pid) for pid in below), "a Ray process outlived its driver"
    if code > 0:
        assert "Interrupted: finished trials are stored" in err and "Traceback" not in err
        assert "r: " in out  # the leaderboard of what finished
    assert open_run(tmp_path / "runs" / "r").status == "interrupted"
