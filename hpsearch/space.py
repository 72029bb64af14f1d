"""The search space: each hyperparameter's scale maps its value to u in [0, 1] and back.

Sampling is uniform in u, so the scale alone decides where samples land. Everything downstream
(samplers, zoom, plots, importance) speaks u; adding a scale is one class here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hpsearch.errors import ConfigError, did_you_mean

__all__ = [
    "Scale",
    "Uniform",
    "Log",
    "OneMinusLog",
    "Int",
    "Choice",
    "Fixed",
    "Space",
    "SCALES",
    "branches_of",
    "parse_param",
]


def _clip01(u: float) -> float:
    return 0.0 if u < 0.0 else 1.0 if u > 1.0 else u


def _number(value: Any, field: str, scale: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"{field} must be a number for scale '{scale}', got {value!r} "
            f"(of type {type(value).__name__})",
            key=field,
        )
    if not math.isfinite(value):
        raise ConfigError(f"{field} must be finite, got {value!r}", key=field)
    return float(value)


MAX_INT = 2**53  # the largest magnitude every integer below is exact at (as a float, in JSON)


def _integer(value: Any, field: str) -> int:
    number = _number(value, field, "int")
    if not number.is_integer():
        raise ConfigError(
            f"{field} must be a whole number for scale 'int', got {value!r}; "
            "use scale 'uniform' for fractional values",
            key=field,
        )
    if abs(number) > MAX_INT:
        raise ConfigError(f"{field} is beyond what an int parameter holds (at most 2**53 = "
                          f"{MAX_INT:,} in magnitude), got {value!r}", key=field)
    return int(number)


def _bin(u: float, count: int) -> int:
    """The index of the equal-width bin of [0, 1] that u falls in; u = 1 falls in the last."""
    return min(int(u * count), count - 1)


class Scale:
    """A hyperparameter's scale: a pair of maps between its values and u in [0, 1].

    It answers every question the rest of hpsearch asks about a parameter (how to show a value,
    its range, how to narrow it, how to plot it), so that adding a scale is one class here.
    """

    kind: ClassVar[str]
    # The YAML spelling: the keys it takes (those in `optional` may be left out), and which key
    # the short form's argument fills ({log: [1.0e-4, 1]} gives low and high).
    fields: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    short: ClassVar[str] = "range"

    @classmethod
    def build(cls, fields: Mapping[str, Any]) -> Scale:
        """The scale from its YAML keys, checked (ConfigError naming the key)."""
        raise NotImplementedError

    def to_unit(self, value: Any) -> float:
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:
        raise NotImplementedError

    def narrow(self, u_low: float, u_high: float, seen: Sequence[Any] | None = None) -> Scale:
        """The same kind of scale restricted to the values of u in [u_low, u_high]; `seen`, the
        values of the trials the region was drawn around, narrows what has no order (a choice
        keeps the options seen)."""
        raise NotImplementedError

    def to_yaml(self) -> Any:
        """The explicit YAML spelling, which `parse_param` reads back to an equal scale."""
        raise NotImplementedError

    def format(self, value: Any) -> str:
        """The value as a person reads it on this scale (3.2e-03 for log, 0.9973 for β)."""
        return str(value)

    def ends(self) -> tuple[str, str]:
        """The two ends of the range as a person reads them."""
        raise NotImplementedError

    def range_text(self) -> str:
        """The range as a person reads it: 1.00e-04..1.00e+00, 2..4, [relu, tanh]."""
        low, high = self.ends()
        return f"{low}..{high}"

    @property
    def label(self) -> str:
        """The scale's name as shown beside a parameter ('int log' for log-spaced integers)."""
        return self.kind

    @property
    def is_fixed(self) -> bool:
        return False

    @property
    def ordered(self) -> bool:
        """Whether its values lie along a line, so that 'at the edge of the range' means
        something (not so for a choice)."""
        return True

    @property
    def discrete(self) -> bool:
        """Whether it takes finitely many values (integers, options, a step)."""
        return False

    def contains(self, value: Any) -> bool:
        """Whether `value` is one this scale gives (in its range, on its grid, one of its
        options)."""
        try:
            back = self.from_unit(self.to_unit(value))
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            return False
        if isinstance(value, bool) is not isinstance(back, bool):
            return False
        if isinstance(back, float) and isinstance(value, (int, float)):
            return math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-12)
        return bool(back == value)

    def snap(self, u: float) -> float:
        """u moved to the centre of the values it stands for: equal values, equal u."""
        return self.to_unit(self.from_unit(u)) if self.discrete else float(u)

    # -- plotting: the axis a value is drawn on

    @property
    def log_axis(self) -> bool:
        """Whether a plot of this parameter uses a log axis."""
        return False

    def plot_value(self, value: Any) -> Any:
        """The value as plotted (1 − β for one_minus_log, an option's index for a choice)."""
        return value

    def axis_label(self, name: str) -> str:
        return name + (" (log)" if self.log_axis else "")

    @property
    def reversed_axis(self) -> bool:
        """Whether the axis runs the other way, so that the value still grows along it."""
        return False

    def ticks(self) -> tuple[list[Any], list[str]] | None:
        """Tick positions and labels when the axis needs its own (a choice's options)."""
        return None

    def integer_ticks(self) -> int | None:
        """For whole numbers: 0 for whole-number ticks on a linear axis, or the base of the
        powers ticked on a log axis (2 or 10); None for any other scale."""
        return None

    def shrink_text(self, narrowed: Scale, factor: float) -> str:
        """How much a zoom narrowed it, given the factor in u."""
        return "fixed" if factor == math.inf else f"×{factor:.3g}"

    # -- models: what a model of the score sees of this parameter

    def features(self, u: Any) -> Any:
        """Columns for a model, from a column of u (a numpy array, shape (n,)): u itself where
        values lie along a line."""
        return u.reshape(-1, 1)


