"""Devices per trial: each running trial gets its own accelerators through an environment
variable (``CUDA_VISIBLE_DEVICES`` by default).

``parallel.devices`` is cut into slots of ``devices_per_trial``. A slot is taken by holding an OS
lock on its file in the machine's temporary folder, so every process of the machine (loky
workers, threads, a local dask cluster, another run) sees the same free slots, and the lock dies
with the process that holds it: a killed trial never keeps a device.

- A command takes a free slot when it starts and gives it back when it ends; the variable goes
  into the command's environment only.
- A function or an estimator runs inside its worker process, whose environment the trial's code
  (CUDA, PyTorch) reads once: the worker takes a slot with its first trial and keeps it for its
  life, and the variable is set in that process before any trial code runs. With at most one
  worker per slot, two running trials never share a device.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DeviceSlots"]

WAIT = 0.05  # seconds between two looks for a free slot

_pinned: dict[str, tuple[Any, int]] = {}  # per process: the slot a worker keeps, by pool


@dataclass(frozen=True)
class DeviceSlots:
    """The slots of a machine's devices, and the variable that hands them to a trial."""

    slots: tuple[tuple[str, ...], ...]
    variable: str = "CUDA_VISIBLE_DEVICES"

    @classmethod
    def of(cls, devices: list[Any], per_trial: int, variable: str) -> DeviceSlots:
        ids = [str(d) for d in devices]
        return cls(tuple(tuple(ids[i:i + per_trial])
                         for i in range(0, len(ids) - per_trial + 1, per_trial)), variable)

    def _folder(self) -> Path:
        """The lock files of this pool: the same for every process of the machine."""
        key = hashlib.sha256(repr((self.variable, self.slots)).encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"hpsearch-devices-{os.getuid()}" / key
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _take(self) -> tuple[Any, int]:
        """A free slot (waiting for one): its held lock file and its index."""
        import fcntl

        folder = self._folder()
        while True:
            for index in range(len(self.slots)):
                handle = open(folder / f"slot-{index}.lock", "a")  # noqa: SIM115 - held
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return handle, index
                except BlockingIOError:
                    handle.close()
            time.sleep(WAIT)

    def value(self, index: int) -> str:
        return ",".join(self.slots[index])

    @contextlib.contextmanager
    def slot(self) -> Iterator[dict[str, str]]:
        """A free slot while the block runs, as the environment a command gets."""
        handle, index = self._take()
        try:
            yield {self.variable: self.value(index)}
        finally:
            handle.close()  # releases the lock

    def pin(self) -> str:
        """This process's own slot, taken once and kept for the process's life; its variable
        is set in this process's environment. Returns the devices."""
        key = repr((self.variable, self.slots))
        if key not in _pinned:
            _pinned[key] = self._take()
        value = self.value(_pinned[key][1])
        os.environ[self.variable] = value
        return value
