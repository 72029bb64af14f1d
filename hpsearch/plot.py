"""Pictures of a run with matplotlib (the optional extra `plot`): score against each parameter on
its own scale, the two most important parameters with each round's zoom region, and learning
curves where trials recorded them."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import InputError
from hpsearch.space import Space
from hpsearch.trial import Status

if TYPE_CHECKING:
    from hpsearch.api import RunResult

__all__ = ["write_plot"]


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'hpsearch[plot]' (without it, "
                            "hpsearch plot RUN shows a terminal view)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _axis_values(space: Space, name: str, params: Mapping[str, Any]) -> Any:
    """The value as plotted on its scale's axis."""
    return space.scales[name].plot_value(params[name])


def _set_axis(ax: Any, space: Space, name: str, axis: str = "x") -> None:
    scale = space.scales[name]
    if scale.log_axis:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    ticks = scale.ticks()
    if ticks is not None:
        (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks[0])
        (ax.set_xticklabels if axis == "x" else ax.set_yticklabels)(ticks[1])
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(scale.axis_label(name))
    if axis == "x" and scale.reversed_axis:
        ax.invert_xaxis()


def figure(run: RunResult, rounds: list[dict[str, Any]], order: list[str]) -> Any:
    """The figure: one panel per parameter, the two most important together with the zoom
    regions, and learning curves when trials stored a history."""
    plt = _matplotlib()
    done = [r for r in run.results if r.status is Status.COMPLETE]
    dims = list(order) or list(run.space.dims)
    curves = [r for r in done if r.extra.get("history")]
    panels = len(dims) + (1 if len(dims) >= 2 else 0) + (1 if curves else 0)
    columns = min(3, panels)
    rows = -(-panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    flat = list(axes.flat)
    round_numbers = sorted({r.trial.round for r in done}) or [1]
    cmap = plt.get_cmap("viridis", max(2, len(round_numbers)))
    colours = [cmap(round_numbers.index(r.trial.round)) for r in done]
    scores = [r.mean for r in done]
    for ax, name in zip(flat, dims):
        ax.scatter([_axis_values(run.space, name, r.params) for r in done], scores, c=colours,
                   s=18, edgecolors="none")
        _set_axis(ax, run.space, name)
        ax.set_ylabel("score")
        ax.set_title(name)
    at = len(dims)
    if len(dims) >= 2:
        ax = flat[at]
        at += 1
        a, b = dims[0], dims[1]
        ax.scatter([_axis_values(run.space, a, r.params) for r in done],
                   [_axis_values(run.space, b, r.params) for r in done], c=scores, s=18,
                   cmap="plasma", edgecolors="none")
        for entry in rounds:
            if entry["kind"] != "zoom":
                continue
            corners = [[run.space.scales[n].from_unit(entry[side][run.space.dims.index(n)])
                        for n in (a, b)] for side in ("lo", "hi")]
            lo = [_axis_values(run.space, n, {n: v}) for n, v in zip((a, b), corners[0])]
            hi = [_axis_values(run.space, n, {n: v}) for n, v in zip((a, b), corners[1])]
            ax.add_patch(plt.Rectangle((lo[0], lo[1]), hi[0] - lo[0], hi[1] - lo[1], fill=False,
                                       edgecolor=cmap(round_numbers.index(entry["round"]))
                                       if entry["round"] in round_numbers else "black"))
            ax.annotate(f"round {entry['round']}", (hi[0], hi[1]), fontsize=7)
        _set_axis(ax, run.space, a)
        _set_axis(ax, run.space, b, "y")
        ax.set_title(f"{a} × {b}: colour = score, boxes = zoom rounds", fontsize=9)
    if curves:
        ax = flat[at]
        at += 1
        key = "val_score" if "val_score" in curves[0].extra["history"][0] else "loss"
        for r in curves[:50]:
            history = r.extra["history"]
            ax.plot([h["epoch"] for h in history], [h.get(key) for h in history], lw=0.8,
                    alpha=0.6)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation score" if key == "val_score" else "training loss")
        ax.set_title("learning curves (mean over folds)")
    for ax in flat[at:]:
        ax.set_visible(False)
    fig.suptitle(f"{run.name}: {len(done)} complete trials, colour by round "
                 f"({', '.join(map(str, round_numbers))})")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def write_plot(run: RunResult, rounds: list[dict[str, Any]], order: list[str],
               out: str | Path) -> Path:
    """Write the figure to a .png, .svg or .html file (an SVG inside a small page)."""
    path = Path(out)
    kind = path.suffix.lower()
    if kind not in (".png", ".svg", ".html"):
        raise InputError(f"--out {out}: write a .png, .svg or .html file")
    fig = figure(run, rounds, order)
    plt = _matplotlib()
    try:
        if kind == ".html":
            buffer = io.BytesIO()
            fig.savefig(buffer, format="svg")
            data = base64.b64encode(buffer.getvalue()).decode()
            path.write_text(f"<!doctype html><meta charset=utf-8><title>{run.name}</title>"
                            f"<img alt='{run.name}' src='data:image/svg+xml;base64,{data}'>\n")
        else:
            fig.savefig(path, dpi=100)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error}") from None
    finally:
        plt.close(fig)
    return path