@dataclass(frozen=True)
class Uniform(Scale):
    """low + u·(high − low); with `step`, every multiple of step from low is equally likely."""

    low: float
    high: float
    step: float | None = None
    kind: ClassVar[str] = "uniform"
    linear: ClassVar[bool] = True  # a step then makes equal bins of u, one per multiple
    fields: ClassVar[tuple[str, ...]] = ("low", "high", "step")
    optional: ClassVar[tuple[str, ...]] = ("step",)

    @classmethod
    def build(cls, fields: Mapping[str, Any]) -> Scale:
        step = fields.get("step")
        return cls(_number(fields["low"], "low", cls.kind),
                   _number(fields["high"], "high", cls.kind),
                   None if step is None else _number(step, "step", cls.kind))

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ConfigError(
                f"low < high must hold for scale '{self.kind}', got low={self.low!r}, "
                f"high={self.high!r}",
                key="low",
            )
        if self.step is not None and not 0 < self.step <= self.high - self.low:
            raise ConfigError(
                f"step must be > 0 and at most high - low, got step={self.step!r}", key="step"
            )

    # Subclasses map values to a line ("position") where samples are uniform.
    def _pos(self, value: float) -> float:
        return value

    def _value(self, pos: float) -> float:
        return pos

    def _grid_count(self) -> int:
        assert self.step is not None
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    def from_unit(self, u: float) -> float:
        u = _clip01(float(u))
        if self.step is not None and self.linear:
            return self.low + _bin(u, self._grid_count()) * self.step
        a, b = self._pos(self.low), self._pos(self.high)
        value = self._value(a + u * (b - a))
        if self.step is not None:  # log with a step: round to the grid of multiples from low
            value = self.low + round((value - self.low) / self.step) * self.step
        return min(max(value, self.low), self.high)

    def to_unit(self, value: Any) -> float:
        a, b = self._pos(self.low), self._pos(self.high)
        return _clip01((self._pos(float(value)) - a) / (b - a))

    def narrow(self, u_low: float, u_high: float, seen: Sequence[Any] | None = None) -> Scale:
        low, high = self.from_unit(u_low), self.from_unit(u_high)
        if not low < high:
            return Fixed(low)
        return type(self)(low, high, self.step if self.step and self.step <= high - low else None)

    @property
    def discrete(self) -> bool:
        return self.step is not None

    def ends(self) -> tuple[str, str]:
        return self.format(self.low), self.format(self.high)

    def to_yaml(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"scale": self.kind, "low": self.low, "high": self.high}
        if self.step is not None:
            spec["step"] = self.step
        return spec

    def format(self, value: Any) -> str:
        return f"{value:.4g}"


