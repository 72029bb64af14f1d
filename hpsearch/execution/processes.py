"""The processes trials start (commands, isolated trials), and what stops them.

Each is started in a process group of its own, so that stopping a trial stops everything it
started. Whatever process starts such a group (the driver itself with one worker or threads, a
worker of the pool, a dask worker) tells its *guard*: a small process of its own that it starts
with its first group, connected by a pipe. When the process that started the groups is gone,
however it ended (kill -9 included: the system closes its end of the pipe), the guard kills every
group still running and exits. So no trial outlives what ran it, at any worker count.

A worker process of the driver (loky's) also watches its driver: when the driver is gone, the
worker exits within a second (its guard then stops its groups), instead of finishing trials
nobody will record.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator

__all__ = ["started", "guarded", "descendants", "kill_group", "watch_driver", "forked",
           "forking"]

WATCH_SECONDS = 0.5  # how often a worker looks for its driver

# The guard: told "+g PID" when a process group starts and "-g PID" when it is reaped ("+p" and
# "-p" for a single process); at the end of its input (the process it guards is gone), it kills
# what it was not told is gone.
_GUARD = """
import os, signal, sys
kill = {"g": os.killpg, "p": os.kill}
alive = set()
for line in sys.stdin:
    try:
        sign, kind, pid = line[0], line[1], int(line[3:])
        (alive.add if sign == "+" else alive.discard)((kind, pid))
    except (IndexError, ValueError):
        continue
for kind, pid in alive:
    try:
        kill[kind](pid, signal.SIGKILL)
    except (KeyError, OSError):
        pass
"""

_lock = threading.Lock()
_guard: int | None = None  # the write end of the pipe to this process's guard, once started
_watched: int | None = None  # the driver this process watches


def _start_guard() -> None:
    """This process's guard, started if it is not (with _lock held)."""
    global _guard
    if _guard is None:
        read, write = os.pipe()
        subprocess.Popen([sys.executable, "-I", "-S", "-c", _GUARD], stdin=read,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        os.close(read)
        _guard = write


def _tell_guard(line: str) -> None:
    """One line to this process's guard (started with the first); a write of a few bytes to a
    pipe is atomic, so lines from several threads never mix."""
    global _guard
    with _lock:
        for _ in range(2):  # a guard that died is replaced once
            _start_guard()
            assert _guard is not None
            try:
                os.write(_guard, (line + "\n").encode())
                return
            except OSError:
                os.close(_guard)
                _guard = None


@contextlib.contextmanager
def forking() -> Iterator[None]:
    """Around a fork: the guard is started before it, and no other thread starts one (a
    `subprocess.Popen`, whose pipe the forked child would inherit, holding the Popen until
    the child ends) while it happens."""
    with _lock:
        _start_guard()
        yield


@contextlib.contextmanager
def started(pid: int) -> Iterator[None]:
    """While the block runs, the process group `pid` (a command or an isolated trial, started
    in a session of its own) is killed should this process be gone before the block ends."""
    with guarded("g", [pid]):
        yield


@contextlib.contextmanager
def guarded(kind: str, pids: Collection[int]) -> Iterator[None]:
    """While the block runs, the process groups (kind "g") or processes ("p") are killed should
    this process be gone before the block ends."""
    pids = [pid for pid in pids if pid > 0]
    for pid in pids:
        _tell_guard(f"+{kind} {pid}")
    try:
        yield
    finally:
        for pid in pids:
            _tell_guard(f"-{kind} {pid}")


def descendants() -> set[int]:
    """The processes below this one: its children, theirs, and so on (from /proc; none where
    there is no /proc)."""
    parents: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                        parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        parent = todo.pop()
        below = {pid for pid, ppid in parents.items() if ppid == parent} - found
        found |= below
        todo += below
    return found


def forked() -> None:
    """In a child forked from a process with a guard: let go of the parent's guard (the pipe
    must close when the parent ends, not when this child does); the child gets its own."""
    global _guard, _lock
    _lock = threading.Lock()  # another thread may have held it when the fork happened
    if _guard is not None:
        os.close(_guard)
        _guard = None


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def watch_driver(driver: int) -> None:
    """In a worker process the driver started (its child: loky's workers), watch the driver
    from a thread, once per process; elsewhere (the driver itself, threads, a dask worker on
    another machine, whose parent is not the driver) do nothing."""
    global _watched
    if _watched == driver or os.getpid() == driver or os.getppid() != driver:
        return
    _watched = driver
    threading.Thread(target=_watch, args=(driver,), name="hpsearch-driver-watch",
                     daemon=True).start()


def _watch(driver: int) -> None:
    while os.getppid() == driver:  # an orphan is adopted by another process
        time.sleep(WATCH_SECONDS)
    os._exit(1)  # its guard kills the groups it started
