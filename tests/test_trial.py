"""Which score is better, how results rank, and a run's results grown one at a time."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hpsearch.errors import CommandFailed, TrialPruned
from hpsearch.result import RunResult
from hpsearch.space import Space
from hpsearch.trial import (
    Direction,
    Status,
    Trial,
    TrialCrashed,
    TrialResult,
    TrialTimedOut,
    ranked,
    result_of_error,
)

MAX, MIN = Direction.MAXIMIZE, Direction.MINIMIZE


def test_direction_knows_which_score_is_better():
    assert MAX.better(0.9, 0.8) and not MAX.better(0.8, 0.9) and not MAX.better(0.8, 0.8)
    assert MIN.better(0.1, 0.2) and not MIN.better(0.2, 0.1)
    assert MAX.best([0.2, 0.9, 0.5]) == 0.9 and MIN.best([0.2, 0.9, 0.5]) == 0.2
    assert list(MIN.gain(np.array([1.0, 2.0]))) == [-1.0, -2.0]
    assert (MAX.word, MIN.word) == ("higher", "lower")
    assert Direction("minimize") is MIN and MIN == "minimize"  # as configs spell it


def result(number: int, status: Status = Status.COMPLETE, *scores: float) -> TrialResult:
    return TrialResult(Trial(number, {}, (), 0), status, tuple(scores))


@pytest.mark.parametrize("direction", [MAX, MIN])
@pytest.mark.parametrize("seed", range(5))
def test_a_run_grown_one_result_at_a_time_ranks_as_all_at_once(direction, seed):
    rng = np.random.default_rng(seed)
    statuses = [Status.COMPLETE] * 6 + [Status.FAILED, Status.PRUNED, Status.CRASHED]
    items = [result(n, statuses[rng.integers(len(statuses))],
                    *(rng.integers(0, 5, 3) / 4))  # few distinct scores: many ties
             for n in rng.permutation(60)]
    run = RunResult(Path("runs/x"), Space({}), direction)
    for item in items:
        run.add(item)
        whole = ranked(run.results, direction)
        best = whole[0][1] if whole and whole[0][0] is not None else None
        assert run.best is best  # the lowest number among equal best scores
    assert run.ranked() == ranked(items, direction)
    assert run.complete == sum(r.status is Status.COMPLETE for r in items)
    assert len(run.failed) == sum(r.status.is_failure for r in items)
    assert len(run.pruned) == sum(r.status is Status.PRUNED for r in items)
    assert (run.next_trial, run.next_round) == (60, 2)


def test_ties_share_the_lowest_rank_and_trials_without_a_score_come_last():
    items = [result(0, Status.COMPLETE, 0.5), result(1, Status.FAILED),
             result(2, Status.COMPLETE, 0.9), result(3, Status.COMPLETE, 0.5)]
    assert [(rank, r.number) for rank, r in ranked(items, MAX)] == [(1, 2), (2, 0), (2, 3),
                                                                    (None, 1)]
    assert [(rank, r.number) for rank, r in ranked(items, MIN)] == [(1, 0), (1, 3), (3, 2),
                                                                    (None, 1)]


def test_one_map_from_an_exception_to_a_status():
    trial = Trial(7, {}, (), 0)
    try:
        raise ValueError("bad value")
    except ValueError as error:
        failed = result_of_error(trial, error, 1.0)
    assert failed.status is Status.FAILED and "Traceback" in failed.error
    assert failed.error_line == "ValueError: bad value"
    pruned = result_of_error(trial, TrialPruned(4, "pruned at epoch 4", 0.25), 1.0)
    assert (pruned.status, pruned.extra, pruned.error) == (
        Status.PRUNED, {"epoch": 4, "score": 0.25}, "pruned at epoch 4")
    crashed = result_of_error(trial, TrialCrashed("crashed: killed by SIGKILL"), 1.0)
    assert crashed.status is Status.CRASHED and crashed.error_line.startswith("crashed")
    assert result_of_error(trial, TrialTimedOut("timed out"), 1.0).status is Status.TIMEOUT
    command = result_of_error(trial, CommandFailed("exited with code 3", "boom\n"), 1.0)
    assert command.status is Status.FAILED
    assert command.error.startswith("CommandFailed: exited with code 3")
    assert "boom" in command.error
    assert math.isnan(command.mean)