@dataclass(frozen=True)
class Log(Uniform):
    """10^(a + u·(b − a)) with a, b the log10 of the bounds: each decade gets the same share."""

    kind: ClassVar[str] = "log"
    linear: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.low <= 0:
            raise ConfigError(
                f"low > 0 must hold for scale 'log', got low={self.low!r}; "
                "bounds are values, not exponents (1.0e-4, not -4)",
                key="low",
            )
        super().__post_init__()

    def _pos(self, value: float) -> float:
        return math.log10(value)

    def _value(self, pos: float) -> float:
        return 10.0**pos

    def format(self, value: Any) -> str:
        return f"{value:.2e}"

    @property
    def log_axis(self) -> bool:
        return True


@dataclass(frozen=True)
class OneMinusLog(Uniform):
    """1 − 10^r with r uniform between log10(1 − low) and log10(1 − high): for β near 1.

    0.9..0.999 gives 0.9..0.99 as many samples as 0.99..0.999.
    """

    kind: ClassVar[str] = "one_minus_log"
    linear: ClassVar[bool] = False
    fields: ClassVar[tuple[str, ...]] = ("low", "high")
    optional: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for field, value in (("low", self.low), ("high", self.high)):
            if not 0 < value < 1:
                raise ConfigError(
                    f"0 < {field} < 1 must hold for scale 'one_minus_log' (β = 1 − 10^r), "
                    f"got {field}={value!r}",
                    key=field,
                )
        if self.step is not None:
            raise ConfigError("scale 'one_minus_log' takes no step", key="step")
        super().__post_init__()

    def _pos(self, value: float) -> float:
        return math.log10(1.0 - value)

    def _value(self, pos: float) -> float:
        return 1.0 - 10.0**pos

    def format(self, value: Any) -> str:
        # Enough digits to show the distance to 1 (0.9973, 0.999912), no trailing zeros.
        digits = max(4, int(-math.log10(max(1.0 - value, 1e-15))) + 3)
        text = f"{value:.{digits}f}".rstrip("0")
        return text + "0" * max(0, 6 - len(text))

    @property
    def log_axis(self) -> bool:
        return True

    def plot_value(self, value: Any) -> Any:
        return 1 - value

    def axis_label(self, name: str) -> str:
        return f"1 − {name} (log)"

    @property
    def reversed_axis(self) -> bool:
        return True  # 1 − β is plotted: reversed, β grows along the axis


