"""Populations: many trials of the built-in network trained as one batched computation.

`plan` groups the trials of an estimator objective whose networks can share a population (see
`hpsearch.models.fit_together`) into chunks, one task each, spread over the workers;
`train` runs one chunk in a worker, every (trial, fold) pair a member, and gives each trial the
result it would have had alone. Nothing else in hpsearch knows about populations.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hpsearch.objective import EstimatorObjective, Objective, Session, mean_history
from hpsearch.trial import Status, Trial, TrialResult, as_scores, result_of_error

__all__ = ["plan", "train"]

MAX_AUTO = 64  # the most members `auto` puts in one population


def plan(objective: Objective, trials: Sequence[Trial], workers: int, setting: str | int,
         memory_mb: float) -> list[tuple[list[Trial], int]]:
    """The trials that can train as populations, in chunks of one population each, spread over
    the workers; each chunk with its population size (members = trials x folds). Empty when the
    objective's estimator cannot (another estimator, `setting` off)."""
    if setting == "off" or not isinstance(objective, EstimatorObjective):
        return []
    from sklearn.base import is_classifier

    from hpsearch.datasets import load
    from hpsearch.models import member_bytes, population_key

    target = objective.target
    cls = target if isinstance(target, type) else type(target)
    try:
        default = target() if isinstance(target, type) else target
    except Exception:  # an estimator without defaults is no network of ours
        return []
    defaults = default.get_params()
    groups: dict[tuple[Any, ...], list[tuple[Trial, dict[str, Any]]]] = {}
    for trial in trials:
        params = {**defaults, **objective.spec.params(trial.params)}
        key = population_key(cls, params)
        if key is not None:
            groups.setdefault(key, []).append((trial, params))
    if not groups:
        return []
    assert objective.data is not None
    X, y = load(objective.data)
    classifier = is_classifier(default)
    outputs = len(set(y.tolist())) if classifier else 1
    # Members train together only with equally many training rows: a trial contributes at
    # most `share` members (its folds of one size) to any one population.
    sizes = Counter(len(X_train) for X_train, *_ in objective.fold_data(classifier))
    share = max(sizes.values())
    chunks = []
    for members in groups.values():
        if setting == "auto":  # as many as fit the memory budget
            each = max(member_bytes(params, X.shape[1], outputs) for _, params in members)
            size = int(max(1, min(MAX_AUTO, memory_mb * 2**20 // each)))
        else:
            size = int(setting)
        per_chunk = max(1, min(max(1, size // share), -(-len(members) // workers)))
        chunks += [([t for t, _ in members[i:i + per_chunk]], size)
                   for i in range(0, len(members), per_chunk)]
    return chunks


def train(objective: EstimatorObjective, trials: list[Trial], max_size: int
          ) -> list[TrialResult]:
    """The trials' cross-validations, every (trial, fold) pair a member of a population of at
    most `max_size`; each result equals the trial's alone."""
    from sklearn.base import clone, is_classifier

    from hpsearch.models import fit_together

    start = time.perf_counter()
    if objective.devices is not None:
        objective.devices.pin()
    sessions = {t.number: Session(objective, t) for t in trials}
    for session in sessions.values():
        session.start()
    models, data, validation, owners = [], [], [], []
    failed: dict[int, BaseException] = {}
    folds: list[tuple[Any, Any, Any, Any]] = []
    for trial in trials:
        try:
            estimator = objective.build(trial)
        except Exception as refused:  # its constructor refuses the params
            failed[trial.number] = refused
            continue
        folds = folds or objective.fold_data(is_classifier(estimator))
        for index, (X_train, y_train, X_val, y_val) in enumerate(folds):
            models.append(clone(estimator))
            data.append((X_train, y_train))
            watched = objective.channel.pruner is not None and index == 0 \
                and trial.retest_of is None
            validation.append((X_val, y_val) if watched else None)
            owners.append((trial, index))
    reporters = {t.number: sessions[t.number].reporter(0) for t in trials}
    stopped: dict[int, BaseException] = {}

    def on_epoch(i: int, record: dict[str, float]) -> bool:
        trial = owners[i][0]
        if trial.number in stopped:
            return True
        if "val_score" in record:
            try:
                reporters[trial.number](int(record["epoch"]), record["val_score"])
            except Exception as stop:  # TrialPruned, or the report itself failed
                stopped[trial.number] = stop
                return True
        return False

    errors = fit_together(models, data, validation=validation, on_epoch=on_epoch,
                          max_size=max_size)
    per_member = (time.perf_counter() - start) / max(1, len(models))
    results = []
    for trial in trials:
        mine = [i for i, (t, _) in enumerate(owners) if t.number == trial.number]
        duration = per_member * len(mine)
        error = failed.get(trial.number) or next((errors[i] for i in mine if errors[i]), None) \
            or stopped.get(trial.number)
        try:
            if error is not None:
                raise error
            scores = as_scores([objective.score(models[i], *folds[owners[i][1]][2:])
                                for i in mine])
        except Exception as ended:
            results.append(sessions[trial.number].finish(result_of_error(trial, ended, duration)))
            continue
        history = mean_history([models[i].history_ for i in mine])
        results.append(sessions[trial.number].finish(
            TrialResult(trial, Status.COMPLETE, scores, duration, extra={"history": history})))
    return results
