"""Trials on an executor: each result handed back the moment its trial ends.

One task is one trial, or one population of the built-in network's trials that train together.
A trial never raises across the pool: whatever goes wrong in it is returned as a failed result
with its error text, and the search goes on.

Two ways to run a trial inside a worker:

- in the worker itself (the fast path, the default);
- isolated, in a child process of its own (with ``parallel.timeout``, and after a worker has
  died): a trial that kills its process or runs past its time is recorded as crashed or timed
  out, its whole process group is killed, and the other trials are untouched.

When a worker dies (a trial that kills its process, the out-of-memory killer), the trials that
were running when it died, the first ones handed out, one per worker, run again, each in a
process of its own, so that one that crashes again is recorded as crashed; the others then go
back to the shared workers (and their populations) at full speed, whether the crash recurred or
not. Should another worker die, the same happens to the trials left: no trial is lost or run
twice to the end.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpsearch.execution.executor import Executor
from hpsearch.execution.processes import forked, forking, kill_group, started, watch_driver
from hpsearch.trial import (
    Outcome,
    Status,
    Trial,
    TrialCrashed,
    TrialResult,
    TrialTimedOut,
    result_of_error,
)

__all__ = ["run_trial", "run_trial_isolated", "run_chunk", "TrialRunner"]

log = logging.getLogger("hpsearch")

Objective = Callable[[Trial], TrialResult | Outcome | tuple[float, ...]]


def run_trial(objective: Objective, trial: Trial) -> TrialResult:
    """Run one trial in this process; any exception becomes a failed result.

    The objective returns the TrialResult (hpsearch's objectives), an Outcome, or just its fold
    scores.
    """
    start = time.perf_counter()
    try:
        outcome = objective(trial)
    except Exception as error:
        return result_of_error(trial, error, time.perf_counter() - start)
    if isinstance(outcome, TrialResult):
        return outcome
    if not isinstance(outcome, Outcome):
        outcome = Outcome(tuple(outcome))
    return TrialResult(trial, Status.COMPLETE, outcome.scores, time.perf_counter() - start,
                       extra=outcome.extra)


def _in_worker(driver: int, folder: str | None, work: Callable[..., Any], *args: Any) -> Any:
    """A task in a worker: it watches its driver (see `processes.watch_driver`), and works in the
    driver's current folder (a pool's workers outlive a run, and a notebook may change folders
    between runs)."""
    watch_driver(driver)
    if folder is not None and folder != os.getcwd() and os.path.isdir(folder):
        os.chdir(folder)
    return work(*args)


def _child(connection: Any, go: Any, parent: int, objective: Objective,
           trial: Trial) -> None:
    os.setsid()  # its own process group: a timeout kills whatever the trial started too
    forked()
    # Start once the parent's guard knows this process group, which then dies with the
    # parent; a parent killed before that (kill -9 of the driver) leaves it to end itself.
    while not go.poll(0.05):
        if os.getppid() != parent:
            os._exit(1)
    try:
        go.recv()
    except EOFError:  # the parent is gone
        os._exit(1)
    connection.send(run_trial(objective, trial))


def run_trial_isolated(objective: Objective, trial: Trial,
                       timeout: float | None = None) -> TrialResult:
    """Run one trial in a child process of its own.

    A child that dies is recorded as crashed (with its exit code or signal); one still running
    after `timeout` seconds is killed with everything it started and recorded as timed out.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    # A fork: nothing to pickle or import again, and it works inside any worker process (a
    # forkserver or spawn child would inherit loky's start method and fail). The worker that
    # forks runs no trial itself, so no OpenMP or BLAS pool of its own is copied mid-use.
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    go, start_it = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, go, os.getpid(), objective, trial),
                              daemon=True)
    start = time.perf_counter()
    with forking():
        process.start()
    sender.close()
    go.close()
    try:
        with started(process.pid or 0):  # stopped with this worker, should the driver go
            with contextlib.suppress(OSError):  # a child that died at once is told nothing
                start_it.send(True)
            ready = wait([receiver, process.sentinel], timeout)
        if receiver.poll():
            try:
                result: TrialResult = receiver.recv()
                return result
            except EOFError:
                pass
        elapsed = time.perf_counter() - start
        if not ready:  # past its time
            _kill_group(process.pid)
            return result_of_error(trial, TrialTimedOut(
                f"timed out after {timeout:g} s (parallel.timeout); its processes were killed"),
                elapsed)
        process.join()
        return result_of_error(trial, TrialCrashed(_death(process.exitcode)), elapsed)
    finally:
        if process.is_alive():  # interrupted while waiting
            _kill_group(process.pid)
        receiver.close()
        start_it.close()


def _kill_group(pid: int | None) -> None:
    if pid is None:
        return
    kill_group(pid)
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.waitpid(pid, 0)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"crashed: the trial's process was killed by {name}{hint}"
    return f"crashed: the trial's process exited with code {exitcode} before returning a score"


def run_chunk(objective: Any, trials: list[Trial], size: int) -> list[TrialResult]:
    """Trials as one population of at most `size` members (0: one by one). Should the
    population code itself fail, the trials run one by one, so none is lost."""
    if size == 0 or len(trials) == 0:
        return [run_trial(objective, t) for t in trials]
    from hpsearch.execution import population

    try:
        return population.train(objective, trials, size)
    except Exception:
        log.warning("population training failed (%s); running its %d trials one by one",
                    traceback.format_exc().strip().splitlines()[-1], len(trials))
        return [run_trial(objective, t) for t in trials]


@dataclass
class _Task:
    """Trials handed out as one task: `order` is when it was handed out."""

    order: int
    trials: list[Trial]
    size: int = 0  # population size (0: one by one)
    isolated: bool = False


