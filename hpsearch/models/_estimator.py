"""The built-in network as scikit-learn estimators: they clone, cross-validate and pickle like
any other, so hpsearch tunes them with no code of the user's own."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from hpsearch.models._network import ACTIVATIONS, OPTIMIZERS, Hyper, Population

__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "hidden_sizes"]


def hidden_sizes(hidden_layers: Any, hidden_units: Any) -> list[int]:
    """The units of each hidden layer: hidden_layers times hidden_units, or the list given."""
    if isinstance(hidden_units, Integral):
        return [int(hidden_units)] * int(hidden_layers)
    return [int(u) for u in hidden_units]


class _NeuralNet(BaseEstimator):
    """A fully-connected network trained by mini-batch gradient descent.

    Args:
        hidden_layers: number of hidden layers (ignored when hidden_units is a list).
        hidden_units: units per hidden layer, or a list of sizes, one per layer.
        activation: relu, tanh or sigmoid.
        init: he, xavier, or auto (He for relu, Xavier otherwise).
        optimizer: sgd, momentum (β1), rmsprop (β2, ε) or adam (β1, β2, ε, bias-corrected).
        learning_rate: α0; the rate of epoch e is α0 / (1 + lr_decay·e).
        beta1, beta2, epsilon: the optimizer's averaging weights and its ε.
        batch_size: rows per mini-batch (the last batch of an epoch may be smaller).
        epochs: passes over the training data.
        batch_norm: normalize each hidden layer's pre-activations over the mini-batch, with learned
            γ and β (and no bias); predictions use the running averages, weighted by bn_momentum.
        l2: L2 penalty, l2 / (2·batch) · Σ W².
        early_stopping: hold out validation_fraction of the rows, stop after `patience` epochs
            without a better validation score, and keep the best weights.
        dtype: float32 (faster) or float64.
        random_state: seeds the initial weights, the mini-batch order and the validation split.

    Attributes:
        history_: one dict per epoch: epoch, loss, and val_score when validating.
    """

    _task = "classification"
    _data: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    _validation: tuple[np.ndarray, Any] | None
    # What may change between two epochs (babysitting's hot changes): every scalar
    # hyperparameter, the batch size and the number of epochs.
    hot_params = (*Hyper.names(), "batch_size", "epochs")

    def __init__(
        self,
        hidden_layers: int = 2,
        hidden_units: int | list[int] = 64,
        activation: str = "relu",
        init: str = "auto",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        lr_decay: float = 0.0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        batch_size: int = 32,
        epochs: int = 20,
        batch_norm: bool = False,
        bn_momentum: float = 0.9,
        l2: float = 0.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        patience: int = 5,
        dtype: str = "float32",
        random_state: int | None = None,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.hidden_units = hidden_units
        self.activation = activation
        self.init = init
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.batch_size = batch_size
        self.epochs = epochs
        self.batch_norm = batch_norm
        self.bn_momentum = bn_momentum
        self.l2 = l2
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.dtype = dtype
        self.random_state = random_state

    # -- checks, made in fit as scikit-learn does

    def check_params(self) -> None:
        """Raise ValueError naming the first hyperparameter out of its range (fit calls it)."""

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(f"{type(self).__name__}: {message}")

        def number(name: str, low: float, high: float | None = None, *, closed: bool = False,
                   integer: bool = False) -> None:
            value = getattr(self, name)
            kind = Integral if integer else Real
            what = "a whole number" if integer else "a number"
            need(isinstance(value, kind) and not isinstance(value, bool),
                 f"{name} must be {what}, got {value!r}")
            need(value >= low if closed else value > low,
                 f"{name} must be {'>=' if closed else '>'} {low}, got {value!r}")
            if high is not None:
                need(value < high, f"{name} must be < {high}, got {value!r}")

        choices = {"activation": ACTIVATIONS, "optimizer": OPTIMIZERS,
                   "init": ("auto", "he", "xavier"), "dtype": ("float32", "float64")}
        for name, options in choices.items():
            need(getattr(self, name) in options,
                 f"unknown {name} {getattr(self, name)!r}; choose one of {', '.join(options)}")
        number("learning_rate", 0)
        number("lr_decay", 0, closed=True)
        for beta in ("beta1", "beta2", "bn_momentum"):
            number(beta, 0, 1, closed=True)
        number("epsilon", 0)
        number("l2", 0, closed=True)
        number("batch_size", 1, closed=True, integer=True)
        number("epochs", 1, closed=True, integer=True)
        number("patience", 1, closed=True, integer=True)
        number("validation_fraction", 0, 1)
        if isinstance(self.hidden_units, Integral):
            number("hidden_layers", 0, closed=True, integer=True)
            number("hidden_units", 1, closed=True, integer=True)
        else:
            units = self.hidden_units
            need(isinstance(units, (list, tuple))
                 and all(isinstance(u, Integral) and u >= 1 for u in units),
                 f"hidden_units must be a whole number or a list of them, got "
                 f"{self.hidden_units!r}")

    def _hidden(self) -> list[int]:
        return hidden_sizes(self.hidden_layers, self.hidden_units)

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.default_rng().integers(2**63))
        return int(self.random_state)

    # -- training

    def fit(self, X: Any, y: Any) -> _NeuralNet:
        """Train on X, y for `epochs` passes (fewer with early stopping)."""
        self.begin(X, y)
        best, best_score, waited = None, -np.inf, 0
        while self.epoch_ < self.epochs:
            record = self.train_epoch()
            if "val_score" in record:
                if record["val_score"] > best_score:
                    best, best_score, waited = self._snapshot(), record["val_score"], 0
                else:
                    waited += 1
                if waited >= self.patience:
                    break
        if best is not None:
            params, running = best
            for now, then in zip(self.net_.params, params):
                for key in now:
                    now[key][...] = then[key]
            self.net_.running = running
        self.end()
        return self

    # -- epoch by epoch, for babysitting and early stopping

    def begin(self, X: Any, y: Any, validation: tuple[Any, Any] | None = None) -> _NeuralNet:
        """Set up training on X, y without training yet; `train_epoch` then runs one epoch.

        Args:
            validation: (X_val, y_val) to score after every epoch. Without it, early_stopping
                holds out validation_fraction of X.
        """
        self.check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=self._task == "regression")
        Y = self._encode(y)
        seed = self._seed()
        rows = np.arange(len(X))
        self._validation = None
        if validation is not None:
            self._validation = (np.asarray(validation[0], dtype=np.float64), validation[1])
        elif self.early_stopping:
            cut = np.random.default_rng([seed, 1]).permutation(len(X))
            n_val = max(1, int(round(self.validation_fraction * len(X))))
            val_rows, rows = np.sort(cut[:n_val]), np.sort(cut[n_val:])
            self._validation = (X[val_rows], y[val_rows])
        dtype = np.dtype(self.dtype).type
        init = self.init if self.init != "auto" else ("he" if self.activation == "relu"
                                                       else "xavier")
        self.net_ = Population(
            [X.shape[1], *self._hidden(), Y.shape[1]], task=self._task,
            activation=self.activation, init=init, optimizer=self.optimizer,
            batch_norm=self.batch_norm, hyper=Hyper.of([self]), seeds=[seed], dtype=dtype,
        )
        self._data = (X.astype(dtype), Y.astype(dtype), rows[None, :])
        self.history_: list[dict[str, float]] = []
        self.epoch_ = 0
        return self

    def train_epoch(self) -> dict[str, float]:
        """Train one more epoch with the current hyperparameters (set_params between epochs
        changes them: a hot change); records its loss and validation score in history_, and
        returns them with the learning rate the epoch used."""
        assert self._data is not None, "call begin() first"
        X, Y, rows = self._data
        self.net_.hyper = Hyper.of([self])
        rate = float(self.net_.hyper.rate(self.epoch_)[0])
        with np.errstate(all="ignore"):
            loss = float(self.net_.train_epoch(X, Y, rows, int(self.batch_size),
                                               self.epoch_)[0])
        self.epoch_ += 1
        if not np.isfinite(loss):
            raise FloatingPointError(f"training diverged at epoch {self.epoch_} (loss {loss}); "
                                     f"lower learning_rate (now {self.learning_rate:g})")
        record = {"epoch": self.epoch_, "loss": loss}
        if self._validation is not None:
            record["val_score"] = float(self.score(*self._validation))
        self.history_.append(record)
        return {**record, "learning_rate": rate}

    def end(self) -> None:
        """Drop the training data `begin` kept: a fitted model carries only its weights."""
        self._data = self._validation = None

    def state(self) -> dict[str, np.ndarray]:
        """Everything training needs to go on later exactly as if never stopped: weights,
        optimizer moments, batch-norm averages, the generator's state, epoch and history."""
        import json

        net = self.net_
        arrays: dict[str, np.ndarray] = {}
        for i, (p, s) in enumerate(zip(net.params, net.state)):
            for key, value in p.items():
                arrays[f"param.{i}.{key}"] = value
                arrays[f"moment1.{i}.{key}"], arrays[f"moment2.{i}.{key}"] = s[key]
        for i, r in enumerate(net.running):
            for key, value in r.items():
                arrays[f"running.{i}.{key}"] = value
        meta = {"steps": net.steps, "epoch": self.epoch_, "history": self.history_,
                "rng": [g.bit_generator.state for g in net.rngs]}
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def load_state(self, arrays: Any) -> _NeuralNet:
        """Restore a `state()` into a network set up by `begin` on the same data."""
        import json

        net = self.net_
        for i, (p, s) in enumerate(zip(net.params, net.state)):
            for key in p:  # into the packed views, which training updates
                p[key][...] = arrays[f"param.{i}.{key}"]
                s[key][0][...] = arrays[f"moment1.{i}.{key}"]
                s[key][1][...] = arrays[f"moment2.{i}.{key}"]
        for i, r in enumerate(net.running):
            for key in r:
                r[key] = np.array(arrays[f"running.{i}.{key}"])
        meta = json.loads(str(arrays["meta"]))
        net.steps = meta["steps"]
        for generator, state in zip(net.rngs, meta["rng"]):
            generator.bit_generator.state = state
        self.epoch_, self.history_ = meta["epoch"], meta["history"]
        return self

    def _snapshot(self) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
        return ([{k: v.copy() for k, v in p.items()} for p in self.net_.params],
                [{k: v.copy() for k, v in r.items()} for r in self.net_.running])

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        chunks = [self.net_.predict(X[i:i + 4096])[0] for i in range(0, len(X), 4096)]
        return np.concatenate(chunks) if chunks else np.empty((0, self.net_.sizes[-1]))


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """The network for classification: softmax output, cross-entropy loss."""

    _task = "classification"

    def _encode(self, y: np.ndarray) -> np.ndarray:
        self.classes_, index = np.unique(y, return_inverse=True)
        return np.eye(len(self.classes_))[index]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of classes_."""
        with np.errstate(all="ignore"):
            return self._outputs(X).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """The network for regression: identity output, squared error; targets are standardized
    inside, so the learning rate means the same whatever their units."""

    _task = "regression"

    def _encode(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self.y_mean_ = y.mean(axis=0)
        self.y_scale_ = np.where(y.std(axis=0) > 0, y.std(axis=0), 1.0)
        return (y - self.y_mean_) / self.y_scale_

    def predict(self, X: Any) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = self._outputs(X).astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[:, 0] if out.shape[1] == 1 else out
