"""Trials → joblib → results, streamed back in the order they finish.

One joblib task is one trial. A trial never raises across the pool: whatever goes wrong in it is
returned as a failed result with its error text, and the search goes on.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator

from hpsearch.trial import Status, Trial, TrialResult

__all__ = ["run_trial", "execute", "error_summary"]


def run_trial(objective: Callable[[Trial], tuple[float, ...]], trial: Trial) -> TrialResult:
    """Run one trial in this process; any exception becomes a failed result."""
    start = time.perf_counter()
    try:
        scores = objective(trial)
    except Exception as error:
        from hpsearch.objective import CommandFailed

        text = f"{type(error).__name__}: {error}" if isinstance(error, CommandFailed) \
            else traceback.format_exc()
        return TrialResult(trial, Status.FAILED, (), time.perf_counter() - start, text.strip())
    return TrialResult(trial, Status.COMPLETE, scores, time.perf_counter() - start)


def error_summary(error: str | None) -> str:
    """One line of an error text: a traceback's final line, or a reason's first."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def _workers(n_jobs: int) -> int:
    cores = os.cpu_count() or 1
    return cores if n_jobs == -1 else max(1, n_jobs)


def execute(
    objective: Callable[[Trial], tuple[float, ...]],
    trials: Iterable[Trial],
    *,
    n_jobs: int = -1,
    backend: str = "loky",
    in_process: bool = False,
) -> Iterator[TrialResult]:
    """Results of the trials as each one ends.

    Args:
        n_jobs: workers; -1 for all cores.
        backend: a joblib backend name, applied through ``parallel_config`` (the call itself
            names none, as joblib asks of libraries).
        in_process: run the trials one by one in this process (for --raise debugging).
    """
    trials = list(trials)
    if in_process or _workers(n_jobs) == 1 or len(trials) <= 1:
        for trial in trials:
            yield run_trial(objective, trial)
        return

    from joblib import Parallel, delayed, parallel_config

    with contextlib.ExitStack() as stack:
        if backend == "threading":
            # loky caps each worker's BLAS threads itself; threads share one process, so cap
            # them here so that workers x BLAS threads does not exceed the cores.
            from threadpoolctl import threadpool_limits

            cores = os.cpu_count() or 1
            stack.enter_context(threadpool_limits(max(1, cores // _workers(n_jobs))))
        stack.enter_context(parallel_config(backend=backend, n_jobs=n_jobs))
        parallel = Parallel(return_as="generator_unordered")
        yield from parallel(delayed(run_trial)(objective, trial) for trial in trials)
