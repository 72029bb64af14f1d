"""Trials → joblib → results, streamed back in the order they finish.

One joblib task is one trial. A trial never raises across the pool: whatever goes wrong in it is
returned as a failed result with its error text, and the search goes on.

Two ways to run a trial inside a worker:

- in the worker itself (the fast path, the default);
- isolated, in a child process of its own (with ``parallel.timeout``, and after a worker has
  died): a trial that kills its process or runs past its time is recorded as crashed or timed
  out, its whole process group is killed, and the other trials are untouched.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hpsearch.errors import InputError
from hpsearch.processes import kill_group, started
from hpsearch.trial import (
    Outcome,
    Status,
    Trial,
    TrialCrashed,
    TrialResult,
    TrialTimedOut,
    result_of_error,
)

__all__ = ["run_trial", "run_trial_isolated", "execute", "backend_context", "check_backend"]

log = logging.getLogger("hpsearch")

# What a backend needs, and the extra that installs it.
BACKEND_EXTRAS = {"dask": ("distributed", "dask"), "ray": ("ray", "ray")}


ANSWER_SECONDS = 3.0  # how long a cluster's address has to answer before a run starts


def check_backend(backend: str, address: str | None = None) -> None:
    """Raise InputError when a backend's package is missing (naming the extra to install), or
    when its cluster's address does not answer within a few seconds."""
    import importlib.util
    import socket
    from urllib.parse import urlsplit

    if backend in BACKEND_EXTRAS:
        module, extra = BACKEND_EXTRAS[backend]
        if importlib.util.find_spec(module) is None:
            raise InputError(f"parallel.backend: {backend} is not installed; install it "
                             f"with: pip install 'hpsearch[{extra}]'")
    if address is None or address == "auto":
        return
    where = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        if where.hostname is None or where.port is None:
            raise ValueError("no host:port")
        socket.create_connection((where.hostname, where.port), timeout=ANSWER_SECONDS).close()
    except (OSError, ValueError) as error:
        reason = "no answer" if isinstance(error, TimeoutError) else \
            getattr(error, "strerror", None) or str(error)
        raise InputError(f"parallel.address: nothing answers at {address} within "
                         f"{ANSWER_SECONDS:g} s ({reason}); check the address, and that the "
                         f"{backend} scheduler runs there") from None


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


def _results(calls: list[tuple[Any, ...]]) -> Iterator[Any]:
    """What each task returns, as each one ends, through the backend in force: joblib's
    unordered generator; on ray, whose joblib backend returns nothing before all is done,
    ray's own tasks, as many in flight as there are workers."""
    from joblib.parallel import get_active_backend

    backend, n_jobs = get_active_backend()
    if type(backend).__name__ == "RayBackend":
        yield from _ray_results(calls, n_jobs)
        return
    from joblib import Parallel, delayed

    yield from Parallel(return_as="generator_unordered")(delayed(_in_worker)(*call)
                                                        for call in calls)


def _ray_results(calls: list[tuple[Any, ...]], n_jobs: int) -> Iterator[Any]:
    import ray

    task = ray.remote(num_cpus=1)(_in_worker)
    todo = iter(calls)
    workers = n_jobs if n_jobs > 0 else max(1, int(ray.cluster_resources().get("CPU", 1)))
    pending = [task.remote(*call) for call in itertools.islice(todo, workers)]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
            pending += [task.remote(*call) for call in itertools.islice(todo, 1)]
    finally:
        for ref in pending:  # interrupted: what still runs stops
            ray.cancel(ref, force=True)


def _in_worker(driver: int, work: Callable[..., Any], *args: Any) -> Any:
    """A task in a worker: it watches its driver (see hpsearch.processes), then works."""
    from hpsearch.processes import watch_driver

    watch_driver(driver)
    return work(*args)


def _child(connection: object, objective: Objective,
           trial: Trial) -> None:
    os.setsid()  # its own process group: a timeout kills whatever the trial started too
    connection.send(run_trial(objective, trial))  # type: ignore[attr-defined]


