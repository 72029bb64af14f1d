"""A search strategy of your own: random points first, then the best so far moved a little.

Named in the config as `search.strategy: perturb_best:PerturbBest` (this folder is on the path:
it is the config's). See docs/search.md, "Your own strategy".
"""

import math

import numpy as np

from hpsearch.search import Strategy


class PerturbBest(Strategy):
    RANDOM = 10  # trials over the whole space first
    STEP = 0.1  # of each parameter's range, in its own scale

    def needs(self, number):
        # Trial `number` learns from the trials numbered below this; the look-ahead's trials
        # in between may still be running, so that no worker waits for them.
        return max(self.first, number - self.lookahead)

    def ask(self, number):
        rng = np.random.default_rng([self.seed, number])  # the same point in every run
        scored = [r for r in self.known(number) if not math.isnan(r.mean)]
        if number < self.RANDOM or not scored:
            point = rng.random(len(self.space))
        else:
            best = max(scored, key=lambda r: self.direction.gain(r.mean))
            step = rng.normal(0.0, self.STEP, len(self.space))
            point = np.clip(np.array(best.trial.unit) + step, 0.0, 1.0)
        return self.trial(number, point), None  # None: no new round opens