@dataclass
class _Recovery:
    """After a worker died: the tasks it took down, and the trials held back until the first
    ones have run again in processes of their own."""

    error: str  # what the executor said
    dead: list[_Task] = field(default_factory=list)
    isolating: set[int] = field(default_factory=set)  # their tasks' orders
    held: list[Trial] = field(default_factory=list)
    crashed: bool = False


class TrialRunner:
    """Runs trials on an executor, at most `executor.capacity` tasks handed out at a time:
    `submit` queues trials, `next_result` waits for the next one to end.

    Args:
        timeout: seconds per trial; each trial then runs isolated in its own process.
        population: (auto, off or a size; memory budget in MB): train the built-in network's
            trials as populations, each task one population (see `population.plan`).
    """

    def __init__(self, executor: Executor, objective: Objective, *,
                 timeout: float | None = None,
                 population: tuple[str | int, float] | None = None) -> None:
        self.executor, self.timeout, self.population = executor, timeout, population
        self.objective = objective
        self._shared: Any = None  # the objective as the executor's tasks take it
        self._queue: list[_Task] = []
        self._running: dict[Any, _Task] = {}
        self._ended: collections.deque[TrialResult] = collections.deque()
        self._handed_out = 0
        self._recovery: _Recovery | None = None

    @property
    def busy(self) -> bool:
        """Whether a submitted trial's result has not been handed back yet."""
        return bool(self._queue or self._running or self._recovery or self._ended)

    def submit(self, trials: Sequence[Trial]) -> None:
        """Queue trials: with a timeout each isolated, else as populations where they can
        train as one (the others one by one)."""
        trials = list(trials)
        if self.timeout is not None:
            self._add([([t], 0) for t in trials], isolated=True)
            return
        chunks: list[tuple[list[Trial], int]] = []
        if self.population is not None and trials:
            from hpsearch.execution.population import plan

            chunks = plan(self.objective, trials, self.executor.workers,  # type: ignore[arg-type]
                          *self.population)
        grouped = {t.number for chunk, _ in chunks for t in chunk}
        self._add(chunks + [([t], 0) for t in trials if t.number not in grouped])

    def _add(self, chunks: list[tuple[list[Trial], int]], isolated: bool = False) -> None:
        for trials, size in chunks:
            self._queue.append(_Task(self._handed_out, trials, size, isolated))
            self._handed_out += 1

    def next_result(self) -> TrialResult:
        """The next trial to end (waiting for it).

        Raises:
            RuntimeError: when no submitted trial is left to wait for.
        """
        while not self._ended:
            if not (self._queue or self._running):
                raise RuntimeError("no trial is running or queued")
            self._dispatch()
            for future in sorted(self.executor.wait(list(self._running)),
                                 key=lambda f: self._running[f].order):
                task = self._running.pop(future)
                try:
                    outcome = self.executor.result(future)
                except Exception as error:
                    if task.isolated or not self.executor.died(error):
                        raise
                    self._worker_died(task, error)
                    continue
                results = outcome if isinstance(outcome, list) else [outcome]
                if self._recovery is not None and task.order in self._recovery.isolating:
                    self._recovery.crashed |= any(r.status is Status.CRASHED for r in results)
                    self._recovery.isolating.discard(task.order)
                self._ended.extend(results)
            self._recover()
        return self._ended.popleft()

    def results(self) -> Iterator[TrialResult]:
        """Each submitted trial's result as it ends, until none is left."""
        while self.busy:
            yield self.next_result()

    def _dispatch(self) -> None:
        """Hand out queued tasks while the executor has room (none while a worker's death is
        being sorted out)."""
        if self._shared is None:
            self._shared = self.executor.put(self.objective)
        driver, folder = os.getpid(), None if self.executor.remote else os.getcwd()
        while self._queue and len(self._running) < self.executor.capacity:
            if self._recovery is not None and self._recovery.dead:
                break
            task = self._queue.pop(0)
            call: tuple[Any, ...]
            if task.isolated:
                call = (run_trial_isolated, self._shared, task.trials[0], self.timeout)
            elif task.size:
                call = (run_chunk, self._shared, task.trials, task.size)
            else:
                call = (run_trial, self._shared, task.trials[0])
            self._running[self.executor.submit(_in_worker, driver, folder, *call)] = task

    def _worker_died(self, task: _Task, error: BaseException) -> None:
        if self._recovery is None:
            self._recovery = _Recovery(type(error).__name__)
        self._recovery.dead.append(task)

    def _recover(self) -> None:
        """Once every task a dead worker took down has come back: the first trials handed out
        (those that were running, as many as there are workers) run again, each in a process
        of its own; the rest wait until they have, then go back to the shared workers."""
        recovery = self._recovery
        if recovery is None or self._running:
            return
        if recovery.dead:
            tasks = sorted(recovery.dead + self._queue, key=lambda t: t.order)
            trials = [t for task in tasks for t in task.trials]
            self._queue, recovery.dead = [], []
            step = self.executor.workers
            log.warning("a worker process died (%s); the %d trials that were running run again "
                        "in processes of their own", recovery.error, min(len(trials), step))
            self._add([([t], 0) for t in trials[:step]], isolated=True)
            recovery.isolating = {task.order for task in self._queue}
            recovery.held = trials[step:]
        elif not recovery.isolating:
            self._recovery = None
            if recovery.held:
                log.warning("%s; the other %d trials go back to the shared workers",
                            "found the trial that crashed" if recovery.crashed else
                            "the crash did not recur in a process of its own",
                            len(recovery.held))
                self.submit(recovery.held)

    def close(self) -> None:
        """Stop what was handed out (the run is interrupted)."""
        self.executor.cancel(list(self._running))
        self._running.clear()
        self._queue.clear()
