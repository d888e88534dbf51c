"""Plotly figures of the report. Each function takes plain records and returns a ``go.Figure``.

Measured and published points always differ in symbol and colour and say so in the legend and
hover text; plotly is untyped, so figures travel as ``Any``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import BaseModel, ConfigDict

from agimeter.analysis.entry_model import LatencyPoint, ModelEntry
from agimeter.analysis.progress import DensityReport, ParetoReport
from agimeter.analysis.trends import DAYS_PER_YEAR, BandPoint, TrendFit, TrendPoint

Figure = Any
SYMBOL = {"measured": "diamond", "published": "circle"}
COLOUR = {"measured": "#d62728", "published": "#1f77b4"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
PERCENTILE_DASH = {"p50": "solid", "p90": "dash", "p95": "dashdot", "p99": "dot"}
LATENCY_METRICS = (("ttft", "TTFT"), ("tpot", "TPOT"), ("e2e", "E2E"))
LAYOUT: dict[str, Any] = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 60, "b": 50}, "height": 460}


class ScatterPoint(BaseModel):
    """One model on a scatter: the figure-side view of a Pareto or trend point."""

    model_config = ConfigDict(extra="forbid")

    key: str
    label: str
    provenance: str
    x: float | dt.date
    y: float
    on_frontier: bool = False
    dominated: bool = False
    group: str = "all"  # the points it is compared with (Pareto: cost kind, coverage)
    error: tuple[float, float] | None = None  # distances below and above y (a 95% CI)


def _hover(p: ScatterPoint, x_label: str, y_label: str) -> str:
    return f"{p.label}<br>{p.provenance}<br>{x_label}: {p.x}<br>{y_label}: {p.y:.3g}"


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def radar(measured: Sequence[ModelEntry], reference: Sequence[ModelEntry], axes: Sequence[str]) -> Figure:
    """Per-dimension capability (0 = chance, 100 = perfect); published entries dotted, for reference.
    A measured entry's 95% CI is a filled band between its lower and upper bounds (``name`` of the
    band trace: "... 95% CI"), on the dimensions that have one."""
    fig = go.Figure()
    closed = [*axes, axes[0]] if axes else []
    for i, entry in enumerate([*measured, *reference]):
        values = [entry.dimensions.get(d) for d in closed]
        tag = "measured" if entry.provenance == "measured" else "published, reported benchmarks"
        colour = PALETTE[i % len(PALETTE)]
        band = [entry.dimension_ci.get(d) for d in closed]
        if entry.provenance == "measured" and any(b is not None for b in band):
            # the band as one closed polygon: upper bounds around, then lower bounds back
            high = [b[1] if b is not None else v for b, v in zip(band, values, strict=True)]
            low = [b[0] if b is not None else v for b, v in zip(band, values, strict=True)]
            fig.add_trace(
                go.Scatterpolar(
                    r=[*high, *reversed(low)],
                    theta=[*closed, *reversed(closed)],
                    name=f"{entry.model} 95% CI",
                    mode="lines",
                    fill="toself",
                    fillcolor=_rgba(colour, 0.18),
                    line={"width": 0, "color": colour},
                    legendgroup=entry.key,
                    hoverinfo="skip",
                    connectgaps=True,
                )
            )
        fig.add_trace(
            go.Scatterpolar(
                r=values,
                theta=closed,
                name=f"{entry.model} ({tag})",
                mode="lines+markers",
                connectgaps=True,
                line={"dash": "solid" if entry.provenance == "measured" else "dot", "color": colour},
                marker={"symbol": SYMBOL[entry.provenance], "color": colour},
                legendgroup=entry.key,
            )
        )
    fig.update_layout(
        title="Capability by dimension (normalised: chance 0, perfect 100; shaded: 95% CI of measured models)",
        polar={"radialaxis": {"range": [0, 100]}},
        **LAYOUT,
    )
    return fig


GROUP_SYMBOL = {"self-hosted": "diamond", "API price": "circle"}


def pareto(points: Sequence[ScatterPoint], x_label: str, y_label: str, title: str, *, log_x: bool = True) -> Figure:
    """Capability against a cost axis: every point labelled, measured ◆ and published ●, error bars
    where a CI is known; one frontier step line per group of comparable points (self-hosted and
    API prices apart), dominated points dimmed."""
    fig = go.Figure()
    for provenance in ("measured", "published"):
        for dominated in (False, True):
            group = [p for p in points if p.provenance == provenance and p.dominated == dominated]
            if not group:
                continue
            errors = [p.error for p in group]
            fig.add_trace(
                go.Scatter(
                    x=[p.x for p in group],
                    y=[p.y for p in group],
                    mode="markers+text",
                    text=[p.label for p in group],
                    textposition="top center",
                    textfont={"size": 9 if provenance == "published" else 11},
                    name=f"{provenance}{' (dominated)' if dominated else ''}",
                    marker={"symbol": [_symbol(p, provenance) for p in group], "color": COLOUR[provenance], "size": 11},
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [e[1] if e else 0.0 for e in errors],
                        "arrayminus": [e[0] if e else 0.0 for e in errors],
                        "visible": any(e is not None for e in errors),
                        "color": COLOUR[provenance],
                    },
                    opacity=0.3 if dominated else 1.0,
                    hovertext=[_hover(p, x_label, y_label) for p in group],
                    hoverinfo="text",
                )
            )
    # a line per group with two frontier points or more (a group of one is its own frontier: the table says so)
    groups = sorted({p.group for p in points if p.on_frontier})
    lined = [g for g in groups if sum(p.on_frontier and p.group == g for p in points) > 1]
    for i, name in enumerate(lined):
        frontier = sorted((p for p in points if p.on_frontier and p.group == name), key=lambda p: (p.x, p.y))
        fig.add_trace(
            go.Scatter(
                x=[p.x for p in frontier],
                y=[p.y for p in frontier],
                mode="lines",
                line={"shape": "hv", "color": FRONTIER_COLOURS[i % len(FRONTIER_COLOURS)], "width": 2},
                name=f"Pareto frontier: {name}" if name != "all" else "Pareto frontier",
                hoverinfo="skip",
            )
        )
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, **LAYOUT)
    if log_x:
        fig.update_xaxes(type="log")
    return fig


FRONTIER_COLOURS = ("#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _symbol(p: ScatterPoint, provenance: str) -> str:
    """A self-hosted price is a diamond, an API price a circle (whatever the provenance); else by provenance."""
    for kind, symbol in GROUP_SYMBOL.items():
        if p.group.startswith(kind):
            return symbol + ("-open" if kind == "API price" and provenance == "measured" else "")
    return SYMBOL[provenance]


def trend(
    points: Sequence[ScatterPoint],
    lines: Sequence[TrendLine],
    y_label: str,
    title: str,
    *,
    frontier: Sequence[ScatterPoint] = (),
) -> Figure:
    """Values over release/price date on a log y axis, with each fitted exponential trend and its
    bootstrap band (a filled area named "... 95% CI band")."""
    fig = go.Figure()
    for provenance in ("measured", "published"):
        group = [p for p in points if p.provenance == provenance]
        if group:
            fig.add_trace(
                go.Scatter(
                    x=[p.x for p in group],
                    y=[p.y for p in group],
                    mode="markers",
                    name=provenance,
                    marker={"symbol": SYMBOL[provenance], "color": COLOUR[provenance], "size": 10},
                    hovertext=[_hover(p, "date", y_label) for p in group],
                    hoverinfo="text",
                )
            )
    if frontier:
        fig.add_trace(
            go.Scatter(
                x=[p.x for p in frontier],
                y=[p.y for p in frontier],
                mode="markers",
                name="used in the fit (frontier)",
                marker={"symbol": "circle-open", "color": "#2ca02c", "size": 16, "line": {"width": 2}},
                hoverinfo="skip",
            )
        )
    for i, line in enumerate(lines):
        colour = FRONTIER_COLOURS[i % len(FRONTIER_COLOURS)]
        if line.band:
            fig.add_trace(
                go.Scatter(
                    x=[b.date for b in line.band] + [b.date for b in reversed(line.band)],
                    y=[b.high for b in line.band] + [b.low for b in reversed(line.band)],
                    mode="lines",
                    fill="toself",
                    fillcolor=_rgba(colour, 0.15),
                    line={"width": 0, "color": colour},
                    name=f"{line.label} 95% CI band",
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[d for d, _ in line.points],
                y=[v for _, v in line.points],
                mode="lines",
                name=line.label,
                line={"color": colour, "dash": "dash"},
            )
        )
    fig.update_layout(title=title, xaxis_title="date", yaxis_title=y_label, **LAYOUT)
    fig.update_yaxes(type="log")
    return fig


def family_curves(reports: Sequence[DensityReport]) -> Figure:
    """Score against parameters per family: the reference curve, the published members and the
    measured models placed next to them (labelled)."""
    fig = go.Figure()
    for i, report in enumerate(reports):
        colour = PALETTE[i % len(PALETTE)]
        ref = report.reference
        what = f"{ref.family if ref else '?'} on {', '.join(report.benchmarks)}"
        if ref is not None:
            sizes = [ref.min_params_b * (ref.max_params_b / ref.min_params_b) ** (k / 40) for k in range(41)]
            curve = go.Scatter(
                x=sizes,
                y=[ref.score_at(n) for n in sizes],
                mode="lines",
                name=f"{what}: reference curve",
                line={"color": colour, "dash": "dot"},
            )
            fig.add_trace(curve)
        for provenance in ("published", "measured"):
            rows = [r for r in report.rows if r.provenance == provenance and r.score is not None and r.params_b]
            if not rows:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[r.params_b for r in rows],
                    y=[r.score for r in rows],
                    mode="markers+text",
                    text=[r.model.split("/")[-1] for r in rows],
                    textposition="top center",
                    name=f"{what}: {provenance}",
                    marker={
                        "symbol": SYMBOL[provenance],
                        "color": COLOUR[provenance] if provenance == "measured" else colour,
                        "size": 11,
                    },
                    hovertext=[f"{r.model}<br>{r.provenance}<br>{r.evidence or 'published'}" for r in rows],
                    hoverinfo="text",
                )
            )
    fig.update_layout(
        title="Measured models next to their published family (score vs parameters)",
        xaxis_title="parameters, billions (log)",
        yaxis_title="mean % over the benchmarks",
        **LAYOUT,
    )
    fig.update_xaxes(type="log")
    return fig


def _latency_runs(entries: Sequence[ModelEntry]) -> list[tuple[str, list[LatencyPoint]]]:
    return [(e.model, sorted(e.latency, key=lambda p: p.level)) for e in entries if e.latency]


def latency_percentiles(entries: Sequence[ModelEntry]) -> Figure:
    """p50/p90/p95/p99 of TTFT, TPOT and E2E at each sweep point (measured)."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{label} (ms)" for _, label in LATENCY_METRICS])
    for i, (model, points) in enumerate(_latency_runs(entries)):
        mode = points[0].mode
        for col, (metric, _label) in enumerate(LATENCY_METRICS, start=1):
            for pct, dash in PERCENTILE_DASH.items():
                dists = [getattr(p, metric) for p in points]
                fig.add_trace(
                    go.Scatter(
                        x=[p.level for p in points],
                        y=[getattr(d, pct) if d is not None else None for d in dists],
                        mode="lines+markers",
                        name=f"{model} {pct}",
                        legendgroup=f"{model}-{pct}",
                        showlegend=col == 1,
                        line={"dash": dash, "color": PALETTE[i % len(PALETTE)]},
                    ),
                    row=1,
                    col=col,
                )
            fig.update_xaxes(title_text=mode, row=1, col=col)
    fig.update_layout(title="Latency percentiles per sweep point (measured)", **LAYOUT)
    return fig


