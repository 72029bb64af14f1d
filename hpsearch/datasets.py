"""Data for the objectives: scikit-learn's bundled sets, and .csv or .npz files.

Loaded once per process (the parent to check it, each worker to use it) and cached.
"""

from __future__ import annotations

import csv
import functools

import numpy as np

from hpsearch.config import DataSpec
from hpsearch.errors import ObjectiveError, did_you_mean

__all__ = ["load"]


@functools.lru_cache(maxsize=4)
def load(spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) for a data spec. Raises ObjectiveError naming the file and what is wrong."""
    if spec.dataset is not None:
        from sklearn import datasets

        loader = getattr(datasets, f"load_{spec.dataset}")
        X, y = loader(return_X_y=True)
        return np.asarray(X, dtype=float), np.asarray(y)
    assert spec.path is not None
    if spec.path.lower().endswith(".npz"):
        return _load_npz(spec.path)
    return _load_csv(spec.path, spec.target or "")


def _load_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in ("X", "y") if k not in arrays]
            if missing:
                raise ObjectiveError(
                    f"{path}: no array named {' or '.join(missing)}; found "
                    f"{', '.join(arrays.files) or 'none'}. Save with np.savez(path, X=X, y=y)"
                )
            X, y = arrays["X"], arrays["y"]
    except (OSError, ValueError) as error:
        raise ObjectiveError(f"{path}: not a readable .npz file ({error})") from None
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ObjectiveError(
            f"{path}: X must be 2-D and y 1-D with as many rows, got X {X.shape}, y {y.shape}"
        )
    return X, y


def _load_csv(path: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise ObjectiveError(f"{path}: needs a header row and at least one data row")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if target not in header:
        raise ObjectiveError(f"{path}: no column '{target}' (data.target); "
                             f"{did_you_mean(target, header)}columns: {', '.join(header)}")
    t = header.index(target)
    features = [i for i in range(len(header)) if i != t]
    X = np.empty((len(body), len(features)))
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ObjectiveError(f"{path}:{r}: {len(row)} fields, the header has {len(header)}")
        for j, i in enumerate(features):
            try:
                X[r - 2, j] = float(row[i])
            except ValueError:
                raise ObjectiveError(
                    f"{path}:{r}: column '{header[i]}' holds {row[i]!r}, not a number; "
                    "features must be numeric (encode categories first)"
                ) from None
    labels = [row[t] for row in body]
    try:
        y = np.array([float(v) for v in labels])
    except ValueError:
        y = np.array(labels)  # class names
    return X, y
