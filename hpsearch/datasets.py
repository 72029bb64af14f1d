"""Data for the objectives: scikit-learn's bundled sets, .csv and .npz files, and data given in
Python (arrays, pandas objects); and how it is prepared for a model, fold by fold.

Loaded once per process (the parent to check it, each worker to use it) and cached. Data as
users have it is taken as it is: a CSV's text columns and empty cells, a DataFrame's categories;
`preprocessor` turns them into what an estimator takes (one-hot categories, imputed gaps, scaled
numbers), fitted on each training fold only.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch.errors import ObjectiveError, did_you_mean

if TYPE_CHECKING:  # numpy is imported where data is loaded, not to read a config
    import numpy as np

__all__ = ["DataSpec", "InMemory", "load", "preprocessor", "categorical_columns", "fingerprint",
           "describe", "DATASETS", "SCALERS", "IMPUTERS"]

DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")  # scikit-learn's bundled sets
SCALERS = ("none", "standard", "minmax")
IMPUTERS = ("mean", "median", "most_frequent")


@dataclass(frozen=True)
class DataSpec:
    """Where the data is (a bundled dataset, a file, or in memory) and how each training fold
    prepares it: scale, categorical columns (auto: the text ones), impute."""

    dataset: str | None = None
    path: str | None = None
    target: str | None = None
    scale: str = "none"
    categorical: str | tuple[str, ...] | None = None
    impute: str | None = None
    memory: InMemory | None = None

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in vars(self).items()
                               if v is not None and k != "memory"}
        if isinstance(self.categorical, tuple):
            out["categorical"] = list(self.categorical)
        if self.memory is not None:
            out["in_memory"] = self.memory.to_yaml()
        return out


class InMemory:
    """Data given in Python: features X (a 2-D array or a DataFrame) and target y, kept as
    given, known by a fingerprint of their content (equal data, equal fingerprint).

    The session keeps what it was given (`held`), so a run of this session can be resumed,
    zoomed or retested in it without giving its data again."""

    def __init__(self, X: Any, y: Any) -> None:
        import numpy as np

        self.X, self.y = X, np.asarray(y)
        if getattr(X, "ndim", 2) != 2 or self.y.ndim != 1 or len(X) != len(self.y):
            raise ObjectiveError(f"data: X must be 2-D and y 1-D with as many rows, got X "
                                 f"{getattr(X, 'shape', '?')}, y {self.y.shape}")
        self.fingerprint = fingerprint(X, self.y)
        _held[self.fingerprint] = self

    @staticmethod
    def held(fingerprint: str) -> InMemory | None:
        """The data of that fingerprint, when this session was given it."""
        return _held.get(fingerprint)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.X.shape[0]), int(self.X.shape[1])

    def describe(self) -> str:
        rows, columns = self.shape
        return f"{rows} rows × {columns} columns, fingerprint {self.fingerprint}"

    def to_yaml(self) -> dict[str, Any]:
        """What a stored config keeps of it: its shape and fingerprint (not the data)."""
        rows, columns = self.shape
        return {"rows": rows, "columns": columns, "fingerprint": self.fingerprint}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InMemory) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"InMemory({self.describe()})"


_held: dict[str, InMemory] = {}


def fingerprint(X: Any, y: Any) -> str:
    """A short hash of the data's content: equal data, equal fingerprint."""
    digest = hashlib.sha256()
    digest.update(_content(X))
    digest.update(_content(y))
    return digest.hexdigest()[:16]


def describe(spec: DataSpec) -> dict[str, Any]:
    """What a run keeps of its data: rows, columns and fingerprint."""
    X, y = load(spec)
    return {"rows": int(X.shape[0]), "columns": int(X.shape[1]), "fingerprint": fingerprint(X, y)}


def _content(values: Any) -> bytes:
    """Bytes that stand for an array's or a pandas object's content (with its column names)."""
    import numpy as np

    if hasattr(values, "columns") or hasattr(values, "dtype") and hasattr(values, "index"):
        import pandas as pd

        names = "|".join(map(str, getattr(values, "columns", [getattr(values, "name", "")])))
        return names.encode() + pd.util.hash_pandas_object(values, index=False).values.tobytes()
    array = np.asarray(values)
    if array.dtype == object:
        return repr(array.tolist()).encode()
    return str((array.dtype, array.shape)).encode() + np.ascontiguousarray(array).tobytes()


@functools.lru_cache(maxsize=4)
def load(spec: DataSpec) -> tuple[Any, np.ndarray]:
    """(X, y) for a data spec. Raises ObjectiveError naming the file and what is wrong."""
    import numpy as np

    if spec.memory is not None:
        _check_text(spec)
        return spec.memory.X, spec.memory.y
    if spec.dataset is not None:
        from sklearn import datasets

        loader = getattr(datasets, f"load_{spec.dataset}")
        X, y = loader(return_X_y=True)
        return np.asarray(X, dtype=float), np.asarray(y)
    assert spec.path is not None
    if spec.path.lower().endswith(".npz"):
        return _load_npz(spec.path)
    return _load_csv(spec.path, spec.target or "", spec.categorical)


