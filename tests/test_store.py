"""The run store: what is written is read back as written, one writer at a time, readers write
nothing, and a damaged or newer store is refused by name."""

from __future__ import annotations

import math
import os
import sqlite3

import pytest

from hpsearch.errors import StoreError
from hpsearch.search.region import whole
from hpsearch.space import Choice, Log, Space
from hpsearch.store.database import SCHEMA_VERSION, RunBoard, RunStore
from hpsearch.store.folder import DB_NAME, resolve_run
from hpsearch.trial import Direction, Status, Trial, TrialResult

SPACE = Space({"lr": Log(1e-4, 1.0), "act": Choice(("relu", "tanh"))})
CONFIG = {"name": "s", "search": {"direction": "maximize"}, "space": SPACE.to_yaml()}


def result(number: int, status: Status = Status.COMPLETE, scores=(0.5, 0.7), **extra):
    params = {"lr": 10 ** -(number % 4), "act": "tanh"}
    trial = Trial(number, params, tuple(SPACE.to_unit(params)), 1000 + number, round=1)
    error = None if status is Status.COMPLETE else f"it {status.value}"
    return TrialResult(trial, status, scores if status is Status.COMPLETE else (), 0.25, error,
                       extra)


@pytest.fixture
def store(tmp_path):
    with RunStore.create(tmp_path / "runs", "s", CONFIG) as created:
        yield created


def test_a_trial_is_read_back_as_it_was_written(store):
    written = [result(0, metrics={"test_accuracy": 0.9}, history=[{"epoch": 1, "loss": 0.3}]),
               result(1, Status.FAILED), result(2, Status.PRUNED, epoch=4, score=0.2)]
    for r in written:
        store.add(r)
    with RunStore.open(store.path, readonly=True) as reader:
        back = reader.results()
    assert [r.trial for r in back] == [r.trial for r in written]
    assert [(r.status, r.scores, r.error, dict(r.extra)) for r in back] == \
        [(r.status, r.scores, r.error, dict(r.extra)) for r in written]
    assert back[0].mean == pytest.approx(0.6) and math.isnan(back[1].mean)


def test_a_run_is_never_overwritten(tmp_path, store):
    with RunStore.create(tmp_path / "runs", "s", CONFIG) as second:
        assert second.path.name == "s-2"
    assert resolve_run("s-2", tmp_path / "runs") == second.path
    with pytest.raises(StoreError, match="no run 'nope'; runs in .*: s, s-2"):
        resolve_run("nope", tmp_path / "runs")


def test_one_writer_at_a_time_and_the_lock_dies_with_its_holder(store):
    with RunStore.open(store.path) as other:
        with pytest.raises(StoreError, match=f"in use by process {os.getpid()}"):
            other.lock()
        assert other.is_locked()
    store.close()
    with RunStore.open(store.path) as other:
        other.lock()  # released with its holder


def test_a_reader_writes_nothing(tmp_path, store):
    store.add(result(0))
    store.close()
    before = {p.name: p.stat().st_mtime_ns for p in store.path.iterdir()}
    with RunStore.open(store.path, readonly=True) as reader:
        assert len(reader.results()) == 1 and reader.meta()["name"] == "s"
    assert {p.name: p.stat().st_mtime_ns for p in store.path.iterdir()} == before


def test_counts_and_the_best_come_straight_from_the_database(store):
    for number, scores in enumerate([(0.2,), (0.9,), (0.5,)]):
        store.add(result(number, scores=scores))
    store.add(result(3, Status.CRASHED))
    summary = store.summary(Direction.MAXIMIZE)
    assert summary["counts"] == {"complete": 3, "crashed": 1}
    assert summary["best"]["trial"] == 1
    assert store.summary(Direction.MINIMIZE)["best"]["trial"] == 0


def test_rounds_are_kept_with_their_region(store):
    region = whole(SPACE)
    store.add_round(1, "random", region, 10)
    (kept,) = store.rounds()
    assert kept == {"round": 1, "kind": "random", "space": SPACE.to_yaml(), "lo": [0.0, 0.0],
                    "hi": [1.0, 1.0], "source": [], "trials": 10}


def test_workers_share_starts_and_reports_through_the_board(store):
    board = RunBoard(str(store.path / DB_NAME))
    board.started(7, {"lr": 0.1})
    assert [(n, p) for n, p, _, _ in store.running()] == [(7, {"lr": 0.1})]
    board.report(5, 0, 4, 0.8, {})
    others = board.report(7, 0, 4, 0.6, {"loss": 0.3})
    assert others.count() == 1 and others.better_than(0.6, Direction.MAXIMIZE) == 1
    store.add(result(7))
    assert store.running() == []  # stored: no longer running
    board.close()


def test_a_newer_store_is_refused_by_name(store):
    store.close()
    db = sqlite3.connect(store.path / DB_NAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="written by a newer hpsearch"):
        RunStore.open(store.path, readonly=True)


def test_a_damaged_row_is_named(store):
    store.add(result(0))
    store.add(result(1))
    store.close()
    db = sqlite3.connect(store.path / DB_NAME)
    db.execute("UPDATE trials SET params = '{broken' WHERE number = 1")
    db.commit()
    db.close()
    with RunStore.open(store.path, readonly=True) as reader:
        with pytest.raises(StoreError, match="trial 1: a value that is not JSON"):
            reader.results()