@dataclass(frozen=True)
class Int(Scale):
    """Integers low..high, each equally likely; with log=True, uniform in log(value)."""

    low: int
    high: int
    log: bool = False
    step: int | None = None
    kind: ClassVar[str] = "int"
    fields: ClassVar[tuple[str, ...]] = ("low", "high", "log", "step")
    optional: ClassVar[tuple[str, ...]] = ("log", "step")

    @classmethod
    def build(cls, fields: Mapping[str, Any]) -> Scale:
        log = fields.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"log must be true or false, got {log!r}", key="log")
        step = fields.get("step")
        return cls(_integer(fields["low"], "low"), _integer(fields["high"], "high"), log,
                   None if step is None else _integer(step, "step"))

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ConfigError(
                f"low < high must hold for scale 'int', got low={self.low!r}, high={self.high!r}",
                key="low",
            )
        if self.log and self.low < 1:
            raise ConfigError(
                f"low >= 1 must hold for scale 'int' with log: true, got low={self.low!r}",
                key="low",
            )
        if self.step is not None and not 0 < self.step <= self.high - self.low:
            raise ConfigError(
                f"step must be a whole number from 1 to high - low, got step={self.step!r}",
                key="step",
            )

    def _values(self) -> range:
        return range(self.low, self.high + 1, self.step or 1)

    def _log_bounds(self) -> tuple[float, float]:
        # Each integer owns [k - 0.5, k + 0.5) in log space (as Optuna does for log ints).
        return math.log(self.low - 0.5), math.log(self.high + 0.5)

    def from_unit(self, u: float) -> int:
        u = _clip01(float(u))
        values = self._values()
        if not self.log:
            return values[_bin(u, len(values))]
        a, b = self._log_bounds()
        k = round(math.exp(a + u * (b - a)))
        k = self.low + round((k - self.low) / (self.step or 1)) * (self.step or 1)
        return min(max(k, self.low), values[-1])

    def to_unit(self, value: Any) -> float:
        if not self.log:
            values = self._values()
            index = min(max(round((value - self.low) / (self.step or 1)), 0), len(values) - 1)
            return (index + 0.5) / len(values)
        a, b = self._log_bounds()
        return _clip01((math.log(max(float(value), 0.5)) - a) / (b - a))

    def narrow(self, u_low: float, u_high: float, seen: Sequence[Any] | None = None) -> Scale:
        # Rounded outwards: the new range holds every integer the region touches.
        low, high = self.from_unit(u_low), self.from_unit(u_high)
        if low == high:
            return Fixed(low)
        step = self.step if self.step and self.step <= high - low else None
        return Int(low, high, self.log, step)

    def ends(self) -> tuple[str, str]:
        return str(self.low), str(self.high)

    @property
    def label(self) -> str:
        return "int log" if self.log else "int"

    @property
    def discrete(self) -> bool:
        return True

    @property
    def log_axis(self) -> bool:
        return self.log

    def integer_ticks(self) -> int | None:
        """16, 32, 64... when that makes a handful of ticks, else 1, 10, 100..."""
        if not self.log:
            return 0
        return 2 if self.high / self.low <= 2**8 else 10

    def to_yaml(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"scale": "int", "low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec


@dataclass(frozen=True)
class Choice(Scale):
    """One of a list of options, each equally likely: the ⌊u·k⌋-th."""

    values: tuple[Any, ...]
    kind: ClassVar[str] = "choice"
    fields: ClassVar[tuple[str, ...]] = ("values",)
    short: ClassVar[str] = "values"

    @classmethod
    def build(cls, fields: Mapping[str, Any]) -> Scale:
        values = fields["values"]
        if not isinstance(values, list):
            raise ConfigError(
                f"values must be a list for scale 'choice', got {values!r}", key="values"
            )
        return cls(tuple(values))

    def __post_init__(self) -> None:
        if not self.values:
            raise ConfigError(
                "scale 'choice' needs at least one value, got an empty list", key="values"
            )
        if any(_is_nan(v) for v in self.values):
            raise ConfigError("NaN is not an option (no value equals it): remove it or give a "
                              "number", key="values")

    def from_unit(self, u: float) -> Any:
        return self.values[_bin(_clip01(float(u)), len(self.values))]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.values)

    def index(self, value: Any) -> int:
        for i, option in enumerate(self.values):
            if option == value and type(option) is type(value):
                return i
        return self.values.index(value)

    def narrow(self, u_low: float, u_high: float, seen: Sequence[Any] | None = None) -> Scale:
        """The options seen among `seen`, or without it the options whose share of u meets
        [u_low, u_high]."""
        k = len(self.values)
        if seen is not None:
            keep = {self.index(value) for value in seen}
        else:
            keep = {j for j in range(k) if j + 1 > u_low * k and j < u_high * k}
        return Choice(tuple(v for j, v in enumerate(self.values) if j in keep))

    def to_yaml(self) -> dict[str, Any]:
        return {"scale": "choice", "values": list(self.values)}

    def ends(self) -> tuple[str, str]:
        return str(self.values[0]), str(self.values[-1])

    def range_text(self) -> str:
        return "[" + ", ".join(map(str, self.values)) + "]"

    @property
    def ordered(self) -> bool:
        return False

    @property
    def discrete(self) -> bool:
        return True

    def plot_value(self, value: Any) -> Any:
        return self.index(value)

    def ticks(self) -> tuple[list[Any], list[str]] | None:
        return list(range(len(self.values))), [str(v) for v in self.values]

    def features(self, u: Any) -> Any:
        """One-hot columns, two options at distance 1, so that their order means nothing (two
        options need no more than one column)."""
        k = len(self.values)
        if k <= 2:
            return u.reshape(-1, 1)
        import numpy as np

        index = np.minimum((u * k).astype(int), k - 1)
        return np.eye(k)[index] / math.sqrt(2)

    def shrink_text(self, narrowed: Scale, factor: float) -> str:
        left = len(narrowed.values) if isinstance(narrowed, Choice) else 1
        return f"{len(self.values)} → {left} options"


