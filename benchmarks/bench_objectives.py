"""Objectives for the benchmarks, importable by worker processes."""

import time

import numpy as np


def trivial(params):
    return params["x"]


def busy(params):
    """About 50 ms of CPU work in one thread (numpy sorting, which takes no BLAS threads)."""
    rng = np.random.default_rng(int(params["x"] * 1e9))
    deadline = time.process_time() + 0.05
    total = 0.0
    while time.process_time() < deadline:
        total += float(np.sort(rng.random(20_000))[0])
    return total
