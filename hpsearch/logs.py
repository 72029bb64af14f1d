"""Each trial's output, kept bounded in ``runs/<name>/logs/<trial>.log``.

A log holds all of a trial's output up to `LIMIT` bytes; beyond it, the first `HEAD` bytes and the
latest output, with one line in between that says which bytes were left out (so a trial that
prints megabytes never fills the disk, and the end of its output, where errors are, is kept).
The writer appends as the trial prints, so ``hpsearch logs RUN TRIAL --follow`` shows it live;
`follow` reads across the moment the file is cut.

While a trial runs, Python-level prints and warnings of in-process objectives (functions,
estimators) are routed to its log by `capture`, thread by thread, so a progress bar drawn by
another thread of the same process never lands in a trial's log.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["TrialLog", "capture", "follow", "LIMIT", "HEAD"]

LIMIT = 1 << 20  # bytes a log may grow to before it is cut
HEAD = 1 << 16  # bytes of the start always kept
_MARK = re.compile(rb"\n\[hpsearch: output bytes (\d+) to (\d+) left out\]\n")


class TrialLog:
    """A trial's log: a file when `path` is given (appended as the trial prints), else a bounded
    text returned by `close` (for workers that cannot write the run folder)."""

    def __init__(self, path: Path | None, limit: int = LIMIT, head: int = HEAD) -> None:
        self.path, self.limit, self.head = path, limit, head
        self.written = 0  # bytes of output so far, kept or not
        self._lock = threading.Lock()
        self._memory = bytearray()
        self._file: Any = None  # opened at the first write: a silent trial leaves no file
        self._size = 0  # of the file

    def write(self, text: str | bytes) -> None:
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        if not data:
            return
        with self._lock:
            self.written += len(data)
            if self._file is None and self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "wb")  # noqa: SIM115 - held while the trial runs
            if self._file is None:
                self._memory += data
                if len(self._memory) > self.limit:
                    self._memory = self._cut(bytes(self._memory))
                return
            self._file.write(data)
            self._file.flush()  # a follower sees each line as it comes
            self._size += len(data)
            if self._size > self.limit:
                self._cut_file()

    def _cut(self, data: bytes) -> bytearray:
        """The first `head` bytes, a line naming what is left out, and the latest bytes."""
        start = _MARK.search(data)
        head = data[:start.start()] if start is not None else data[:self.head]
        keep = self.limit // 2
        left_from = int(start.group(1)) if start is not None else len(head)
        left_to = self.written - keep
        mark = f"\n[hpsearch: output bytes {left_from} to {left_to} left out]\n".encode()
        return bytearray(head + mark + data[-keep:])

    def _cut_file(self) -> None:
        assert self.path is not None
        self._file.close()
        data = self._cut(self.path.read_bytes())
        self._size = len(data)
        cut = self.path.with_name(self.path.name + ".cut")
        cut.write_bytes(data)
        os.replace(cut, self.path)  # a reader sees the whole old file or the whole new one
        self._file = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> str | None:
        """Done: the text of an in-memory log that anything was written to (else None)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            if self.path is not None or not self._memory:
                return None
            return self._memory.decode("utf-8", "replace")


class _Router(io.TextIOBase):
    """sys.stdout or sys.stderr, sending what a capturing thread prints to its trial's log and
    everything else where it went before."""

    def __init__(self, original: TextIO) -> None:
        self.original = original
        self.targets: dict[int, TrialLog] = {}

    def write(self, text: str) -> int:
        log = self.targets.get(threading.get_ident())
        if log is None:
            return self.original.write(text)
        log.write(text)
        return len(text)

    def flush(self) -> None:
        if threading.get_ident() not in self.targets:
            self.original.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ...
        return getattr(self.original, name)


_routers: dict[str, _Router] = {}
_install = threading.Lock()
_show: Callable[..., None] | None = None


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    log = _routers["stderr"].targets.get(threading.get_ident())
    if log is None:
        assert _show is not None
        _show(message, category, filename, lineno, file, line)
    else:
        log.write(warnings.formatwarning(message, category, filename, lineno, line))


@contextlib.contextmanager
def capture(log: TrialLog) -> Iterator[None]:
    """While the block runs, this thread's prints (stdout, stderr) and warnings go to `log`."""
    global _show
    with _install:
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if not isinstance(current, _Router):
                _routers[name] = _Router(current)
                setattr(sys, name, _routers[name])
        if warnings.showwarning is not _show_warning:
            _show, warnings.showwarning = warnings.showwarning, _show_warning
    me = threading.get_ident()
    for router in _routers.values():
        router.targets[me] = log
    try:
        yield
    finally:
        for router in _routers.values():
            router.targets.pop(me, None)


def follow(path: Path, done: Callable[[], bool], out: Callable[[bytes], None],
           poll: float = 0.25) -> None:
    """Print a log as it grows until `done()` says its trial ended, across the moments the file
    is cut: the line a cut leaves says which bytes of the output are gone, so printing goes on
    right after what was printed before (or, when that part is gone, at the gap's own line)."""
    printed = 0  # bytes of the trial's output printed so far
    while True:
        finished = done()  # asked first: what the file holds then is all there will be
        data = path.read_bytes() if path.exists() else b""
        mark = _MARK.search(data)
        if mark is None:
            out(data[printed:])
            printed = max(printed, len(data))
        else:
            head_end, tail_from = int(mark.group(1)), int(mark.group(2))
            if printed < head_end:
                start = printed
            elif printed < tail_from:
                start = mark.start()
            else:
                start = mark.end() + printed - tail_from
            out(data[start:])
            printed = tail_from + len(data) - mark.end()
        if finished:
            return
        time.sleep(poll)
