"""A Ray cluster (the optional extra `ray`): `parallel.address`, or a local instance of `n_jobs`
CPUs. Trials run as Ray's own tasks, one CPU each, each stored the moment it ends (joblib's Ray
backend returns nothing before all its tasks end)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hpsearch.execution.executor import Executor
from hpsearch.execution.local import cores

__all__ = ["RayExecutor"]


class RayExecutor(Executor):
    name = "ray"
    package = "ray"
    extra = "ray"
    joins_cluster = True

    def __enter__(self) -> RayExecutor:
        import ray

        ray.init(address=self.address, num_cpus=None if self.address else cores(self.n_jobs),
                 ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
        self._task = ray.remote(num_cpus=1)(_call)
        self._refs: dict[Any, Any] = {}  # each future's object reference, to cancel it
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        import ray

        ray.shutdown()

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
