"""A run's results, grown one trial at a time: counts, the best so far and the ranking follow
each result as it arrives, so a live view never re-ranks the whole run per finished trial."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.space import Space
from hpsearch.trial import Direction, Status, TrialResult, ranked

__all__ = ["RunResult"]


class RunResult:
    """A run's trials and what follows from them.

    Attributes:
        path: the run's folder.
        space: the run's (first round's) space.
        direction: which scores are better.
        status: running, finished or interrupted.
        best_model: the best configuration fitted on all the data, after a refitting run
            (search.refit: true), else None.
        running: of a stored run read while it runs, its trials started and not yet ended:
            (number, params, start time).
    """

    def __init__(self, path: Path, space: Space, direction: Direction,
                 results: Iterable[TrialResult] = (), status: str = "finished") -> None:
        self.path = path
        self.space = space
        self.direction = Direction(direction)
        self.status = status
        self.best_model: Any = None
        self.running: list[tuple[int, dict[str, Any], float]] = []
        self._results: list[TrialResult] = []
        self._failed: list[TrialResult] = []
        self._pruned: list[TrialResult] = []
        self._complete = 0
        self._best: TrialResult | None = None
        self._ranked: list[tuple[int | None, TrialResult]] | None = None
        for result in results:
            self.add(result)

    def add(self, result: TrialResult) -> None:
        """One more finished trial: O(1), whatever the number of trials so far."""
        self._results.append(result)
        self._ranked = None
        if result.status is Status.COMPLETE:
            self._complete += 1
            best = self._best
            if best is None or self.direction.better(result.mean, best.mean) or (
                    result.mean == best.mean and result.number < best.number):
                self._best = result
        elif result.status is Status.PRUNED:
            self._pruned.append(result)
        else:
            self._failed.append(result)

    @property
    def name(self) -> str:
        return self.path.name

    def curves(self, trials: Sequence[int] | None = None) -> dict[int, list[dict[str, Any]]]:
        """Per-epoch reports as stored in the run (of `trials`, or every trial that reported):
        trial number -> [{fold, epoch, score, **metrics}, ...] in fold and epoch order. Read
        from the run's store, so also while the run goes on."""
        from hpsearch.store.database import RunStore

        with RunStore.open(self.path, readonly=True) as store:
            return store.reports(trials)

    def curve(self, trial: int) -> list[dict[str, Any]]:
        """One trial's per-epoch reports (see `curves`); [] for a trial that reported none."""
        return self.curves([trial]).get(trial, [])

    @property
    def results(self) -> list[TrialResult]:
        """Every trial, in the order they ended (read only: `add` grows it)."""
        return self._results

    def ranked(self) -> list[tuple[int | None, TrialResult]]:
        """Best first, with ranks (ties share the lowest; trials without a score last);
        computed once per change."""
        if self._ranked is None:
            self._ranked = ranked(self._results, self.direction)
        return self._ranked

    @property
    def best(self) -> TrialResult | None:
        """The best complete trial (the lowest number among equals), or None."""
        return self._best

    @property
    def complete(self) -> int:
        return self._complete

    @property
    def failed(self) -> list[TrialResult]:
        """Trials that failed, crashed or timed out (not the ones pruned on purpose)."""
        return self._failed

    @property
    def pruned(self) -> list[TrialResult]:
        return self._pruned

    @property
    def next_round(self) -> int:
        """The number the run's next round gets."""
        return max((r.trial.round for r in self._results), default=0) + 1

    @property
    def next_trial(self) -> int:
        """The first trial number no trial of the run has."""
        return max((r.number for r in self._results), default=-1) + 1

    def failure_summary(self) -> Counter[str]:
        """How often each distinct error line occurred."""
        return Counter(r.error_line for r in self._failed)

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per trial, by number, in scikit-learn's vocabulary: trial, round,
        status, retest, retest_of, seed, param_<name>, split<i>_score, mean_score, std_score,
        rank_score, stopped_epoch, stopped_score (a trial stopped early: where, and its score
        there), metric_<name> (of a stopped trial: at that epoch), duration, error (None where
        a value is missing)."""
        ranks = {r.number: rank for rank, r in self.ranked()}
        folds = max((len(r.scores) for r in self._results), default=0)
        rows = []
        for result in sorted(self._results, key=lambda r: r.number):
            row: dict[str, Any] = {
                "trial": result.number, "round": result.trial.round,
                "status": result.status.value, "retest": result.trial.retest_of is not None,
                "retest_of": result.trial.retest_of, "seed": result.trial.seed,
            }
            row.update({f"param_{k}": v for k, v in result.params.items()})
            row.update({f"split{i}_score": result.scores[i] if i < len(result.scores) else None
                        for i in range(folds)})
            row.update({"mean_score": _number(result.mean), "std_score": _number(result.std),
                        "rank_score": ranks.get(result.number)})
            row.update(stopped_at(result))
            row.update({f"metric_{k}": v for k, v in result.extra.get("metrics", {}).items()})
            row.update({"duration": result.duration, "error": result.error_line or None})
            rows.append(row)
        return rows

    def epoch_rows(self) -> list[dict[str, Any]]:
        """One flat row per trial, fold and epoch reported (by trial, fold, epoch): trial,
        round, status, param_<name>, fold, epoch, score, metric_<name> (what else it reported
        then): the learning curves, ready for pandas."""
        curves = self.curves()
        rows = []
        for result in sorted(self._results, key=lambda r: r.number):
            head = {"trial": result.number, "round": result.trial.round,
                    "status": result.status.value,
                    **{f"param_{k}": v for k, v in result.params.items()}}
            for report in curves.get(result.number, []):
                rows.append({**head, "fold": report["fold"], "epoch": report["epoch"],
                             "score": report["score"],
                             **{f"metric_{k}": v for k, v in report.items()
                                if k not in ("fold", "epoch", "score")}})
        return rows

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (pandas is an optional extra)."""
        try:
            import pandas as pd
        except ImportError:
            from hpsearch.errors import InputError

            raise InputError("to_dataframe needs pandas: pip install 'hpsearch[pandas]' (or "
                             "use rows(), a list of dicts)") from None
        return pd.DataFrame(self.rows())


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def stopped_at(result: TrialResult) -> dict[str, Any]:
    """stopped_epoch and stopped_score: where a trial stopped early was stopped, and the score
    it had reached there (None for the others)."""
    pruned = result.status is Status.PRUNED
    score = result.extra.get("score") if pruned else None
    return {"stopped_epoch": result.extra.get("epoch") if pruned else None,
            "stopped_score": _number(score) if isinstance(score, (int, float)) else None}


@dataclass(frozen=True)
class Retested:
    """One configuration re-tested: its first score and rank, and the new ones."""

    trial: TrialResult
    old_rank: int | None
    new: list[TrialResult]
    new_rank: int | None = None
    same_data: bool | None = None  # whether it ran on the data the run started with

    @property
    def new_mean(self) -> float:
        scores = [r.mean for r in self.new if r.status is Status.COMPLETE]
        return sum(scores) / len(scores) if scores else float("nan")