@dataclass(frozen=True)
class Fixed(Scale):
    """A value that is not searched: passed to every trial as is."""

    value: Any
    kind: ClassVar[str] = "fixed"
    fields: ClassVar[tuple[str, ...]] = ("value",)
    short: ClassVar[str] = "value"

    @classmethod
    def build(cls, fields: Mapping[str, Any]) -> Scale:
        return cls(fields["value"])

    def __post_init__(self) -> None:
        if _is_nan(self.value):
            raise ConfigError("NaN is not a value to pass to every trial: give a number, or "
                              "leave the parameter out for its default", key=None)

    def from_unit(self, u: float) -> Any:
        return self.value

    def to_unit(self, value: Any) -> float:
        return 0.5

    def narrow(self, u_low: float, u_high: float, seen: Sequence[Any] | None = None) -> Scale:
        return self

    def ends(self) -> tuple[str, str]:
        return str(self.value), str(self.value)

    def range_text(self) -> str:
        return str(self.value)

    def to_yaml(self) -> Any:
        if isinstance(self.value, (list, dict)):
            return {"scale": "fixed", "value": self.value}
        return self.value

    @property
    def is_fixed(self) -> bool:
        return True


# Every scale by its YAML name: a new scale is a class above and its entry here.
SCALES: dict[str, type[Scale]] = {
    cls.kind: cls for cls in (Uniform, Log, OneMinusLog, Int, Choice, Fixed)
}

# Names other tools use for the same meaning.
ALIASES: dict[str, str] = {
    "linear": "uniform",
    "float": "uniform",
    "real": "uniform",
    "loguniform": "log",
    "log_uniform": "log",
    "log-uniform": "log",
    "reciprocal": "log",
    "one-minus-log": "one_minus_log",
    "oneminuslog": "one_minus_log",
    "integer": "int",
    "int_uniform": "int",
    "uniform_int": "int",
    "categorical": "choice",
    "choices": "choice",
    "options": "choice",
    "constant": "fixed",
    "const": "fixed",
}

# Names whose meaning elsewhere differs from ours: refuse them with the fix, never guess.
_MISLEADING: dict[str, str] = {
    "randint": "'randint' excludes its upper bound in numpy, scipy and Ray Tune; hpsearch's 'int' "
    "includes both bounds: write {scale: int, low: 2, high: 4}",
    "lograndint": "'lograndint' excludes its upper bound in Ray Tune; hpsearch's 'int' includes "
    "both bounds: write {scale: int, low: 16, high: 1024, log: true}",
}

def scale_name(name: Any) -> str:
    """The canonical scale name for a YAML spelling, or a ConfigError with a suggestion."""
    text = str(name).strip().lower()
    text = ALIASES.get(text, text)
    if text in SCALES:
        return text
    if text in _MISLEADING:
        raise ConfigError(_MISLEADING[text], key="scale")
    hint = did_you_mean(text, {**{scale: scale for scale in SCALES}, **ALIASES})
    raise ConfigError(
        f"unknown scale {name!r}; {hint}scales are: {', '.join(SCALES)}", key="scale"
    )


