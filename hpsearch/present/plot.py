"""Pictures of a run with matplotlib (the optional extra `plot`): score against each parameter on
its own scale, the two parameters that move the score most against each other with each round's
zoom region, and the learning curves of the best trials where trials recorded them.

Every score axis shows the good part of the scores (insight.good_range): the trials far worse are
drawn on its edge as triangles, with their count, instead of stretching it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import InputError
from hpsearch.insight import HIGHLIGHT, ScoreAxis, curve_key, curve_of
from hpsearch.space import Space
from hpsearch.trial import Direction, Status, TrialResult

if TYPE_CHECKING:
    from hpsearch.result import RunResult

__all__ = ["check_out", "figure", "write_plot"]

KINDS = (".png", ".svg", ".html")


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise InputError("plot --out needs matplotlib: pip install 'hpsearch[plot]' (without "
                         "--out, hpsearch plot RUN shows a terminal view)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_out(out: str | Path) -> Path:
    """The figure's path, once it is known a figure can be written there: a known kind of
    file, and matplotlib (plotly for .html) installed. Called before anything is drawn or
    printed."""
    path = Path(out)
    if path.suffix.lower() not in KINDS:
        raise InputError(f"--out {out}: write a .png, .svg or .html file")
    if path.suffix.lower() == ".html":
        from hpsearch.present.interactive import _plotly

        _plotly()
    else:
        _matplotlib()
    return path


def _set_axis(ax: Any, space: Space, name: str, axis: str = "x") -> None:
    """The parameter's axis: its scale (log, 1 − β reversed so that β grows along it, a choice's
    options), whole-number ticks for integers, and its label."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator, StrMethodFormatter

    scale = space.scales[name]
    side = ax.xaxis if axis == "x" else ax.yaxis
    if scale.log_axis:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    ticks, base = scale.ticks(), scale.integer_ticks()
    if ticks is not None:
        side.set_ticks(ticks[0], labels=ticks[1])
    elif base is not None:
        if base:
            side.set_major_locator(LogLocator(base=base))
            side.set_minor_locator(NullLocator())
        else:
            side.set_major_locator(MaxNLocator(integer=True))
        side.set_major_formatter(StrMethodFormatter("{x:g}"))
    side.set_label_text(scale.axis_label(name))
    if scale.reversed_axis:
        (ax.invert_xaxis if axis == "x" else ax.invert_yaxis)()


class _ScoreAxis(ScoreAxis):
    """The score axis (`insight.ScoreAxis`) as matplotlib draws it."""

    @property
    def marker(self) -> str:
        return "v" if self.direction is Direction.MAXIMIZE else "^"

    def draw(self, ax: Any, xs: Sequence[Any], scores: Sequence[float],
             colours: Sequence[Any]) -> None:
        """Points inside the limits as dots, the worse ones as triangles on the edge, counted."""
        inside = [i for i, s in enumerate(scores) if not self.outside(s)]
        out = [i for i, s in enumerate(scores) if self.outside(s)]
        ax.scatter([xs[i] for i in inside], [scores[i] for i in inside],
                   c=[colours[i] for i in inside], s=18, edgecolors="none")
        if out:
            ax.scatter([xs[i] for i in out], [self.edge] * len(out), c=[colours[i] for i in out],
                       marker=self.marker, s=22, edgecolors="none", clip_on=False)
            where = "bottom" if self.direction is Direction.MAXIMIZE else "top"
            trials = "trial" if len(out) == 1 else "trials"
            ax.annotate(f"{len(out)} {trials} worse than {self.worst:.4g}, on the {where} edge",
                        xy=(0.01, 0.01 if where == "bottom" else 0.99), xycoords="axes fraction",
                        va=where, fontsize=7, color="0.35")
        ax.set_ylim(self.low, self.high)


def _parameter_panel(ax: Any, run: RunResult, name: str, done: Sequence[TrialResult],
                     axis: _ScoreAxis, colours: Sequence[Any],
                     stopped: Sequence[tuple[TrialResult, float, Any]] = ()) -> None:
    scale = run.space.scales[name]
    having = [i for i, r in enumerate(done) if name in r.params]  # a conditional one may not
    axis.draw(ax, [scale.plot_value(done[i].params[name]) for i in having],
              [done[i].mean for i in having], [colours[i] for i in having])
    mine = [(r, s, c) for r, s, c in stopped if name in r.params]
    if mine:  # stopped early: crosses at the score they were stopped at, or on the edge
        ax.scatter([scale.plot_value(r.params[name]) for r, _, _ in mine],
                   [axis.edge if axis.outside(s) else s for _, s, _ in mine],
                   c=[c for _, _, c in mine], marker="x", s=18, linewidths=0.8,
                   clip_on=False)
    _set_axis(ax, run.space, name)
    ax.set_ylabel("score (mean over folds)")
    ax.set_title(name)