def _check_text(spec: DataSpec) -> None:
    """A DataFrame's text columns need data.categorical, as a CSV's do: refused before any
    trial, naming the column, rather than failing every trial."""
    assert spec.memory is not None
    X = spec.memory.X
    if spec.categorical is not None or not hasattr(X, "columns"):
        return
    for column in X.columns:
        if not _is_numeric_dtype(X[column].dtype):
            values = X[column].dropna()
            example = f" ({values.iloc[0]!r})" if len(values) else ""
            raise ObjectiveError(
                f"data: column {column!r} holds text{example}, not numbers; for columns of "
                "categories set data.categorical: auto (or list them), or drop it")


def _load_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

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


def _number(cell: str) -> float | None:
    """A cell as a number: NaN when empty, None when it is text."""
    text = cell.strip()
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return None


def _load_csv(path: str, target: str, categorical: Any) -> tuple[np.ndarray, np.ndarray]:
    """Features as floats (an empty cell is NaN); with text columns (data.categorical), an
    object array that keeps their text (an empty cell is NaN there too)."""
    import numpy as np

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
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ObjectiveError(f"{path}:{r}: {len(row)} fields, the header has {len(header)}")
    named = set(categorical) if isinstance(categorical, (list, tuple)) else set()
    for name in named - set(header):
        raise ObjectiveError(f"data.categorical: {path} has no column '{name}'; "
                             f"{did_you_mean(name, header)}columns: {', '.join(header)}")
    columns: list[list[Any]] = []
    for i in features:
        cells = [row[i] for row in body]
        numbers = [_number(c) for c in cells]
        text = None in numbers
        if text and categorical is None:
            r = numbers.index(None)
            raise ObjectiveError(
                f"{path}:{r + 2}: column '{header[i]}' holds {cells[r]!r}, not a number; for "
                "columns of categories set data.categorical: auto (or list them)")
        if text or header[i] in named:
            columns.append([c.strip() if c.strip() else np.nan for c in cells])
        else:
            columns.append(numbers)
    labels = [row[t] for row in body]
    try:
        y = np.array([float(v) for v in labels])
    except ValueError:
        y = np.array(labels)  # class names
    mixed = any(isinstance(v, str) for column in columns for v in column)
    X = np.array(columns, dtype=object if mixed else float).T
    return X.reshape(len(body), len(features)), y


def categorical_columns(spec: DataSpec, X: Any) -> list[Any]:
    """The columns data.categorical names: with `auto`, those that hold text (a DataFrame's
    object, string or category columns); as names or indices, the way the estimator finds them
    in X."""
    if spec.categorical is None:
        return []
    if hasattr(X, "columns"):
        if spec.categorical == "auto":
            return [c for c in X.columns if not _is_numeric_dtype(X[c].dtype)]
        return list(spec.categorical)
    if spec.categorical == "auto":
        return [j for j in range(X.shape[1])
                if X.dtype == object and any(isinstance(v, str) for v in X[:, j])]
    names = _csv_header(spec)
    return [names.index(c) for c in spec.categorical]


def _is_numeric_dtype(dtype: Any) -> bool:
    return getattr(dtype, "kind", "O") in "biuf"


def _csv_header(spec: DataSpec) -> list[str]:
    assert spec.path is not None
    with open(spec.path, newline="", encoding="utf-8") as handle:
        header = [h.strip() for h in next(csv.reader(handle))]
    return [h for h in header if h != spec.target]


def _as_float(X: Any) -> Any:
    """Numbers kept in an object array (a CSV with text columns), as floats."""
    import numpy as np

    return np.asarray(X, dtype=float)


def preprocessor(spec: DataSpec, X: Any) -> Any:
    """What data.scale, data.categorical and data.impute ask, as one scikit-learn transformer
    to fit on a training fold (None when they ask nothing): numbers imputed and scaled,
    categories imputed and one-hot encoded (unseen ones ignored)."""
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler}.get(spec.scale)
    categories = categorical_columns(spec, X)
    if not categories and spec.impute is None:
        return None if scaler is None else scaler()
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    columns: Sequence[Any] = list(X.columns) if hasattr(X, "columns") else range(X.shape[1])
    numeric = [c for c in columns if c not in categories]
    steps: list[Any] = [FunctionTransformer(_as_float)]
    if spec.impute is not None:
        steps.append(SimpleImputer(strategy=spec.impute))
    if scaler is not None:
        steps.append(scaler())
    encode: list[Any] = []
    if spec.impute is not None:
        encode.append(SimpleImputer(strategy="most_frequent"))
    encode.append(OneHotEncoder(handle_unknown="ignore", sparse_output=False))
    return ColumnTransformer([("numbers", make_pipeline(*steps), numeric),
                              ("categories", make_pipeline(*encode), categories)])
