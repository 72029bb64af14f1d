"""Train many networks as one batched computation: each becomes a member of a population.

`fit_together` takes unfitted network estimators, each with its own training data, groups those
that can share a population (same layer count, activation, optimizer, batch size, batch norm,
dtype and number of training rows; hidden units may differ and are padded), and trains each group
in lockstep. Every model ends exactly as if fitted alone with its own seed: same initial weights,
same mini-batch order, same updates (equal within float tolerance; bit-equal when no padding is
needed). Members that diverge, finish their epochs, or are stopped by `on_epoch` leave the
population, which is compacted so no arithmetic is spent on them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.utils.validation import validate_data

from hpsearch.models._estimator import _NeuralNet, hidden_sizes
from hpsearch.models._network import Hyper, Population

__all__ = ["fit_together", "population_key", "member_bytes"]

OnEpoch = Callable[[int, dict[str, float]], bool]


def population_key(estimator: type, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What networks must share to train together, from the class and its full params; None
    when they cannot: another estimator, early stopping with its own validation split, or
    params its constructor would refuse (alone, it fails with a clear error)."""
    if not (isinstance(estimator, type) and issubclass(estimator, _NeuralNet)):
        return None
    try:
        if params["early_stopping"]:
            return None
        activation = params["activation"]
        init = params["init"] if params["init"] != "auto" else ("he" if activation == "relu"
                                                                else "xavier")
        layers = len(hidden_sizes(params["hidden_layers"], params["hidden_units"]))
        return (estimator.__name__, layers, activation, init, params["optimizer"],
                int(params["batch_size"]), bool(params["batch_norm"]), params["dtype"])
    except (KeyError, TypeError, ValueError):  # a subclass's own params, or bad values
        return None


def member_bytes(params: Mapping[str, Any], features: int, outputs: int) -> int:
    """Memory one member needs: weights with their two optimizer moments and gradients, and
    the activations of one mini-batch kept for the backward pass."""
    sizes = [features, *hidden_sizes(params["hidden_layers"], params["hidden_units"]), outputs]
    weights = sum(a * b + 3 * b for a, b in zip(sizes, sizes[1:]))
    activations = int(params["batch_size"]) * sum(sizes) * 6
    return (4 * weights + activations) * np.dtype(params["dtype"]).itemsize


def fit_together(
    models: Sequence[_NeuralNet],
    data: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    validation: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None,
    on_epoch: OnEpoch | None = None,
    max_size: int = 64,
) -> list[BaseException | None]:
    """Fit models[i] on data[i] = (X, y), as members of shared populations.

    Args:
        validation: per model, (X_val, y_val) scored after every epoch (into its history and
            the record given to on_epoch), or None.
        on_epoch: called as on_epoch(i, record) after each epoch of model i; returning True
            stops that model there (its weights are kept as they are).
        max_size: the most members one population holds.

    Returns:
        Per model, None when it trained, or the exception that ended it (a bad
        hyperparameter, a diverging loss).
    """
    outcome: list[BaseException | None] = [None] * len(models)
    ready: list[tuple[int, tuple[Any, ...]]] = []
    encoded: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, (model, (X, y)) in enumerate(zip(models, data)):
        try:
            model.check_params()
            X_checked, y_checked = validate_data(model, X, y, dtype=np.float64,
                                                 y_numeric=model._task == "regression")
            encoded[i] = (X_checked, model._encode(y_checked))
        except (TypeError, ValueError) as error:
            outcome[i] = error
            continue
        key = population_key(type(model), model.get_params())
        if key is None:
            try:
                model.fit(X, y)
            except (ValueError, FloatingPointError) as error:
                outcome[i] = error
            continue
        ready.append((i, (*key, X_checked.shape[0], encoded[i][1].shape[1])))
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, key in ready:
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        for start in range(0, len(members), max_size):
            chunk = members[start:start + max_size]
            _train(chunk, models, encoded, data, validation, on_epoch, outcome)
    return outcome


