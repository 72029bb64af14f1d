"""Warm start: an earlier run's trials that fit this run's space, fed to the strategy (and round
1's region) without running them again. The new run keeps them in its store, so that its resume
learns from the same ones. The earlier runs are opened by the caller (`api.run`): a strategy is
handed its history and never reads a store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpsearch.errors import InputError
from hpsearch.space import Space
from hpsearch.trial import Direction, Status, Trial, TrialResult

if TYPE_CHECKING:
    from hpsearch.result import RunResult

__all__ = ["earlier_trials", "history"]


def earlier_trials(earlier: Sequence[RunResult], space: Space, direction: Direction
                   ) -> tuple[list[dict[str, Any]], list[str]]:
    """The trials of earlier runs (search.warm_start's, opened by the caller) that fit this
    run's space (every parameter it searches, with a value its scale gives), as stored in the
    new run (so that a resume uses the same ones), and a line per run saying how many.

    Raises:
        InputError: a run that scores the other way.
    """
    found: list[dict[str, Any]] = []
    lines = []
    for run in earlier:
        if run.direction is not direction:
            raise InputError(f"search.warm_start: {run.name} {run.direction}s its score, "
                             f"this run {direction}s it: their trials do not mix")
        fit = [r for r in run.results if _fits(space, r.params) and
               (r.status is Status.COMPLETE or r.status is Status.PRUNED or r.status.is_failure)]
        found += [{"params": dict(r.params), "status": r.status.value, "scores": list(r.scores),
                   "extra": {"score": r.extra["score"]} if "score" in r.extra else {}}
                  for r in fit]
        lines.append(f"search.warm_start: {len(fit)} of {len(run.results)} trials of "
                     f"{run.name} feed the model (not run again)")
    return found, lines


def _fits(space: Space, params: Mapping[str, Any]) -> bool:
    """Whether a trial's values are a point of the space: each parameter it has there a value
    its scale gives, each fixed one the same."""
    return all((name in params and scale.contains(params[name])) if space.active(name, params)
               else name not in params for name, scale in space.scales.items())


def history(stored: Sequence[Mapping[str, Any]], space: Space) -> list[TrialResult]:
    """A warm start's trials as results of this space, numbered below 0 and in round 0: they
    teach the model and are not this run's."""
    return [TrialResult(Trial(-1 - i, t["params"], space.snap(space.to_unit(t["params"])), 0,
                              round=0), Status(t["status"]), tuple(t["scores"]),
                        extra=t.get("extra") or {}) for i, t in enumerate(stored)]