def _build(scale: str, fields: Mapping[str, Any]) -> Scale:
    cls = SCALES[scale]
    for field in fields:
        if field not in cls.fields:
            raise ConfigError(
                f"unknown key {field!r} for scale '{scale}'; {did_you_mean(field, cls.fields)}"
                f"it takes: {', '.join(cls.fields)}", key=str(field))
    for field in cls.fields:
        if field not in fields and field not in cls.optional:
            raise ConfigError(f"scale '{scale}' needs '{field}'", key=field)
    return cls.build(fields)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def parse_param(spec: Any) -> Scale:
    """A scale from its YAML spelling. Errors carry the offending key relative to the parameter.

    Spellings:
        ``{scale: log, low: 1.0e-4, high: 1}`` (explicit), ``{log: [1.0e-4, 1]}`` (short, other
        keys such as ``step`` beside it), ``[relu, tanh]`` (a plain list is a choice), and any
        other plain value (fixed).
    """
    if isinstance(spec, list):
        return _build(Choice.kind, {"values": spec})
    if not isinstance(spec, Mapping):
        return Fixed(spec)
    if "scale" in spec:
        fields = {k: v for k, v in spec.items() if k != "scale"}
        return _build(scale_name(spec["scale"]), fields)
    # `log: true` beside `int: [16, 1024]` is an option, not a second scale.
    shorts = [k for k, v in spec.items() if not isinstance(v, bool) and (
        str(k).lower() in SCALES or str(k).lower() in ALIASES or str(k).lower() in _MISLEADING)]
    if len(shorts) != 1:
        raise ConfigError(
            "give the parameter a scale: {scale: log, low: 1.0e-4, high: 1} or the short form "
            "{log: [1.0e-4, 1]}" + (f"; found several scales {shorts}" if shorts else ""),
            key=None,
        )
    key = shorts[0]
    name = scale_name(key)
    rest = {k: v for k, v in spec.items() if k != key}
    arg = spec[key]
    if SCALES[name].short != "range":  # {choice: [a, b]}, {fixed: 3}
        return _build(name, {SCALES[name].short: arg, **rest})
    if not (isinstance(arg, list) and len(arg) == 2):
        raise ConfigError(
            f"the short form takes [low, high], as in {{{key}: [1, 10]}}; got {arg!r}",
            key=str(key),
        )
    return _build(name, {"low": arg[0], "high": arg[1], **rest})


# A branch of a conditional space: (choice name, option) pairs, the outermost first. A parameter
# inside branches exists in a trial when every pair of one of its paths holds.
Branch = tuple[tuple[str, Any], ...]


def branches_of(spec: Any) -> Mapping[Any, Any] | None:
    """The branches of a conditional choice's YAML spelling, ``{choice: {sgd: {}, adam: {beta2:
    {one_minus_log: [0.99, 0.9999]}}}}``: each option with the parameters it carries. None for
    any other parameter (a choice of a list of values included)."""
    if not isinstance(spec, Mapping):
        return None
    if "scale" in spec:
        name = ALIASES.get(str(spec["scale"]).strip().lower(), str(spec["scale"]).strip().lower())
        values = spec.get("values")
        return values if name == Choice.kind and isinstance(values, Mapping) else None
    if len(spec) != 1:
        return None
    ((key, value),) = spec.items()
    name = ALIASES.get(str(key).strip().lower(), str(key).strip().lower())
    return value if name == Choice.kind and isinstance(value, Mapping) else None