def run_trial_isolated(objective: Objective, trial: Trial,
                       timeout: float | None = None) -> TrialResult:
    """Run one trial in a child process of its own.

    A child that dies is recorded as crashed (with its exit code or signal); one still running
    after `timeout` seconds is killed with everything it started and recorded as timed out.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    # A fork: nothing to pickle or import again, and it works inside any joblib worker (a
    # forkserver or spawn child would inherit loky's start method and fail). The worker that
    # forks runs no trial itself, so no OpenMP or BLAS pool of its own is copied mid-use.
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, objective, trial), daemon=True)
    start = time.perf_counter()
    process.start()
    sender.close()
    try:
        with started(process.pid or 0):  # stopped with this worker, should the driver go
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
    from hpsearch import population

    try:
        return population.train(objective, trials, size)
    except Exception:
        log.warning("population training failed (%s); running its %d trials one by one",
                    traceback.format_exc().strip().splitlines()[-1], len(trials))
        return [run_trial(objective, t) for t in trials]


def _workers(n_jobs: int) -> int:
    cores = os.cpu_count() or 1
    return cores if n_jobs == -1 else max(1, n_jobs)


def _pool_died(error: BaseException) -> bool:
    """Whether an error from the pool means a worker process died (not a bug of ours)."""
    from concurrent.futures.process import BrokenProcessPool

    names = {"TerminatedWorkerError", "KilledWorker", "WorkerCrashedError", "RayActorError"}
    return isinstance(error, BrokenProcessPool) or type(error).__name__ in names


@dataclass
class Backend:
    """The backend a run's trials are on. `remote`: its workers may run where the run folder
    is not (a dask cluster), so what trials share or print travels through the backend."""

    name: str
    client: Any = None  # dask's

    @property
    def remote(self) -> bool:
        return self.client is not None

    def shared(self, cls: type) -> Any:
        """An instance of `cls` that every worker calls, held by the cluster (a dask actor)."""
        return self.client.submit(cls, actor=True).result()


@contextlib.contextmanager
def backend_context(backend: str, n_jobs: int, address: str | None = None
                    ) -> Iterator[Backend]:
    """The joblib backend for a whole run, set from the outside as joblib asks of libraries:
    `execute` calls inside it share its workers (and, for dask, its cluster)."""
    from joblib import parallel_config

    if backend in ("loky", "threading"):
        with contextlib.ExitStack() as stack:
            if backend == "threading":
                # loky caps each worker's BLAS threads itself; threads share one process, so
                # cap them here so that workers x BLAS threads does not exceed the cores.
                from threadpoolctl import threadpool_limits

                cores = os.cpu_count() or 1
                stack.enter_context(threadpool_limits(max(1, cores // _workers(n_jobs))))
            stack.enter_context(parallel_config(backend=backend, n_jobs=n_jobs))
            yield Backend(backend)
        return
    if backend == "dask":
        from distributed import Client, LocalCluster

        with contextlib.ExitStack() as stack:
            if address:
                client = stack.enter_context(Client(address))
            else:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=_workers(n_jobs), threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=None))
                client = stack.enter_context(Client(cluster))
            log.info("dask cluster: %s", client.dashboard_link or client.scheduler.address)
            stack.enter_context(parallel_config(backend="dask", n_jobs=n_jobs))
            yield Backend(backend, client)
        return
    import ray
    from ray.util.joblib import register_ray

    register_ray()
    ray.init(address=address, num_cpus=None if address else _workers(n_jobs),
             ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    try:
        with parallel_config(backend="ray", n_jobs=n_jobs):
            yield Backend(backend)
    finally:
        ray.shutdown()


def execute(
    objective: Objective,
    trials: Iterable[Trial],
    *,
    n_jobs: int = -1,
    timeout: float | None = None,
    isolate: bool = False,
    in_process: bool = False,
    population: tuple[str | int, float] | None = None,
) -> Generator[TrialResult, None, None]:
    """Results of the trials as each one ends, through the joblib backend in force (see
    `backend_context`).

    Args:
        n_jobs: workers; -1 for all cores. With 1, trials run in this process, as joblib does.
        timeout: seconds per trial; each trial then runs isolated in its own process.
        isolate: run each trial in its own process even without a timeout.
        in_process: run the trials one by one in this process (for --raise debugging).
        population: (auto, off or a size; memory budget in MB): train the built-in network's
            trials as populations, each joblib task one population (see `run_chunk`).
    """
    trials = list(trials)
    isolate = isolate or timeout is not None
    chunks: list[tuple[list[Trial], int]] = []
    if not (isolate or in_process or population is None or not trials):
        from hpsearch.population import plan

        chunks = plan(objective, trials, _workers(n_jobs), *population)  # type: ignore[arg-type]
    if chunks:  # the eligible trials train as populations, the others one by one
        grouped = {t.number for chunk in chunks for t in chunk[0]}
        chunks += [([t], 0) for t in trials if t.number not in grouped]
    if in_process or (not isolate and (n_jobs == 1 or len(chunks or trials) <= 1)):
        for trials_of, size in chunks or [([t], 0) for t in trials]:
            yield from run_chunk(objective, trials_of, size)
        return

    driver = os.getpid()
    calls: list[tuple[Any, ...]]
    if isolate:
        calls = [(driver, run_trial_isolated, objective, t, timeout) for t in trials]
    elif chunks:
        calls = [(driver, run_chunk, objective, trials_of, size) for trials_of, size in chunks]
    else:
        calls = [(driver, run_trial, objective, t) for t in trials]
    done: set[int] = set()
    try:
        for outcome in _results(calls):
            for result in outcome if isinstance(outcome, list) else [outcome]:
                done.add(result.number)
                yield result
        return
    except Exception as error:
        if isolate or not _pool_died(error):
            raise
        # In the order the tasks were handed out: the one that crashed is among the first.
        handed_out = [t for trials_of, _ in chunks for t in trials_of] if chunks else trials
        remaining = [t for t in handed_out if t.number not in done]
        log.warning("a worker process died (%s); the %d trials that were running run again in "
                    "processes of their own", type(error).__name__, min(len(remaining),
                                                                       _workers(n_jobs)))
    yield from _find_the_crash(objective, remaining, n_jobs, population)


def _find_the_crash(objective: Objective, trials: list[Trial], n_jobs: int,
                    population: tuple[str | int, float] | None,
                    ) -> Generator[TrialResult, None, None]:
    """After a worker died: the trials handed out first (those that were running, as many as
    there are workers) run again, each in a process of its own, so that one that crashes again
    is recorded as crashed; the rest go back to the shared workers (and their populations) at
    full speed, whether the crash recurred or not (an out-of-memory kill under load does not).
    Should another worker die, the same happens to the trials left: each time, at least one
    batch is done."""
    step = _workers(n_jobs)
    crashed = False
    for result in execute(objective, trials[:step], n_jobs=n_jobs, isolate=True):
        crashed = crashed or result.status is Status.CRASHED
        yield result
    rest = trials[step:]
    if rest:
        log.warning("%s; the other %d trials go back to the shared workers",
                    "found the trial that crashed" if crashed else
                    "the crash did not recur in a process of its own", len(rest))
        yield from execute(objective, rest, n_jobs=n_jobs, population=population)
