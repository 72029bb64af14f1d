"""Panda mode: one model, trained epoch by epoch and steered by hand while it trains.

The run folder holds a control file, ``control.yaml``, written with the current values and read
after every epoch: a changed hot hyperparameter (learning rate, β, decay, ...) applies from the
next epoch and is recorded with it; a structural one (layers, units, ...) is refused, since it
would need a new model; ``state: pause`` waits, ``state: stop`` saves and ends. Every epoch the
weights and the optimizer's state go to ``checkpoint.npz``, so ``--resume`` goes on tomorrow
exactly where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hpsearch.config import Config, EstimatorSpec, load_config
from hpsearch.errors import InputError, ObjectiveError
from hpsearch.store.database import RunStore

__all__ = ["Babysitter", "CONTROL_NAME", "CHECKPOINT_NAME"]

STATES = ("run", "pause", "stop")
CONTROL_NAME = "control.yaml"
CHECKPOINT_NAME = "checkpoint.npz"


class Babysitter:
    """One model of a config, in a run folder of its own.

    Create with `start` (a new model) or `resume` (from the folder's checkpoint); then `step`
    trains one epoch and reads the control file, or `run` steps until the end or a stop.
    """

    def __init__(self, store: RunStore, cfg: Config, params: dict[str, Any],
                 model: Any) -> None:
        self.store, self.cfg, self.params, self.model = store, cfg, params, model
        self.state = "run"
        self.messages: list[str] = []  # what the last control read refused or changed
        self._refused: set[tuple[str, str]] = set()
        self.hot = tuple(k for k in getattr(model, "hot_params", _default_hot())
                         if k in model.get_params())

    # -- creating

    @classmethod
    def start(cls, config: str | Path, params: Mapping[str, Any], *, name: str | None = None,
              runs_dir: str | Path = "runs") -> Babysitter:
        """A new model with `params` (the config's fixed values beside them) in a new run."""
        cfg = load_config(config)
        if name is not None:
            from hpsearch.config import check_name

            cfg = cfg.replace(name=check_name(name))
        values = _params(cfg, params)
        model = _model(cfg, values)
        store = RunStore.create(runs_dir, cfg.name, cfg.to_dict())
        store.set_meta(mode="babysit", params=_jsonable(values))
        sitter = cls(store, cfg, values, model)
        sitter._begin()
        sitter.write_control()
        return sitter

    @classmethod
    def resume(cls, run: str | Path, runs_dir: str | Path = "runs") -> Babysitter:
        """The model of a babysat run, restored from its checkpoint."""
        from hpsearch.store.folder import resolve_run

        store = RunStore.open(resolve_run(run, runs_dir))
        try:
            store.lock()
            meta = store.meta()
            if meta.get("mode") != "babysit":
                raise InputError(f"{store.path} is a search, not a babysat model: resume it "
                                    "with hpsearch resume")
            checkpoint = store.path / CHECKPOINT_NAME
            if not checkpoint.is_file():
                raise InputError(f"{store.path} has no {CHECKPOINT_NAME} yet (it stopped "
                                    "before its first epoch ended): start it again")
            cfg = load_config(store.config())
            values = meta["params"]
            sitter = cls(store, cfg, values, _model(cfg, values))
            sitter._begin()
            with np.load(checkpoint, allow_pickle=False) as saved:
                sitter.model.load_state(saved)
        except BaseException:
            store.close()
            raise
        sitter.write_control()  # asked to go on: state run, with the values in force
        return sitter

    def _begin(self) -> None:
        from sklearn.base import is_classifier

        from hpsearch.objective import prepared_folds

        assert self.cfg.data is not None
        X_train, y_train, X_val, y_val = prepared_folds(
            self.cfg.data, self.cfg.cv, self.cfg.search.seed, is_classifier(self.model))[0]
        self.model.begin(X_train, y_train, validation=(X_val, y_val))

    # -- the control file

    @property
    def control_path(self) -> Path:
        return self.store.path / CONTROL_NAME

    def write_control(self) -> None:
        """The control file with the current values, and what each part means."""
        params = self.model.get_params()
        hot = {k: params[k] for k in self.hot}
        fixed = {k: v for k, v in params.items() if k not in self.hot}
        lines = ["# hpsearch babysit: edit and save this file; it is read after every epoch.",
                 "# state: run, pause (waits here) or stop (saves; hpsearch babysit --resume "
                 f"{self.store.path} goes on)",
                 f"state: {self.state}",
                 "# Hot hyperparameters: a change applies from the next epoch.",
                 yaml.safe_dump(_jsonable(hot), sort_keys=False).strip(),
                 "# Structural, fixed for this model (a change is refused: it needs a new model):"]
        lines += [f"#   {line}" for line in
                  yaml.safe_dump(_jsonable(fixed), sort_keys=False).strip().splitlines()]
        _write_atomic(self.control_path, "\n".join(lines) + "\n")

    def read_control(self) -> None:
        """Apply the control file: state, hot changes (recorded), refusals (in `messages`)."""
        self.messages = []
        try:
            wanted = yaml.safe_load(self.control_path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            self.messages.append(f"{CONTROL_NAME} unreadable ({type(error).__name__}); "
                                 "keeping the current values")
            return
        if not isinstance(wanted, dict):
            self.messages.append(f"{CONTROL_NAME} is not a mapping; keeping the current values")
            return
        state = str(wanted.pop("state", self.state)).lower()
        if state in STATES:
            self.state = state
        else:
            self.messages.append(f"state {state!r} unknown: use run, pause or stop")
        params = self.model.get_params()
        changes = {}
        for key, value in wanted.items():
            if key not in params:
                self._refuse(key, f"{key}: not a parameter of {type(self.model).__name__}")
            elif key not in self.hot:
                if value != params[key]:
                    self._refuse(key, f"{key}: refused, it is structural (the model keeps "
                                      f"{params[key]!r}); start a new babysit to change it")
            elif value != params[key]:
                changes[key] = value
        for key, value in list(changes.items()):
            try:
                _checked(type(self.model)(**{**params, key: value}))
            except (TypeError, ValueError) as error:
                self._refuse(key, f"{key}: refused, {error}")
                del changes[key]
        if not changes:
            return
        epoch = self.model.epoch_ + 1
        for key, value in changes.items():
            self.store.add_change(epoch, key, params[key], value)
            self.messages.append(f"epoch {epoch}: {key} {params[key]!r} → {value!r}")
        self.model.set_params(**changes)
        self.params.update(changes)
        self.store.set_meta(params=_jsonable(self.params))

    def _refuse(self, key: str, message: str) -> None:
        if (key, message) not in self._refused:  # say it once, not every epoch
            self._refused.add((key, message))
            self.messages.append(message)

    # -- training

    @property
    def done(self) -> bool:
        return self.model.epoch_ >= self.model.epochs

    def step(self) -> dict[str, Any]:
        """Train one epoch, record it, save the checkpoint, then read the control file."""
        start = time.perf_counter()
        model = self.model
        record = model.train_epoch()
        seconds = time.perf_counter() - start
        # the rate the model says it used, else its learning_rate parameter
        rate = float(record.get("learning_rate", getattr(model, "learning_rate", 0.0)))
        self.store.add_epoch(record["epoch"], record["loss"], record.get("val_score"), rate,
                             seconds)
        _write_checkpoint(self.store.path / CHECKPOINT_NAME, self.model.state())
        self.read_control()
        return {**record, "learning_rate": rate, "seconds": seconds}

    def run(self, on_epoch: Callable[[Babysitter, dict[str, Any]], None] | None = None,
            on_pause: Callable[[Babysitter], None] | None = None, poll: float = 0.5) -> str:
        """Step until the epochs are done or the control file says stop; returns why it
        ended: done or stopped."""
        self.read_control()
        self.store.set_meta(status="running")
        try:
            while True:
                while self.state == "pause":
                    if on_pause is not None:
                        on_pause(self)
                    time.sleep(poll)
                    self.read_control()
                if self.state == "stop":
                    self.store.set_meta(status="interrupted")
                    return "stopped"
                if self.done:
                    self.store.set_meta(status="finished")
                    return "done"
                record = self.step()
                if on_epoch is not None:
                    on_epoch(self, record)
        except BaseException:
            self.store.set_meta(status="interrupted")
            raise

    def close(self) -> None:
        self.store.close()


def _default_hot() -> tuple[str, ...]:
    """What a model without its own `hot_params` may change while it trains: what the built-in
    network may."""
    from hpsearch.models import NeuralNetClassifier

    return NeuralNetClassifier.hot_params


def _params(cfg: Config, given: Mapping[str, Any]) -> dict[str, Any]:
    """The model's values: the given ones, else the config's fixed ones, else each searched
    parameter's middle value."""
    unknown = [k for k in given if k not in cfg.space.scales and k not in cfg.objective.fixed]
    values = cfg.objective.params(
        {name: scale.from_unit(0.5) for name, scale in cfg.space.scales.items()})
    values.update(given)
    if unknown:
        import logging

        logging.getLogger("hpsearch").warning("params not in the config's space: %s (used as "
                                              "given)", ", ".join(unknown))
    return values


def _model(cfg: Config, values: Mapping[str, Any]) -> Any:
    from hpsearch.objective import import_target

    if not isinstance(cfg.objective, EstimatorSpec) or cfg.data is None:
        raise ObjectiveError("babysit trains an estimator on data: the config needs "
                             "objective.estimator (the built-in network) and a data section")
    cls = import_target(str(cfg.objective.target), cfg.objective.path)
    needed = ("begin", "train_epoch", "state", "load_state", "get_params", "set_params")
    if not all(hasattr(cls, name) for name in needed):
        raise ObjectiveError(f"babysit needs a model it can train epoch by epoch and save "
                             f"({', '.join(needed)}), such as "
                             f"hpsearch.models:NeuralNetClassifier; {cls.__name__} is not one")
    model = cls(**values)
    if "epochs" not in model.get_params():
        raise ObjectiveError(f"babysit needs to know how long to train: {cls.__name__} has no "
                             "epochs parameter")
    if "random_state" in model.get_params() and model.random_state is None:
        model.set_params(random_state=cfg.search.seed)
    return _checked(model)


def _checked(model: Any) -> Any:
    """The model, after its own check of its values when it has one (ValueError if bad)."""
    check = getattr(model, "check_params", None)
    if check is not None:
        check()
    return model


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(values), default=str))


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _write_checkpoint(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    temporary = path.with_name(path.stem + ".tmp.npz")
    np.savez(temporary, **arrays)  # type: ignore[arg-type]
    os.replace(temporary, path)  # a crash mid-write never leaves a broken checkpoint
