"""A dask.distributed cluster (the optional extra `dask`): `parallel.address`, or a local cluster
of `n_jobs` single-threaded processes. The store stays with the driver; what trials share while
they run (early stopping's reports) is held by the cluster itself (an actor), and each trial's
output comes back with its result, so workers never need the run folder."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from hpsearch.execution.executor import Executor
from hpsearch.execution.local import cores

__all__ = ["DaskExecutor"]

log = logging.getLogger("hpsearch")


class DaskExecutor(Executor):
    name = "dask"
    package = "distributed"
    extra = "dask"
    joins_cluster = True
    remote = True

    def __enter__(self) -> DaskExecutor:
        from distributed import Client, LocalCluster

        self._stack = contextlib.ExitStack()
        if self.address:
            self.client = self._stack.enter_context(Client(self.address))
        else:
            cluster = self._stack.enter_context(LocalCluster(
                n_workers=cores(self.n_jobs), threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None))
            self.client = self._stack.enter_context(Client(cluster))
        log.info("dask cluster: %s", self.client.dashboard_link or self.client.scheduler.address)
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._stack.close()

    @property
    def workers(self) -> int:
        if self.n_jobs > 0 or not self.address:
            return cores(self.n_jobs)
        threads = self.client.nthreads()  # a cluster's: every thread of every worker
        return max(1, sum(threads.values()))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def wait(self, futures: Sequence[Any]) -> list[Any]:
        from distributed import wait

        done, _ = wait(list(futures), return_when="FIRST_COMPLETED")
        return list(done)

    def put(self, value: Any) -> Any:
        return self.client.scatter(value, broadcast=True, hash=False)

    def shared(self, cls: type) -> Any:
        return self.client.submit(cls, actor=True).result()

    def died(self, error: BaseException) -> bool:
        return type(error).__name__ == "KilledWorker"
