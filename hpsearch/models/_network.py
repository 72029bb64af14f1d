"""A population of fully-connected networks trained in lockstep, in numpy.

Every array carries a leading population axis K: weights are (K, n_in, n_out), a mini-batch is
(K, B, n_features), and per-member hyperparameters (learning rate, decay, β1, β2, ε, L2,
batch-norm momentum) are vectors of length K. K small matrix products become one batched
``np.matmul`` and each elementwise step one numpy call for all K, which saves numpy's per-call
overhead but no arithmetic: small networks train several times faster together, the
quickstart's about 1.2x (benchmarks/population.py says where the time goes). A single network
is the population of one, so both paths run the very same code.

Each member draws its initial weights and its mini-batch order from its own seed, in the same
order as it would alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Hyper", "Population", "ACTIVATIONS", "OPTIMIZERS"]

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
ACTIVATIONS = ("relu", "tanh", "sigmoid")
BN_EPS = 1e-5
# The optimizer updates as many members at once as keep its four flat buffers (parameters, two
# moments, gradients) within this many bytes: about half of a core's L2 cache, measured best.
UPDATE_BYTES = 2**20


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # a sigmoid that never overflows


def _act_grad(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """d activation / dz, from the pre-activation z and the activation a."""
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "tanh":
        return 1.0 - a * a
    return a * (1.0 - a)


@dataclass
class Hyper:
    """Per-member scalar hyperparameters, each an array of length K. Its fields are the one list
    of the network's scalar hyperparameters: the ones a member may differ in from the others of
    its population, and (with batch_size and epochs) the ones babysitting may change."""

    learning_rate: np.ndarray
    lr_decay: np.ndarray
    beta1: np.ndarray
    beta2: np.ndarray
    epsilon: np.ndarray
    l2: np.ndarray
    bn_momentum: np.ndarray

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(cls.__dataclass_fields__)

    @classmethod
    def of(cls, models: Sequence[Any]) -> Hyper:
        """The hyperparameters of some models (anything with these attributes), one per member."""
        return cls(*(np.array([float(getattr(m, name)) for m in models])
                     for name in cls.names()))

    def rate(self, epoch: int) -> np.ndarray:
        """Each member's learning rate in an epoch (from 0): α0 / (1 + decay·epoch)."""
        return self.learning_rate / (1.0 + self.lr_decay * epoch)

    def take(self, keep: np.ndarray) -> Hyper:
        return Hyper(*(getattr(self, name)[keep] for name in self.names()))


