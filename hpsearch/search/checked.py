"""A user's strategy (`search.strategy`) held to the protocol.

Every call the driver makes goes through `Checked`, which checks the answer: whatever the
strategy raises (`SystemExit` included), or returns amiss (no trial, a trial of another number,
a point off the unit cube, a `needs` past the trial asked), stops the run with one
`StrategyError` that names the class, the method, what went wrong and where in the strategy's
file; never a traceback, never a failure blamed on the objective. The trials that ended are
stored and the run is interrupted, so a resume goes on once the strategy is fixed.
"""

from __future__ import annotations

import numbers
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hpsearch.errors import StrategyError
from hpsearch.search.strategy import Round, Strategy, point_problem
from hpsearch.space import Space
from hpsearch.trial import Direction, Trial, TrialResult

__all__ = ["Checked"]

T = TypeVar("T")


class Checked(Strategy):
    """An instance of the user's `cls`, made with the run's arguments, answering the driver
    only with what the protocol allows."""

    def __init__(self, cls: type[Strategy], space: Space, direction: Direction, *, trials: int,
                 seed: int, lookahead: int = 1, history: Sequence[TrialResult] = ()) -> None:
        super().__init__(space, direction, trials=trials, seed=seed, lookahead=lookahead,
                         history=history)
        self.name = cls.__name__
        self._file = getattr(sys.modules.get(cls.__module__), "__file__", None)
        self.inner = self._call(f"{cls.__module__}:{cls.__name__}(...)", lambda: cls(
            space, direction, trials=trials, seed=seed, lookahead=lookahead, history=history))
        reproducible = getattr(self.inner, "reproducible", True)
        if not isinstance(reproducible, bool):
            raise self._error(f"{self.name}.reproducible is {reproducible!r}: True or False")
        self.reproducible = reproducible

    def needs(self, number: int) -> int:
        needs = self._call(f"{self.name}.needs({number})", lambda: self.inner.needs(number))
        if isinstance(needs, bool) or not isinstance(needs, numbers.Integral):
            raise self._error(f"{self.name}.needs({number}) returned {_shown(needs)}: a trial "
                              "number")
        below = int(needs)
        if below > number:
            raise self._error(f"{self.name}.needs({number}) returned {below}: a trial can wait "
                              "for the trials numbered below it, never for itself or later ones")
        return below

    def ready(self, number: int) -> bool:
        return bool(self._call(f"{self.name}.ready({number})", lambda: self.inner.ready(number)))

    def ask(self, number: int) -> tuple[Trial, Round | None]:
        where = f"{self.name}.ask({number})"
        answer = self._call(where, lambda: self.inner.ask(number))
        if not (isinstance(answer, tuple) and len(answer) == 2):
            raise self._error(f"{where} returned {_shown(answer)}; it returns (trial, round "
                              "or None), such as: return self.trial(number, point), None")
        trial, opened = answer
        if not isinstance(trial, Trial):
            raise self._error(f"{where} returned {_shown(trial)} as its trial; "
                              "self.trial(number, point) makes one")
        if trial.number != number:
            raise self._error(f"{where} returned trial {trial.number}: each trial is numbered "
                              "as asked (self.trial(number, point))")
        problem = point_problem(self.space, trial.unit)
        if problem:
            raise self._error(f"{where} returned a trial off the unit cube: {problem}")
        if opened is not None and not isinstance(opened, Round):
            raise self._error(f"{where} returned {_shown(opened)} as its round: a "
                              "hpsearch.search.Round or None")
        return trial, opened

    def tell(self, result: TrialResult) -> None:
        self._call(f"{self.name}.tell(trial {result.number})", lambda: self.inner.tell(result))

    def close(self) -> None:
        self._call(f"{self.name}.close()", self.inner.close)

    def _call(self, where: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except (Exception, SystemExit) as error:  # SystemExit: never a silent exit 0
            text = str(error).strip().splitlines()
            said = f": {text[0][:200]}" if text else ""
            raise self._error(f"{where} raised {type(error).__name__}{said}{self._at(error)}"
                              ) from None

    def _at(self, error: BaseException) -> str:
        """" (at strategy.py:12)": the last line of the strategy's own file the error passed."""
        if self._file is None:
            return ""
        lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
                 if frame.filename == self._file]
        return f" (at {os.path.basename(self._file)}:{lines[-1]})" if lines else ""

    @staticmethod
    def _error(text: str) -> StrategyError:
        return StrategyError(f"search.strategy: {text}")


def _shown(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__} ({value!r:.60})"
