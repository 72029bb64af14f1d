"""A run written for TensorBoard (the optional extra `tensorboard`, with tensorboardX as the
writer): a folder per trial holding its per-epoch score and metrics as scalars, and its params
with its final score in TensorBoard's HParams format, so that `tensorboard --logdir DIR` shows
the learning curves and the parallel-coordinates view of the search.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import InputError
from hpsearch.trial import Status

if TYPE_CHECKING:
    from hpsearch.result import RunResult

__all__ = ["write_tensorboard"]

EVENTS = "events.out.tfevents.*"  # the files a writer makes in a trial's folder


def _writer() -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise InputError("export --format tensorboard needs tensorboardX: pip install "
                         "'hpsearch[tensorboard]' (and tensorboard to look at it)") from None
    return SummaryWriter


def _hparam(value: Any) -> Any:
    """A value as HParams takes it: a number, a string or a bool (lists as text)."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def write_tensorboard(run: RunResult, out: str | Path) -> tuple[Path, int]:
    """Each trial of `run` under out/trial-<number>: its per-epoch `score` and metrics (the
    mean over the folds that reported that epoch) as scalars, and its params with its final
    score (`hparams/score`: the mean over folds, or the score a trial stopped early had
    reached; none for a failed trial) and status. A trial's folder holds this export alone: the
    event files an earlier export left there are replaced. Returns the folder and the trials
    written.

    Raises:
        InputError: tensorboardX is missing, or the folder cannot be written (one line).
    """
    SummaryWriter = _writer()
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return folder, _write(run, folder, SummaryWriter)
    except OSError as error:
        raise InputError(f"--out {out}: cannot write there ({error.strerror or error}); give "
                         "a folder you can write to") from None


def _write(run: RunResult, folder: Path, SummaryWriter: Any) -> int:  # noqa: N803
    from tensorboardX.summary import hparams

    curves = run.curves()
    width = len(str(max((r.number for r in run.results), default=0)))
    written = 0
    for result in sorted(run.results, key=lambda r: r.number):
        if result.status is Status.COMPLETE:
            final = result.mean
        elif result.status is Status.PRUNED and isinstance(result.extra.get("score"),
                                                           (int, float)):
            final = float(result.extra["score"])
        else:
            final = math.nan  # failed: its params still show where the search went
        place = folder / f"trial-{result.number:0{width}d}"
        for earlier in place.glob(EVENTS):
            earlier.unlink()
        with SummaryWriter(str(place)) as writer:
            by_epoch: dict[int, list[dict[str, Any]]] = {}
            for report in curves.get(result.number, []):
                by_epoch.setdefault(int(report["epoch"]), []).append(report)
            for epoch, reports in sorted(by_epoch.items()):
                keys = {k for r in reports for k in r if k not in ("fold", "epoch")}
                for key in sorted(keys):
                    values = [r[key] for r in reports if isinstance(r.get(key), (int, float))
                              and math.isfinite(r[key])]
                    if values:
                        writer.add_scalar(key, statistics.fmean(values), epoch)
            params = {name: _hparam(value) for name, value in result.params.items()}
            params["status"] = result.status.value
            for summary in hparams(params, {"hparams/score": final}):
                writer.file_writer.add_summary(summary)
            if math.isfinite(final):  # a failed trial has no score to draw
                writer.add_scalar("hparams/score", final, 0)
        written += 1
    return written