def _train(chunk: list[int], models: Sequence[_NeuralNet],
           encoded: dict[int, tuple[np.ndarray, np.ndarray]],
           data: Sequence[tuple[np.ndarray, np.ndarray]],
           validation: Sequence[tuple[np.ndarray, np.ndarray] | None] | None,
           on_epoch: OnEpoch | None, outcome: list[BaseException | None]) -> None:
    first = models[chunk[0]]
    dtype = np.dtype(first.dtype).type
    # One stack per distinct data set (the members of a fold share theirs).
    sources: dict[int, int] = {}
    stacks_X: list[np.ndarray] = []
    stacks_Y: list[np.ndarray] = []
    for i in chunk:
        key = id(data[i][0])
        if key not in sources:
            sources[key] = len(stacks_X)
            stacks_X.append(encoded[i][0].astype(dtype))
            stacks_Y.append(encoded[i][1].astype(dtype))
    X, Y = np.stack(stacks_X), np.stack(stacks_Y)
    source = np.array([sources[id(data[i][0])] for i in chunk])
    hidden = [models[i]._hidden() for i in chunk]
    widest = [max(h[layer] for h in hidden) for layer in range(len(hidden[0]))]
    init = population_key(type(first), first.get_params())[3]  # type: ignore[index]
    net = Population(
        [X.shape[2], *widest, Y.shape[2]], task=first._task, activation=first.activation,
        init=init, optimizer=first.optimizer, batch_norm=first.batch_norm,
        hyper=Hyper.of([models[i] for i in chunk]), seeds=[models[i]._seed() for i in chunk],
        dtype=dtype, hidden=hidden,
    )
    members = np.array(chunk)
    histories: dict[int, list[dict[str, float]]] = {i: [] for i in chunk}
    rows = np.broadcast_to(np.arange(X.shape[1]), (len(chunk), X.shape[1]))
    epoch = 0
    while len(members):
        with np.errstate(all="ignore"):
            losses = net.train_epoch(X, Y, rows, int(first.batch_size), epoch, source=source)
        epoch += 1
        keep = []
        for k, i in enumerate(members):
            model = models[i]
            record = {"epoch": epoch, "loss": float(losses[k])}
            if not np.isfinite(losses[k]):
                outcome[i] = FloatingPointError(
                    f"training diverged at epoch {epoch} (loss {losses[k]}); lower "
                    f"learning_rate (now {model.learning_rate:g})")
                continue
            stop = epoch >= model.epochs
            checked = validation[i] if validation is not None else None
            if checked is not None:
                _finish(model, net, k, histories[i] + [record], epoch)
                record["val_score"] = float(model.score(*checked))
            histories[i].append(record)
            if on_epoch is not None and on_epoch(int(i), record):
                stop = True
            if stop:
                _finish(model, net, k, histories[i], epoch)
            else:
                keep.append(k)
        if len(keep) < len(members):  # compact: no arithmetic on members that left
            index = np.array(keep, dtype=int)
            net.take(index)
            members, source = members[index], source[index]
            rows = rows[: len(index)]


def _finish(model: _NeuralNet, net: Population, k: int, history: list[dict[str, float]],
            epoch: int) -> None:
    """Member k of the population becomes the model's own single network."""
    single = copy.copy(net)
    single.take(np.array([k]))
    single.masks = [None] * len(single.masks)  # its own units only: no padding to mask
    width = model._hidden()
    single.params = [{key: _crop(value, key, layer, width) for key, value in p.items()}
                     for layer, p in enumerate(single.params)]
    single.state = [{key: (_crop(m1, key, layer, width), _crop(m2, key, layer, width))
                     for key, (m1, m2) in s.items()} for layer, s in enumerate(single.state)]
    single.running = [{key: _crop(v, key, layer, width) for key, v in r.items()}
                      for layer, r in enumerate(single.running)]
    single.sizes = (single.sizes[0], *width, single.sizes[-1])
    single.pack()
    model.net_ = single
    model.history_ = list(history)
    model.epoch_ = epoch
    model.end()


def _crop(value: np.ndarray, key: str, layer: int, width: list[int]) -> np.ndarray:
    """A member's array without the padding of its narrower layers."""
    out = width[layer] if layer < len(width) else value.shape[-1]
    if key == "W":
        rows = width[layer - 1] if layer > 0 else value.shape[1]
        return value[:, :rows, :out].copy()
    return value[..., :out].copy()
