"""The executor protocol: where trials run.

An executor is a pool of workers for the length of a run (one pool for all its rounds): it takes
tasks (`submit`), says which have ended (`wait`) and hands back what each returned (`result`).
It knows how many `workers` it has, whether they may run where the run folder is not (`remote`:
then what trials share or print travels through the executor), how to hold one object that every
worker calls (`shared`: early stopping's scoreboard on a cluster), and which errors mean that a
worker died (`died`) rather than that a task failed. Each `parallel.backend` is one subclass,
registered by its `name` in `hpsearch.execution.EXECUTORS`, which the config's choices, the
extras to install and ``--backend`` are read from.

Executors know nothing of trials: `hpsearch.execution.trials.TrialRunner` hands them tasks.
"""

from __future__ import annotations

import abc
import concurrent.futures
import importlib.util
import socket
from collections.abc import Callable, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from hpsearch.errors import InputError

__all__ = ["Executor", "ANSWER_SECONDS"]

ANSWER_SECONDS = 3.0  # how long a cluster's address has to answer before a run starts


class Executor(abc.ABC):
    """A pool of workers for one run; see the module's docstring.

    Args:
        n_jobs: workers; -1 for all of them (the cores here, or a cluster's threads).
        address: the cluster to join (executors that `joins_cluster`), or None for a local one.
    """

    name: ClassVar[str]  # its parallel.backend spelling
    package: ClassVar[str | None] = None  # the package it needs, when not a core dependency
    extra: ClassVar[str | None] = None  # the extra that installs it: pip install 'hpsearch[..]'
    joins_cluster: ClassVar[bool] = False  # takes parallel.address
    one_process: ClassVar[bool] = False  # its workers are threads of the driver's process
    remote: bool = False  # its workers may run where the run folder is not

    def __init__(self, n_jobs: int = -1, address: str | None = None) -> None:
        self.n_jobs = n_jobs
        self.address = address

    @classmethod
    def check(cls, address: str | None = None) -> None:
        """Raise InputError when what it needs is not installed (naming the extra), or when its
        cluster's address does not answer within ANSWER_SECONDS."""
        if cls.package is not None and importlib.util.find_spec(cls.package) is None:
            raise InputError(f"parallel.backend: {cls.name} is not installed; install it with: "
                             f"pip install 'hpsearch[{cls.extra}]'")
        if address is None or address == "auto":
            return
        where = urlsplit(address if "://" in address else f"tcp://{address}")
        try:
            if where.hostname is None or where.port is None:
                raise ValueError("no host:port")
            socket.create_connection((where.hostname, where.port),
                                     timeout=ANSWER_SECONDS).close()
        except (OSError, ValueError) as error:
            reason = "no answer" if isinstance(error, TimeoutError) else \
                getattr(error, "strerror", None) or str(error)
            raise InputError(f"parallel.address: nothing answers at {address} within "
                             f"{ANSWER_SECONDS:g} s ({reason}); check the address, and that the "
                             f"{cls.name} scheduler runs there") from None

    # -- its life: entered for a run, left when the run ends (interrupted or not)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:  # noqa: B027
        """Stopped; when the run was interrupted (or failed), whatever still runs is killed."""

    @property
    @abc.abstractmethod
    def workers(self) -> int:
        """How many tasks run at once."""

    @property
    def capacity(self) -> int:
        """How many tasks to keep handed out: a queued one per worker hides the round trip
        between a task's end and the next one's start."""
        return 2 * self.workers

    # -- tasks

    @abc.abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start `fn(*args)` on a worker; a future of what it returns."""

    def wait(self, futures: Sequence[Any]) -> list[Any]:
        """Block until at least one of the futures has ended; those that have."""
        done, _ = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_COMPLETED)
        return list(done)

    def result(self, future: Any) -> Any:
        """What an ended task returned; its exception raised."""
        return future.result()

    def put(self, value: Any) -> Any:
        """`value` as tasks should be given it: sent once to a cluster, not with every task."""
        return value

    def shared(self, cls: type) -> Any:
        """An instance of `cls` that every worker calls, wherever it runs (remote executors)."""
        raise NotImplementedError(f"{self.name} workers share through the run folder")

    def died(self, error: BaseException) -> bool:
        """Whether a task's error means its worker process died (not a bug of the task)."""
        return False

    def cancel(self, futures: Sequence[Any]) -> None:
        """Stop tasks (the run is interrupted)."""
        for future in futures:
            future.cancel()