class Space:
    """Named scales, in the order the config gives them, and the branches some live in.

    The unit cube has one dimension per searched (non-fixed) parameter, in sorted name order, so
    that reordering the YAML does not change which points a seed samples. A conditional
    parameter (one that exists only for some options of a choice, `conditions`) has its
    dimension too; a point that leaves it out keeps u = 0.5 there, and its trial gets no value
    for it.
    """

    def __init__(self, scales: Mapping[str, Scale],
                 conditions: Mapping[str, Sequence[Branch]] | None = None) -> None:
        self.scales: dict[str, Scale] = dict(scales)
        self.conditions: dict[str, tuple[Branch, ...]] = {
            name: tuple(tuple((str(c), o) for c, o in path) for path in paths)
            for name, paths in (conditions or {}).items() if paths and name in self.scales}
        searched = (name for name, scale in self.scales.items() if not scale.is_fixed)
        self.dims: tuple[str, ...] = tuple(sorted(searched))

    def __len__(self) -> int:
        return len(self.dims)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.scales == other.scales \
            and self.conditions == other.conditions

    def __repr__(self) -> str:
        return f"Space({self.scales!r}" + (f", {self.conditions!r})" if self.conditions else ")")

    def active(self, name: str, values: Mapping[str, Any]) -> bool:
        """Whether the parameter exists for a trial of these values (always, outside branches)."""
        paths = self.conditions.get(name)
        if not paths:
            return True
        return any(all(c in values and values[c] == o and type(values[c]) is type(o)
                       for c, o in path) for path in paths)

    def from_unit(self, u: Sequence[float]) -> dict[str, Any]:
        """Parameter values (every parameter, fixed ones too) for one point of the unit cube;
        a conditional parameter only when its branch is taken."""
        point = dict(zip(self.dims, u, strict=True))
        values = {name: scale.from_unit(point.get(name, 0.5))
                  for name, scale in self.scales.items()}
        if not self.conditions:
            return values
        return {name: v for name, v in values.items() if self.active(name, values)}

    def to_unit(self, params: Mapping[str, Any]) -> list[float]:
        """The point of a trial's values; 0.5 where it has no value (a branch not taken)."""
        return [self.scales[name].to_unit(params[name]) if name in params else 0.5
                for name in self.dims]

    def snap(self, u: Sequence[float]) -> tuple[float, ...]:
        """A point with each coordinate at the centre of the value it stands for (0.5 for a
        parameter its branches leave out)."""
        if not self.conditions:
            return tuple(self.scales[name].snap(x) for name, x in zip(self.dims, u, strict=True))
        values = self.from_unit(u)
        return tuple(self.scales[name].snap(x) if name in values else 0.5
                     for name, x in zip(self.dims, u, strict=True))

    def searched(self) -> dict[str, Scale]:
        """The searched (not fixed) parameters' scales, in the config's order."""
        return {name: scale for name, scale in self.scales.items() if not scale.is_fixed}

    def restricted(self, scales: Mapping[str, Scale]) -> Space:
        """This space's branches over narrower scales of the same parameters: a parameter whose
        every branch lost its option is left out."""
        def holds(path: Branch) -> bool:
            for c, o in path:
                scale = scales.get(c)
                options = scale.values if isinstance(scale, Choice) else \
                    (scale.value,) if isinstance(scale, Fixed) else ()
                if not any(o == v and type(o) is type(v) for v in options):
                    return False
            return True

        kept, conditions = {}, {}
        for name, scale in scales.items():
            paths = self.conditions.get(name, ())
            if paths:
                paths = tuple(p for p in paths if holds(p))
                if not paths:
                    continue
                conditions[name] = paths
            kept[name] = scale
        return Space(kept, conditions)

    def to_yaml(self) -> dict[str, Any]:
        """The YAML spelling, branches nested as written: `parse` of it gives an equal space."""
        def spelled(name: str) -> Any:
            scale = self.scales[name]
            children = {o: [c for c, paths in self.conditions.items()
                            if any(p[-1] == (name, o) for p in paths)]
                        for o in getattr(scale, "values", ())}
            if not isinstance(scale, Choice) or not any(children.values()):
                return scale.to_yaml()
            return {"choice": {o: {c: spelled(c) for c in self.scales if c in children[o]}
                               for o in scale.values}}

        return {name: spelled(name) for name in self.scales if name not in self.conditions}

    def format(self, params: Mapping[str, Any]) -> dict[str, str]:
        out = {}
        for name, value in params.items():
            scale = self.scales.get(name)
            try:
                out[name] = scale.format(value) if scale is not None else str(value)
            except (TypeError, ValueError):
                out[name] = str(value)
        return out