class Population:
    """K networks of one architecture: layer sizes, activation, optimizer kind, batch norm.

    Args:
        sizes: units per layer, input first and output last, e.g. (64, 128, 128, 10).
        task: "classification" (softmax output, cross-entropy) or "regression" (identity output,
            half mean squared error).
        seeds: one per member; fixes its initial weights and its mini-batch order.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        task: str,
        activation: str,
        init: str,
        optimizer: str,
        batch_norm: bool,
        hyper: Hyper,
        seeds: Sequence[int],
        dtype: type = np.float32,
        hidden: Sequence[Sequence[int]] | None = None,
    ) -> None:
        self.sizes = tuple(sizes)
        self.task = task
        self.activation = activation
        self.optimizer = optimizer
        self.batch_norm = batch_norm
        self.hyper = hyper
        self.dtype = np.dtype(dtype)
        self.rngs = [np.random.default_rng(s) for s in seeds]
        self.steps = 0
        self._rows: dict[tuple[int, bool], np.ndarray] = {}
        self._penalized = bool(np.any(hyper.l2))
        self.params: list[dict[str, np.ndarray]] = []
        self.running: list[dict[str, np.ndarray]] = []  # batch-norm running mean and variance
        gain = {"he": 2.0, "xavier": 1.0}
        last = len(self.sizes) - 2
        # Each member's own layer sizes; smaller ones are padded to `sizes` and masked, so the
        # padded units stay exactly zero and never change the member's result.
        own = [[self.sizes[0], *h, self.sizes[-1]] for h in hidden] if hidden is not None \
            else [list(self.sizes)] * len(seeds)
        self.masks: list[np.ndarray | None] = []
        for layer in range(1, len(self.sizes) - 1):
            width = np.array([m[layer] for m in own])
            full = width.min() == self.sizes[layer]
            self.masks.append(None if full else (np.arange(self.sizes[layer])[None, :]
                                                 < width[:, None]).astype(self.dtype)[:, None])
        for layer, (n_in, n_out) in enumerate(zip(self.sizes, self.sizes[1:])):
            W = np.zeros((len(seeds), n_in, n_out))
            for k, (rng, m) in enumerate(zip(self.rngs, own)):
                scale = np.sqrt(gain["xavier" if layer == last else init] / m[layer])
                W[k, :m[layer], :m[layer + 1]] = rng.standard_normal((m[layer], m[layer + 1])) \
                    * scale
            p = {"W": W.astype(self.dtype)}
            if batch_norm and layer != last:  # normalized layers have no bias: β replaces it
                p["gamma"] = np.ones((len(seeds), 1, n_out), self.dtype)
                p["beta"] = np.zeros((len(seeds), 1, n_out), self.dtype)
                self.running.append({"mean": np.zeros((len(seeds), 1, n_out), self.dtype),
                                     "var": np.ones((len(seeds), 1, n_out), self.dtype)})
            else:
                p["b"] = np.zeros((len(seeds), 1, n_out), self.dtype)
            self.params.append(p)
        self.state = [{k: (np.zeros_like(v), np.zeros_like(v)) for k, v in p.items()}
                      for p in self.params]
        self.pack()

    @property
    def size(self) -> int:
        return len(self.rngs)

    def pack(self) -> None:
        """Lay every member's parameters, and both optimizer moments, out in one flat row each:
        `params` and `state` become views into them, so one update is a dozen numpy calls on
        three (K, P) arrays instead of a dozen per parameter array."""
        K = self.size
        entries = [(i, key, value.shape[1:]) for i, p in enumerate(self.params)
                   for key, value in p.items()]
        total = sum(int(np.prod(shape)) for _, _, shape in entries)
        flat = [np.empty((K, total), self.dtype) for _ in range(4)]  # params, moments, grads
        self._grads: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        offset = 0
        for i, key, shape in entries:
            size = int(np.prod(shape))
            columns = slice(offset, offset + size)
            moments = self.state[i][key]
            views = []
            for buffer, value in zip(flat, (self.params[i][key], *moments, None)):
                if value is not None:
                    buffer[:, columns] = value.reshape(K, size)
                views.append(buffer[:, columns].reshape(K, *shape))
            self.params[i][key] = views[0]
            self.state[i][key] = (views[1], views[2])
            self._grads[i][key] = views[3]
            offset += size
        self._flat = flat
        self._entries = entries

    def _column(self, values: np.ndarray) -> np.ndarray:
        return values.astype(self.dtype).reshape(-1, 1, 1)

    def _over_batch(self, x: np.ndarray, out: np.ndarray | None = None,
                    mean: bool = False) -> np.ndarray:
        """The sum (or mean) over the batch axis, (K, B, n) -> (K, 1, n). A product with a row
        of ones (or of 1/B): numpy's own sum along a middle axis is several times slower at
        these sizes."""
        B = x.shape[1]
        row = self._rows.get((B, mean))
        if row is None:
            row = self._rows[B, mean] = np.full((1, 1, B), 1 / B if mean else 1, self.dtype)
        return np.matmul(row, x, out=out)

    # -- forward and backward

    def forward(self, X: np.ndarray, train: bool) -> tuple[np.ndarray, list[tuple]]:
        """The output layer's pre-activations (K, B, n_out) and what backward needs."""
        a = X
        caches: list[tuple[np.ndarray, Any]] = []
        hidden = len(self.params) - 1
        if self.batch_norm and train:
            m = self._column(self.hyper.bn_momentum)
            rest = 1 - m
        for layer, p in enumerate(self.params):
            z = np.matmul(a, p["W"])
            if layer == hidden:
                caches.append((a, None))
                z += p["b"]
                return z, caches
            if self.batch_norm:
                running = self.running[layer]
                if train:
                    mean = self._over_batch(z, mean=True)
                    centred = z - mean
                    var = self._over_batch(np.square(centred), mean=True)
                    running["mean"] = m * running["mean"] + rest * mean
                    running["var"] = m * running["var"] + rest * var
                else:
                    mean, var = running["mean"], running["var"]
                    centred = z - mean
                inv_std = 1.0 / np.sqrt(var + BN_EPS)
                z_hat = centred * inv_std
                u = p["gamma"] * z_hat + p["beta"]
                bn = (z_hat, inv_std)
            else:
                u = z
                u += p["b"]  # z is this layer's own fresh array
                bn = None
            out = _act(self.activation, u)
            if self.masks[layer] is not None:
                out = out * self.masks[layer]
            caches.append((a, (u, out, bn)))
            a = out
        raise AssertionError("unreachable")  # pragma: no cover

    def loss_and_grads(
        self, X: np.ndarray, Y: np.ndarray
    ) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
        """Per-member loss (K,) on a batch and the gradients of its mean, L2 included.

        Y is one-hot (K, B, classes) for classification, targets (K, B, 1) for regression.
        The gradients are views into one buffer, which the next call overwrites.
        """
        out, caches = self.forward(X, train=True)
        B = X.shape[1]
        if self.task == "classification":
            # The row maxima through a (K, classes, B) copy: reducing the short last axis
            # directly is several times slower.
            top = np.ascontiguousarray(out.transpose(0, 2, 1)).max(axis=1)[:, :, None]
            shifted = out - top
            e = np.exp(shifted)
            total = np.matmul(e, np.ones((out.shape[2], 1), self.dtype))
            log_p = shifted - np.log(total)
            loss = -(Y * log_p).sum(axis=(1, 2)) / B
            e /= total  # the probabilities
            e -= Y
            e /= B
            d = e
        else:
            diff = out - Y
            loss = 0.5 * (diff * diff).sum(axis=(1, 2)) / B
            d = diff / B
        penalized = self._penalized
        l2 = self._column(self.hyper.l2)
        grads = self._grads  # views into one flat buffer: `step` updates it in one go
        for layer in range(len(self.params) - 1, -1, -1):
            p = self.params[layer]
            a_in, hidden = caches[layer]
            if hidden is not None:  # back through the mask, the activation and batch norm
                u, out_a, bn = hidden
                if self.masks[layer] is not None:
                    d = d * self.masks[layer]
                d = d * _act_grad(self.activation, u, out_a)
                if bn is not None:
                    z_hat, inv_std = bn
                    self._over_batch(d * z_hat, out=grads[layer]["gamma"])
                    self._over_batch(d, out=grads[layer]["beta"])
                    d_hat = d * p["gamma"]
                    d = d_hat - self._over_batch(d_hat, mean=True)
                    d -= z_hat * self._over_batch(d_hat * z_hat, mean=True)
                    d *= inv_std
                else:
                    self._over_batch(d, out=grads[layer]["b"])
            else:
                self._over_batch(d, out=grads[layer]["b"])
            W = p["W"]
            np.matmul(a_in.transpose(0, 2, 1), d, out=grads[layer]["W"])
            if penalized:  # skipped when no member has L2: two full passes over the weights
                grads[layer]["W"] += l2 / B * W
                loss = loss + 0.5 * self.hyper.l2 / B * (W * W).sum(axis=(1, 2))
            if layer:
                d = np.matmul(d, W.transpose(0, 2, 1))
        return loss, grads

    # -- optimization

    def step(self, grads: list[dict[str, np.ndarray]], epoch: int) -> None:
        """One update of every member: its own learning rate, decayed as α0 / (1 + decay·epoch)."""
        self.steps += 1
        h = self.hyper
        lr, eps = h.rate(epoch), h.epsilon
        if self.optimizer == "adam":  # bias corrections folded into the step size
            t = self.steps
            second = np.sqrt(1 - h.beta2**t)
            lr, eps = lr * second / (1 - h.beta1**t), eps * second
        # One (4, K, 1) array in the parameters' dtype: a column per scalar.
        lr, b1, b2, eps = np.array([lr, h.beta1, h.beta2, eps], self.dtype)[:, :, None]
        if grads is not self._grads:  # gradients from elsewhere: into the flat buffer
            for i, key, _ in self._entries:
                self._grads[i][key][...] = grads[i][key]
        p, v, sq, g = self._flat
        # A few members at a time, so the update's dozen passes over the four flat buffers stay
        # in the core's cache: a large population's update would otherwise be memory-bound.
        rows = max(1, UPDATE_BYTES // (4 * p[0].nbytes))
        if rows >= self.size:
            self._update(p, v, sq, g, lr, b1, b2, eps)
            return
        for start in range(0, self.size, rows):
            b = slice(start, start + rows)
            self._update(p[b], v[b], sq[b], g[b], lr[b], b1[b], b2[b], eps[b])

    def _update(self, p: np.ndarray, v: np.ndarray, sq: np.ndarray, g: np.ndarray,
                lr: np.ndarray, b1: np.ndarray, b2: np.ndarray, eps: np.ndarray) -> None:
        """The optimizer's step on (some members' rows of) the flat buffers, in place, through
        the gradient buffer (it is not needed afterwards)."""
        if self.optimizer == "sgd":
            g *= lr
            p -= g
            return
        if self.optimizer in ("momentum", "adam"):
            v *= b1
            v += (1 - b1) * g
        if self.optimizer in ("rmsprop", "adam"):
            sq *= b2
            sq += (1 - b2) * np.square(g)
        if self.optimizer == "momentum":
            np.multiply(v, lr, out=g)
            p -= g
            return
        np.divide(v if self.optimizer == "adam" else g, np.sqrt(sq) + eps, out=g)
        g *= lr
        p -= g

    def train_epoch(self, X: np.ndarray, Y: np.ndarray, rows: np.ndarray, batch_size: int,
                    epoch: int, source: np.ndarray | None = None) -> np.ndarray:
        """One pass over each member's training rows (K, n), shuffled by its own generator.

        X (n_all, features) and Y (n_all, outputs) are shared by all members; or, with
        `source` (K,), they are stacks (S, n_all, ...) and member k reads stack source[k].
        Returns each member's mean batch loss (K,).
        """
        self._penalized = bool(np.any(self.hyper.l2))  # once an epoch, not every step
        order = np.stack([rows[k][rng.permutation(rows.shape[1])]
                          for k, rng in enumerate(self.rngs)])
        total = np.zeros(self.size)
        batches = 0
        pick = None if source is None else source[:, None]
        for start in range(0, order.shape[1], batch_size):
            index = order[:, start:start + batch_size]
            if pick is None:
                loss, grads = self.loss_and_grads(X[index], Y[index])
            else:
                loss, grads = self.loss_and_grads(X[pick, index], Y[pick, index])
            self.step(grads, epoch)
            total += loss
            batches += 1
        return total / batches

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Outputs (K, n, n_out) for inputs X (n, features) shared by all members, or (K, n,
        features) one set per member: probabilities for classification, values for
        regression. Batch norm uses the running averages."""
        X = np.asarray(X, self.dtype)
        if X.ndim == 2:
            X = np.broadcast_to(X, (self.size, *X.shape))
        out, _ = self.forward(X, train=False)
        if self.task == "classification":
            out = np.exp(out - out.max(axis=2, keepdims=True))
            out /= out.sum(axis=2, keepdims=True)
        return out

    def take(self, keep: np.ndarray) -> None:
        """Keep only the members `keep` (indices), so no arithmetic is spent on the others."""
        self.params = [{k: v[keep] for k, v in p.items()} for p in self.params]
        self.masks = [None if m is None else m[keep] for m in self.masks]
        self.state = [{k: (v[keep], sq[keep]) for k, (v, sq) in s.items()} for s in self.state]
        self.running = [{k: v[keep] for k, v in r.items()} for r in self.running]
        self.hyper = self.hyper.take(keep)
        self.rngs = [self.rngs[i] for i in keep]
        self.pack()