def _pair_panel(fig: Any, ax: Any, run: RunResult, pair: tuple[str, str],
                done: Sequence[TrialResult], axis: _ScoreAxis, rounds: Sequence[Mapping[str, Any]],
                round_colour: Mapping[int, Any]) -> None:
    """The two parameters that move the score most against each other, coloured by score,
    with each zoom round's region as a box and the best trial as a star."""
    a, b = pair
    done = [r for r in done if a in r.params and b in r.params]
    xs = [run.space.scales[a].plot_value(r.params[a]) for r in done]
    ys = [run.space.scales[b].plot_value(r.params[b]) for r in done]
    cmap = "viridis" if run.direction is Direction.MAXIMIZE else "viridis_r"  # bright = good
    low, high = sorted((axis.worst, axis.best))  # the far worse trials take the end colour
    dots = ax.scatter(xs, ys, c=[r.mean for r in done], s=18, cmap=cmap, edgecolors="none",
                      vmin=low, vmax=high)
    bar = fig.colorbar(dots, ax=ax, extend="min" if run.direction is Direction.MAXIMIZE
                       else "max")
    bar.set_label("score")
    if run.best is not None and a in run.best.params and b in run.best.params:
        ax.scatter([run.space.scales[a].plot_value(run.best.params[a])],
                   [run.space.scales[b].plot_value(run.best.params[b])], marker="*", s=160,
                   facecolors="none", edgecolors="red", label=f"best (trial {run.best.number})")
        ax.legend(loc="best", fontsize=7)
    for entry in rounds:
        if entry["kind"] != "zoom":
            continue
        corners = [[run.space.scales[n].plot_value(run.space.scales[n].from_unit(
            entry[side][run.space.dims.index(n)])) for n in (a, b)] for side in ("lo", "hi")]
        (x0, y0), (x1, y1) = corners
        ax.add_patch(_rectangle((x0, y0), x1 - x0, y1 - y0, fill=False,
                                edgecolor=round_colour.get(entry["round"], "black")))
    # the boxes take their round's colour (the figure's legend): labels on them would overlap
    _set_axis(ax, run.space, a)
    _set_axis(ax, run.space, b, "y")
    ax.set_title(f"{a} × {b}: colour = score, boxes = zoom rounds", fontsize=9)


def _rectangle(*args: Any, **kwargs: Any) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle(*args, **kwargs)


def _curves_panel(ax: Any, run: RunResult) -> bool:
    """The learning curves: every trial's in grey, the best trials' in colour with their score.
    False when no trial recorded one."""
    found = curve_key(run.results)
    if found is None:
        return False
    key, label = found
    direction = run.direction if key != "loss" else Direction.MINIMIZE
    traced = [r for r in run.results if r.extra.get("history")]

    def curve(r: TrialResult) -> tuple[list[Any], list[float]]:
        return curve_of(r, key)

    values = [v for r in traced for v in curve(r)[1]]
    axis = _ScoreAxis(values, direction)
    for r in traced:
        epochs, ys = curve(r)
        ax.plot(epochs, [axis.edge if axis.outside(y) else y for y in ys], lw=0.6,
                color="0.75", zorder=1)
    has_curve = {r.number for r in traced}
    best = [r for _, r in run.ranked()
            if r.status is Status.COMPLETE and r.number in has_curve]
    for r in best[:HIGHLIGHT]:
        epochs, ys = curve(r)
        ax.plot(epochs, [axis.edge if axis.outside(y) else y for y in ys], lw=1.5, zorder=2,
                label=f"trial {r.number}: {r.mean:.4g}")
    from matplotlib.ticker import MaxNLocator

    ax.set_ylim(axis.low, axis.high)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{label} (mean over folds)")
    ax.set_title(f"learning curves: the best {min(HIGHLIGHT, len(best))} in colour, "
                 f"{len(traced)} in all", fontsize=9)
    if best:
        ax.legend(fontsize=7, loc="best")
    return True


def figure(run: RunResult, rounds: Sequence[Mapping[str, Any]], order: Sequence[str]) -> Any:
    """The figure: one panel per parameter (those that move the score most first), the first two
    together with the zoom regions, and the learning curves when trials recorded them."""
    plt = _matplotlib()
    done = [r for r in run.results if r.status is Status.COMPLETE]
    if not done:
        raise InputError(f"{run.name}: no complete trial to plot yet")
    dims = [n for n in (order or run.space.dims) if n in run.space.dims]
    curves = any(r.extra.get("history") for r in run.results)
    panels = len(dims) + (len(dims) >= 2) + curves
    columns = min(3, panels)
    rows = -(-panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    flat = list(axes.flat)
    round_numbers = sorted({r.trial.round for r in done})
    palette = plt.get_cmap("tab10")
    round_colour = {n: palette(i % 10) for i, n in enumerate(round_numbers)}
    colours = [round_colour[r.trial.round] for r in done]
    axis = _ScoreAxis([r.mean for r in done], run.direction)
    stopped = [(r, float(r.extra["score"]), round_colour.get(r.trial.round, "0.5"))
               for r in run.pruned if isinstance(r.extra.get("score"), (int, float))]
    for ax, name in zip(flat, dims):
        _parameter_panel(ax, run, name, done, axis, colours, stopped)
    at = len(dims)
    if len(dims) >= 2:
        _pair_panel(fig, flat[at], run, (dims[0], dims[1]), done, axis, rounds, round_colour)
        at += 1
    if curves and _curves_panel(flat[at], run):
        at += 1
    for ax in flat[at:]:
        ax.set_visible(False)
    title = f"{run.name}: {len(done)} complete trials" + (
        f", {len(stopped)} stopped early (×, at their last score)" if stopped else "") + \
        f" ({run.direction.word} score is better)"
    if len(round_numbers) > 1:
        handles = [plt.Line2D([], [], ls="", marker="o", color=round_colour[n],
                              label=f"round {n}") for n in round_numbers]
        fig.legend(handles=handles, loc="upper right", ncols=min(len(handles), 6), fontsize=8)
        title += ", coloured by round"
    fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def write_plot(run: RunResult, rounds: Sequence[Mapping[str, Any]], order: Sequence[str],
               out: str | Path) -> Path:
    """Write the figure to a .png or .svg file, or an interactive .html page (plotly)."""
    path = check_out(out)
    if path.suffix.lower() == ".html":
        from hpsearch.present.interactive import write_html

        return write_html(run, rounds, order, path)
    plt = _matplotlib()
    fig = figure(run, rounds, order)
    try:
        fig.savefig(path, dpi=100)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error}") from None
    finally:
        plt.close(fig)
    return path
