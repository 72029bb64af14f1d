"""An interactive figure of a run with plotly (the optional extra `plot`): the panels of the
picture (`plot`), in a page that works offline, with hover (trial, score, every parameter) and
zoom. Every trial searched is drawn: complete ones coloured by round, those stopped early as
crosses at the score they were stopped at, so the axes cover the range searched and where the
search gave up shows.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import InputError
from hpsearch.insight import HIGHLIGHT, ScoreAxis, curve_key, curve_of
from hpsearch.space import Space
from hpsearch.trial import Status, TrialResult

if TYPE_CHECKING:
    from hpsearch.result import RunResult

__all__ = ["write_html"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise InputError("plot --out FILE.html needs plotly: pip install 'hpsearch[plot]' (or "
                         "write a .png or .svg)") from None
    return go, make_subplots


def _score_of(result: TrialResult) -> float | None:
    """A complete trial's mean score, a stopped one's score where it was stopped."""
    if result.status is Status.COMPLETE:
        return result.mean
    score = result.extra.get("score") if result.status is Status.PRUNED else None
    return float(score) if isinstance(score, (int, float)) and math.isfinite(score) else None


def _hover(run: RunResult, result: TrialResult, score: float) -> str:
    shown = run.space.format(result.params)
    state = "" if result.status is Status.COMPLETE else \
        f" (stopped at epoch {result.extra.get('epoch', '?')})"
    lines = [f"trial {result.number}, round {result.trial.round}",
             f"score {score:.4f}{state}"]
    lines += [f"{html.escape(n)} = {html.escape(shown[n])}" for n in run.space.dims
              if n in shown]
    return "<br>".join(lines)


def axis_of(space: Space, name: str) -> dict[str, Any]:
    """A parameter's axis: log for log scales, 1 − β reversed for one_minus_log, the options of
    a choice as its ticks."""
    scale = space.scales[name]
    axis: dict[str, Any] = {"title": {"text": scale.axis_label(name)}}
    if scale.log_axis:
        axis["type"] = "log"
    if scale.reversed_axis:
        axis["autorange"] = "reversed"
    ticks = scale.ticks()
    if ticks is not None:
        axis.update(tickmode="array", tickvals=list(ticks[0]), ticktext=list(ticks[1]))
    return axis


def figure(run: RunResult, rounds: Sequence[Mapping[str, Any]], order: Sequence[str]) -> Any:
    """The figure: one panel per parameter, the first two together with the zoom regions and
    the score as colour, and the learning curves when trials recorded them."""
    go, make_subplots = _plotly()
    scored = [(r, s) for r in run.results if (s := _score_of(r)) is not None]
    if not any(r.status is Status.COMPLETE for r, _ in scored):
        raise InputError(f"{run.name}: no complete trial to plot yet")
    dims = [n for n in (order or run.space.dims) if n in run.space.dims]
    curves = curve_key(run.results) is not None
    titles = [*dims] + ([f"{dims[0]} × {dims[1]}: colour = score, boxes = zoom rounds"]
                        if len(dims) >= 2 else []) + (["learning curves"] if curves else [])
    columns = min(3, len(titles))
    rows = -(-len(titles) // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles,
                        horizontal_spacing=0.08, vertical_spacing=0.12)
    where = [(1 + i // columns, 1 + i % columns) for i in range(len(titles))]
    round_numbers = sorted({r.trial.round for r, _ in scored})
    colour = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(round_numbers)}
    axis = ScoreAxis([r.mean for r, _ in scored if r.status is Status.COMPLETE], run.direction)
    edge = "triangle-down" if axis.edge == axis.low else "triangle-up"
    for panel, name in enumerate(dims):
        row, col = where[panel]
        scale = run.space.scales[name]
        for number in round_numbers:
            for stopped in (False, True):
                mine = [(r, s) for r, s in scored if r.trial.round == number and name in r.params
                        and (r.status is Status.PRUNED) == stopped]
                if not mine:
                    continue
                fig.add_trace(go.Scatter(
                    x=[scale.plot_value(r.params[name]) for r, _ in mine],
                    y=[axis.shown(s) for _, s in mine], mode="markers",
                    marker={"color": colour[number], "size": 7 if not stopped else 8,
                            "symbol": [edge if axis.outside(s) else
                                       "x-thin-open" if stopped else "circle" for _, s in mine],
                            "line": {"width": 1.5, "color": colour[number]}},
                    name=f"round {number}" + (", stopped early" if stopped else ""),
                    legendgroup=f"{number}-{stopped}", showlegend=panel == 0,
                    hovertext=[_hover(run, r, s) for r, s in mine], hoverinfo="text"),
                    row=row, col=col)
        fig.update_xaxes(**axis_of(run.space, name), row=row, col=col)
        fig.update_yaxes(title_text="score", range=[axis.low, axis.high], row=row, col=col)
    at = len(dims)
    if len(dims) >= 2:
        _pair(fig, go, run, (dims[0], dims[1]), scored, rounds, colour, where[at], axis)
        at += 1
    if curves:
        _curves(fig, go, run, where[at], axis)
    done = sum(r.status is Status.COMPLETE for r, _ in scored)
    halted = sum(r.status is Status.PRUNED for r, _ in scored)
    worse = sum(axis.outside(s) for _, s in scored)
    fig.update_layout(
        title={"text": f"{html.escape(run.name)}: {done} complete trials"
                       + (f", {halted} stopped early (crosses, at their last score)"
                          if halted else "") + f" ({run.direction.word} score is better)"
                       + (f"<br><sup>{worse} trial{'s' * (worse > 1)} worse than "
                          f"{axis.worst:.4g}: triangles on the edge</sup>" if worse else "")},
        height=380 * rows + 80, autosize=True, hovermode="closest", template="plotly_white")
    return fig


def _pair(fig: Any, go: Any, run: RunResult, pair: tuple[str, str],
          scored: Sequence[tuple[TrialResult, float]], rounds: Sequence[Mapping[str, Any]],
          colour: Mapping[int, str], at: tuple[int, int], axis: ScoreAxis) -> None:
    a, b = pair
    both = [(r, s) for r, s in scored if a in r.params and b in r.params]
    sa, sb = run.space.scales[a], run.space.scales[b]
    row, col = at
    fig.add_trace(go.Scatter(
        x=[sa.plot_value(r.params[a]) for r, _ in both],
        y=[sb.plot_value(r.params[b]) for r, _ in both], mode="markers",
        marker={"color": [axis.shown(s) for _, s in both], "colorscale": "Viridis",
                "cmin": min(axis.worst, axis.best), "cmax": max(axis.worst, axis.best),
                "reversescale": run.direction.word == "lower", "size": 8,
                "symbol": ["x-thin-open" if r.status is Status.PRUNED else "circle"
                           for r, _ in both],
                "colorbar": {"title": {"text": "score"}, "len": 0.3}},
        name="trials", showlegend=False,
        hovertext=[_hover(run, r, s) for r, s in both], hoverinfo="text"), row=row, col=col)
    for entry in rounds:
        if entry["kind"] != "zoom":
            continue
        corners = [[run.space.scales[n].plot_value(run.space.scales[n].from_unit(
            entry[side][run.space.dims.index(n)])) for n in (a, b)] for side in ("lo", "hi")]
        (x0, y0), (x1, y1) = corners
        fig.add_trace(go.Scatter(
            x=[x0, x1, x1, x0, x0], y=[y0, y0, y1, y1, y0], mode="lines",
            line={"color": colour.get(entry["round"], "black"), "width": 1},
            name=f"round {entry['round']}'s region", showlegend=False,
            hovertext=f"round {entry['round']}'s region", hoverinfo="text"), row=row, col=col)
    if run.best is not None and a in run.best.params and b in run.best.params:
        fig.add_trace(go.Scatter(
            x=[sa.plot_value(run.best.params[a])], y=[sb.plot_value(run.best.params[b])],
            mode="markers", marker={"symbol": "star-open", "size": 16, "color": "red"},
            name=f"best (trial {run.best.number})",
            hovertext=_hover(run, run.best, run.best.mean), hoverinfo="text"), row=row, col=col)
    fig.update_xaxes(**axis_of(run.space, a), row=row, col=col)
    fig.update_yaxes(**axis_of(run.space, b), row=row, col=col)


def _curves(fig: Any, go: Any, run: RunResult, at: tuple[int, int], axis: ScoreAxis) -> None:
    """Every recorded learning curve in grey, the best trials' in colour; the axis holds the
    best trials' curves whole and the trials' bulk (a diverging curve runs off it)."""
    found = curve_key(run.results)
    if found is None:
        return
    key, label = found
    traced = [r for r in run.results if r.extra.get("history")]
    best = [r.number for _, r in run.ranked() if r.status is Status.COMPLETE][:HIGHLIGHT]
    row, col = at
    for r in sorted(traced, key=lambda r: r.number in best):
        epochs, values = curve_of(r, key)
        highlighted = r.number in best
        fig.add_trace(go.Scatter(
            x=epochs, y=values, mode="lines",
            line={"width": 2 if highlighted else 1,
                  "color": None if highlighted else "rgba(150,150,150,0.5)"},
            name=f"trial {r.number}: {r.mean:.4g}" if highlighted else f"trial {r.number}",
            showlegend=highlighted, legendgroup="curves",
            hovertext=f"trial {r.number} ({r.status.value})", hoverinfo="text+y"),
            row=row, col=col)
    fig.update_xaxes(title_text="epoch", row=row, col=col)
    kept = [v for r in traced if r.number in best for v in curve_of(r, key)[1]]
    if key == "score" and kept:  # a loss's curve is on its own axis
        low, high = min(*kept, axis.low), max(*kept, axis.high)
        fig.update_yaxes(range=[low - 0.03 * (high - low), high + 0.03 * (high - low)],
                         row=row, col=col)
    fig.update_yaxes(title_text=label, row=row, col=col)


def write_html(run: RunResult, rounds: Sequence[Mapping[str, Any]], order: Sequence[str],
               path: Path) -> Path:
    """The figure as a page that needs no internet (plotly.js inside it)."""
    fig = figure(run, rounds, order)
    try:  # as wide as the window: no sideways scroll
        fig.write_html(str(path), include_plotlyjs=True, full_html=True, default_width="100%",
                       config={"displaylogo": False, "responsive": True})
    except OSError as error:
        raise InputError(f"cannot write {path}: {error}") from None
    return path
