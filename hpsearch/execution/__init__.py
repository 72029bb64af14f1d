"""Where trials run and how: the executors (one per `parallel.backend`, behind `Executor`), the
runner that hands them trials and recovers from a dead worker (`trials`), populations of the
built-in network (`population`), and what a worker needs around a trial: its processes
(`processes`) and devices (`devices`).

`EXECUTORS` is the one registry of backends: the config's choices, ``--backend`` and the extras
to install are all read from it. Adding a launcher (Slurm, Kubernetes) is one `Executor` subclass
and one line here.
"""

from __future__ import annotations

from hpsearch.execution.dask import DaskExecutor
from hpsearch.execution.executor import Executor
from hpsearch.execution.local import InProcessExecutor, LokyExecutor, ThreadingExecutor
from hpsearch.execution.ray import RayExecutor

__all__ = ["Executor", "EXECUTORS", "executor_for"]

EXECUTORS: dict[str, type[Executor]] = {
    e.name: e for e in (LokyExecutor, ThreadingExecutor, DaskExecutor, RayExecutor)
}


def executor_for(backend: str, n_jobs: int, address: str | None = None, *,
                 in_process: bool = False) -> Executor:
    """The executor of a run: the backend's, or the driver itself for one worker on this
    machine (as joblib runs n_jobs=1) or a debugging run (`in_process`)."""
    cls = EXECUTORS[backend]
    if in_process or (n_jobs == 1 and not cls.joins_cluster):
        return InProcessExecutor()
    return cls(n_jobs, address)
