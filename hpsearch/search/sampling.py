"""Samplers over the unit cube. They return points u in [0, 1]^d, never values.

Random search is the default: with many hyperparameters of which few matter, n random points try
n distinct values of the one that matters, while a grid of n points tries only n^(1/d).

numpy is imported inside the samplers, so that the list of their names (``SAMPLERS``), which the
config and the command line offer, costs nothing to import.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["sample_unit", "SAMPLERS"]


def _random(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    return rng.random((n, d))


def _sobol(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    import warnings

    from scipy.stats import qmc

    engine = qmc.Sobol(d, scramble=True, seed=rng)
    with warnings.catch_warnings():
        # Balance is best at powers of two; any n is still a low-discrepancy prefix.
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(n)


def _grid(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """The centres of a k^d grid with k^d >= n; when the grid is larger than n, a random n of
    them (without repeats), in grid order."""
    import numpy as np

    k = max(1, math.ceil(n ** (1.0 / d) - 1e-9))
    while k**d < n:
        k += 1
    levels = (np.arange(k) + 0.5) / k
    total = k**d
    chosen = np.sort(rng.choice(total, size=n, replace=False)) if total > n else np.arange(total)
    index = np.array(np.unravel_index(chosen, (k,) * d)).T
    return levels[index]


# The one list of samplers: the config's choices and the command line's come from here.
SAMPLERS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "random": _random, "sobol": _sobol, "grid": _grid,
}


def sample_unit(sampler: str, n: int, d: int, seed: int) -> np.ndarray:
    """n points of the unit cube [0, 1]^d, shape (n, d); the same seed gives the same points."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return SAMPLERS[sampler](n, d, rng)
