"""A Ray cluster (the optional extra `ray`): `parallel.address`, or a local instance of `n_jobs`
CPUs. Trials run as Ray's own tasks, one CPU each, each stored the moment it ends (joblib's Ray
backend returns nothing before all its tasks end)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from hpsearch.execution.executor import Executor
from hpsearch.execution.local import cores
from hpsearch.execution.processes import descendants, guarded

__all__ = ["RayExecutor"]


class RayExecutor(Executor):
    name = "ray"
    package = "ray"
    extra = "ray"
    joins_cluster = True

    def __enter__(self) -> RayExecutor:
        import signal

        import ray

        # ray.init puts its own SIGTERM handler in the place of hpsearch's (which ends a run as
        # Ctrl-C does: exit 143, the leaderboard): give it back
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        before = descendants()
        ray.init(address=self.address, num_cpus=None if self.address else cores(self.n_jobs),
                 ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
        # a local instance's processes (its store, scheduler, agents) die with this process,
        # however it ends, instead of lingering for a minute after a kill -9
        self._guard = guarded("p", descendants() - before)
        self._guard.__enter__()
        self._task = ray.remote(num_cpus=1)(_call)
        self._refs: dict[Any, Any] = {}  # each future's object reference, to cancel it
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        import ray

        ray.shutdown()
        self._guard.__exit__(None, None, None)

    @property
    def workers(self) -> int:
        if self.n_jobs > 0:
            return self.n_jobs
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    @property
    def capacity(self) -> int:
        return self.workers  # Ray queues the rest itself, in no promised order

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        ref = self._task.remote(fn, *args)
        future = ref.future()
        self._refs[future] = ref
        future.add_done_callback(lambda f: self._refs.pop(f, None))
        return future

    def put(self, value: Any) -> Any:
        import ray

        return ray.put(value)

    def died(self, error: BaseException) -> bool:
        return type(error).__name__ in ("WorkerCrashedError", "RayActorError")

    def cancel(self, futures: Sequence[Any]) -> None:
        import ray

        for future in futures:
            ref = self._refs.pop(future, None)
            if ref is not None:
                ray.cancel(ref, force=True)


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """A Ray task: `fn(*args)` (Ray resolves the object references among the arguments)."""
    return fn(*args)