def latency_cdf(entries: Sequence[ModelEntry]) -> Figure:
    """Empirical CDF of TTFT, TPOT and E2E per sweep point, from the stored quantile grid."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{label} (ms)" for _, label in LATENCY_METRICS])
    curves = [(model, point) for model, points in _latency_runs(entries) for point in points]
    for i, (model, point) in enumerate(curves):
        q = point.quantiles_ms or {}
        for col, (metric, _label) in enumerate(LATENCY_METRICS, start=1):
            values = q.get(metric)
            if not values:
                continue
            grid = [100.0 * j / (len(values) - 1) for j in range(len(values))] if len(values) > 1 else [100.0]
            fig.add_trace(
                go.Scatter(
                    x=values,
                    y=grid,
                    mode="lines",
                    name=f"{model} {point.mode} {point.level:g}",
                    legendgroup=f"{model}-{point.level}",
                    showlegend=col == 1,
                    line={"color": PALETTE[i % len(PALETTE)]},
                ),
                row=1,
                col=col,
            )
    fig.update_yaxes(title_text="% of requests", range=[0, 100], row=1, col=1)
    fig.update_layout(title="Latency CDF per sweep point (measured)", **LAYOUT)
    return fig


# from the report's records ------------------------------------------------------------------
def pareto_points(report: ParetoReport) -> list[ScatterPoint]:
    return [
        ScatterPoint(
            key=p.key,
            label=p.model.split("/")[-1],
            provenance=p.provenance,
            x=p.cost,
            y=p.capability,
            on_frontier=p.on_frontier,
            dominated=bool(p.dominated_by),
            group=p.group,
            error=(p.capability - p.capability_ci[0], p.capability_ci[1] - p.capability) if p.capability_ci else None,
        )
        for p in report.points
    ]


def trend_points(points: Sequence[TrendPoint]) -> list[ScatterPoint]:
    return [
        ScatterPoint(key=p.key, label=p.label or p.model, provenance=p.provenance, x=p.date, y=p.value) for p in points
    ]


class TrendLine(BaseModel):
    """One fitted trend as drawn: the line, its band and its legend label."""

    model_config = ConfigDict(extra="forbid")

    label: str
    points: list[tuple[dt.date, float]]
    band: list[BandPoint]


def trend_line(fit: TrendFit) -> list[tuple[dt.date, float]]:
    """The fitted exponential over the span of the points (empty when there is no fit)."""
    if fit.status != "ok" or fit.slope_per_year is None or fit.intercept is None or not fit.points:
        return []
    epoch = dt.date(1970, 1, 1)
    ends = (min(p.date for p in fit.points), max(p.date for p in fit.points))
    slope, intercept = fit.slope_per_year, fit.intercept
    return [(d, math.exp(intercept + slope * (d - epoch).days / DAYS_PER_YEAR)) for d in ends]


def trend_figure(fit: TrendFit, y_label: str, title: str, sensitivity: Sequence[tuple[str, TrendFit]] = ()) -> Figure:
    """The fit's points and frontier with its line and band; the same quantity fitted otherwise
    (``sensitivity``: (label, fit), e.g. on another benchmark set) is drawn too, with its own line
    and band, and named in the legend and the subtitle."""
    from agimeter.report.tables import fit_claim

    claim = fit_claim(fit)
    lines = []
    if fit.fitted:
        lines.append(TrendLine(label=f"fit: {claim.split(' (')[0]}", points=trend_line(fit), band=fit.band))
    subtitle = [claim]
    for label, other in sensitivity:
        subtitle.append(f"{label}: {fit_claim(other)}")
        if other.fitted:
            short = f"{label}: {fit_claim(other).split(' (')[0]}"
            lines.append(TrendLine(label=short, points=trend_line(other), band=other.band))
    extra = [p for _, o in sensitivity for p in o.points if p.key not in {q.key for q in fit.points}]
    fig = trend(
        trend_points([*fit.points, *extra]),
        lines,
        y_label,
        f"{title}<br><sup>{'<br>'.join(subtitle)}</sup>",
        frontier=trend_points(fit.frontier),
    )
    grow = 18 * len(subtitle)  # room for the subtitle's lines above the plot
    fig.update_layout(margin={**LAYOUT["margin"], "t": 60 + grow}, height=LAYOUT["height"] + grow)
    return fig
