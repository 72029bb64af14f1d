"""Executors on this machine: processes (loky, the default), threads, or the driver itself."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any

from hpsearch.execution.executor import Executor

__all__ = ["LokyExecutor", "ThreadingExecutor", "InProcessExecutor", "cores"]

IDLE_SECONDS = 300  # loky's workers outlive a run by this much, for the next one (a notebook)


def cores(n_jobs: int) -> int:
    """The workers n_jobs asks for on this machine: -1 for every core it may use."""
    from joblib import cpu_count

    return cpu_count() if n_jobs == -1 else max(1, n_jobs)


class LokyExecutor(Executor):
    """Worker processes (joblib's loky pool): each trial's BLAS and OpenMP threads are capped so
    that workers × threads does not exceed the cores, and large arrays given to tasks (data
    from a notebook) are memory-mapped, not copied, as joblib does."""

    name = "loky"

    @property
    def workers(self) -> int:
        return cores(self.n_jobs)

    def _pool(self) -> Any:
        """joblib's reusable pool: the same one until a worker dies, then a new one."""
        import os

        from joblib.executor import get_memmapping_executor
        from joblib.parallel import ParallelBackendBase

        threads = str(max(1, cores(-1) // self.workers))
        env = {name: os.environ.get(name, threads)
               for name in ParallelBackendBase.MAX_NUM_THREADS_VARS}
        env.setdefault(ParallelBackendBase.TBB_ENABLE_IPC_VAR,
                       os.environ.get(ParallelBackendBase.TBB_ENABLE_IPC_VAR, "1"))
        return get_memmapping_executor(self.workers, timeout=IDLE_SECONDS, env=env)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._pool().submit(fn, *args)

    def died(self, error: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(error, BrokenProcessPool) or \
            type(error).__name__ == "TerminatedWorkerError"

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:  # interrupted: the workers and all they started stop now
            self._pool().terminate(kill_workers=True)


class ThreadingExecutor(Executor):
    """Threads of the driver's process: for objectives that release the GIL, or commands. BLAS
    threads are capped so that workers × threads does not exceed the cores."""

    name = "threading"
    one_process = True

    @property
    def workers(self) -> int:
        return cores(self.n_jobs)

    def __enter__(self) -> ThreadingExecutor:
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(max(1, cores(-1) // self.workers))
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers,
                                                           thread_name_prefix="hpsearch")
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._pool.shutdown(wait=kind is None, cancel_futures=True)
        self._limits.restore_original_limits()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._pool.submit(fn, *args)


class InProcessExecutor(Executor):
    """The driver itself, one task at a time, each run when it is waited for (so a debugging
    run stops at the first failure before starting the next): one worker, as joblib runs
    n_jobs=1."""

    name = "in-process"
    one_process = True

    def __init__(self, n_jobs: int = 1, address: str | None = None) -> None:
        super().__init__(1, address)
        self._calls: dict[concurrent.futures.Future[Any], tuple[Any, ...]] = {}

    @property
    def workers(self) -> int:
        return 1

    @property
    def capacity(self) -> int:
        return 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls[future] = (fn, *args)
        return future

    def wait(self, futures: Sequence[Any]) -> list[Any]:
        done = [f for f in futures if f.done()]
        if done:
            return done
        future = next(f for f in futures if f in self._calls)
        fn, *args = self._calls.pop(future)
        try:
            future.set_result(fn(*args))
        except Exception as error:
            future.set_exception(error)
        return [future]

    def cancel(self, futures: Sequence[Any]) -> None:
        for future in futures:
            self._calls.pop(future, None)
            future.cancel()
