"""The processes a worker starts for trials (commands, isolated trials), and what stops them.

Each is started in a process group of its own, so that stopping a trial stops everything it
started. A worker process of the driver (loky's) watches its driver: when the driver is gone
(killed with -9, or ended by SIGTERM without stopping its workers), the worker stops the groups
it started and exits within a second, instead of finishing trials nobody will record.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

__all__ = ["started", "kill_group", "watch_driver"]

WATCH_SECONDS = 0.5  # how often a worker looks for its driver

_groups: set[int] = set()  # the process groups this process started and has not reaped
_lock = threading.Lock()
_watched: int | None = None  # the driver this process watches


@contextlib.contextmanager
def started(pid: int) -> Iterator[None]:
    """While the block runs, the process group `pid` (a command or an isolated trial, started
    in a session of its own) is stopped with this worker should its driver disappear."""
    with _lock:
        _groups.add(pid)
    try:
        yield
    finally:
        with _lock:
            _groups.discard(pid)


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
    with _lock:
        for group in _groups:
            kill_group(group)
    os._exit(1)
