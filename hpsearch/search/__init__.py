"""The search: where to try next. A `strategy.Strategy` proposes each trial and learns from each
result (`strategy`: the protocol, one round of the samplers' points, rounds planned beforehand;
`coarse_to_fine`: the multi-round search with its `surrogate` model); `sampling` covers the unit
cube; `region` boxes part of it (zoom); `pruning` stops hopeless trials early; `warm_start` takes
earlier runs' trials. Nothing here runs a trial or writes a store.

`strategy_for` is the one place a config's search section becomes a strategy (the built-in
ones, or a user's `search.strategy: module:Class`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpsearch.config.schema import SearchSpec
    from hpsearch.search.strategy import Strategy
    from hpsearch.space import Space
    from hpsearch.trial import TrialResult

__all__ = ["strategy_for", "user_strategy", "Strategy", "Round"]


def __getattr__(name: str) -> object:  # Strategy and Round for a user's strategy, on first use
    if name in ("Strategy", "Round"):
        from hpsearch.search import strategy

        return getattr(strategy, name)
    raise AttributeError(f"module 'hpsearch.search' has no attribute {name!r}")


def user_strategy(target: str, paths: Sequence[str] = ()) -> type[Strategy]:
    """The class `search.strategy` names, checked to be a Strategy.

    Raises:
        InputError: it does not import, or is not a subclass of hpsearch.search.Strategy.
    """
    from hpsearch.errors import InputError
    from hpsearch.objective import import_target
    from hpsearch.search.strategy import Strategy

    try:
        found = import_target(target, paths)
    except InputError as error:
        raise InputError(f"search.strategy: {error}") from None
    if not (isinstance(found, type) and issubclass(found, Strategy)):
        raise InputError(f"search.strategy: {target} is not a subclass of "
                         "hpsearch.search.Strategy; see docs/search.md (your own strategy)")
    return found


def strategy_for(space: Space, search: SearchSpec, history: Sequence[TrialResult] = (),
                 paths: Sequence[str] = ()) -> Strategy:
    """The strategy of a config's search section: the user's `search.strategy` (imported from
    `paths`, held to the protocol by `checked.Checked`), else coarse to fine over
    search.rounds, or the sampler's points alone when there is one round and no warm start to
    learn from."""
    from hpsearch.search.coarse_to_fine import CoarseToFine, learns_from
    from hpsearch.search.strategy import Sampling

    assert isinstance(search.rounds, int) and isinstance(search.lookahead, int), \
        "decided before a run starts"
    if search.strategy is not None:
        from hpsearch.search.checked import Checked

        return Checked(user_strategy(search.strategy, paths), space, search.direction,
                       trials=search.trials, seed=search.seed, lookahead=search.lookahead,
                       history=history)
    if search.rounds == 1 and not learns_from(history, search.direction):
        sampling = Sampling(space, search.direction, trials=search.trials, seed=search.seed,
                            sampler=search.sampler, enqueue=search.enqueue)
        sampling.reproducible = search.reproducible  # its points are the same either way
        return sampling
    return CoarseToFine(space, search.direction, trials=search.trials, seed=search.seed,
                        rounds=search.rounds, lookahead=search.lookahead,
                        sampler=search.sampler, enqueue=search.enqueue, history=history,
                        reproducible=search.reproducible)
