"""The search: where to try next. A `strategy.Strategy` proposes each trial and learns from each
result (`strategy`: the protocol, one round of the samplers' points, rounds planned beforehand;
`coarse_to_fine`: the multi-round search with its `surrogate` model); `sampling` covers the unit
cube; `region` boxes part of it (zoom); `pruning` stops hopeless trials early; `warm_start` takes
earlier runs' trials. Nothing here runs a trial or writes a store.

`strategy_for` is the one place a config's search section becomes a strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpsearch.config.schema import SearchSpec
    from hpsearch.search.strategy import Strategy
    from hpsearch.space import Space
    from hpsearch.trial import TrialResult

__all__ = ["strategy_for"]


def strategy_for(space: Space, search: SearchSpec,
                 history: Sequence[TrialResult] = ()) -> Strategy:
    """The strategy of a config's search section: coarse to fine over search.rounds, or the
    sampler's points alone when there is one round and no warm start to learn from."""
    from hpsearch.search.coarse_to_fine import CoarseToFine, learns_from
    from hpsearch.search.strategy import Sampling

    assert isinstance(search.rounds, int) and isinstance(search.lookahead, int), \
        "decided before a run starts"
    if search.rounds == 1 and not learns_from(history, search.direction):
        return Sampling(space, search.direction, trials=search.trials, seed=search.seed,
                        sampler=search.sampler, enqueue=search.enqueue)
    return CoarseToFine(space, search.direction, trials=search.trials, seed=search.seed,
                        rounds=search.rounds, lookahead=search.lookahead,
                        sampler=search.sampler, enqueue=search.enqueue, history=history)
