"""hpsearch: hyperparameter search from the command line and from Python.

The public API is loaded on first use, so that ``import hpsearch`` (and ``hpsearch --help``)
stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_config": "hpsearch.config",
    "Config": "hpsearch.config",
    "Space": "hpsearch.space",
    "run": "hpsearch.api",
    "resume": "hpsearch.api",
    "zoom": "hpsearch.api",
    "retest": "hpsearch.api",
    "refit": "hpsearch.api",
    "load_model": "hpsearch.runs",
    "open_run": "hpsearch.runs",
    "status": "hpsearch.runs",
    "compare": "hpsearch.runs",
    "list_runs": "hpsearch.runs",
    "RunEvents": "hpsearch.events",
    "RunResult": "hpsearch.result",
    "HPSearchError": "hpsearch.errors",
    "InputError": "hpsearch.errors",
    "ConfigError": "hpsearch.errors",
    "TrialPruned": "hpsearch.errors",
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
