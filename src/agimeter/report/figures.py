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

from agimeter.analysis.entries import LatencyPoint, ModelEntry
from agimeter.analysis.progress import ParetoReport
from agimeter.analysis.trends import DAYS_PER_YEAR, TrendFit, TrendPoint

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


def _hover(p: ScatterPoint, x_label: str, y_label: str) -> str:
    return f"{p.label}<br>{p.provenance}<br>{x_label}: {p.x}<br>{y_label}: {p.y:.3g}"


def radar(measured: Sequence[ModelEntry], reference: Sequence[ModelEntry], axes: Sequence[str]) -> Figure:
    """Per-dimension capability (0 = chance, 100 = perfect); published entries dotted, for reference."""
    fig = go.Figure()
    closed = [*axes, axes[0]] if axes else []
    for entry in [*measured, *reference]:
        values = [entry.dimensions.get(d) for d in closed]
        tag = "measured" if entry.provenance == "measured" else "published, reported benchmarks"
        fig.add_trace(
            go.Scatterpolar(
                r=values,
                theta=closed,
                name=f"{entry.model} ({tag})",
                mode="lines+markers",
                connectgaps=True,
                line={"dash": "solid" if entry.provenance == "measured" else "dot"},
                marker={"symbol": SYMBOL[entry.provenance]},
            )
        )
    fig.update_layout(
        title="Capability by dimension (normalised: chance 0, perfect 100)",
        polar={"radialaxis": {"range": [0, 100]}},
        **LAYOUT,
    )
    return fig


def pareto(points: Sequence[ScatterPoint], x_label: str, y_label: str, title: str, *, log_x: bool = True) -> Figure:
    """Capability against a cost axis: the frontier as a step line, dominated points dimmed."""
    fig = go.Figure()
    for provenance in ("measured", "published"):
        for dominated in (False, True):
            group = [p for p in points if p.provenance == provenance and p.dominated == dominated]
            if not group:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[p.x for p in group],
                    y=[p.y for p in group],
                    mode="markers+text" if provenance == "measured" else "markers",
                    text=[p.label for p in group] if provenance == "measured" else None,
                    textposition="top center",
                    name=f"{provenance}{' (dominated)' if dominated else ''}",
                    marker={"symbol": SYMBOL[provenance], "color": COLOUR[provenance], "size": 11},
                    opacity=0.3 if dominated else 1.0,
                    hovertext=[_hover(p, x_label, y_label) for p in group],
                    hoverinfo="text",
                )
            )
    frontier = sorted((p for p in points if p.on_frontier), key=lambda p: (p.x, p.y))
    if frontier:
        fig.add_trace(
            go.Scatter(
                x=[p.x for p in frontier],
                y=[p.y for p in frontier],
                mode="lines",
                line={"shape": "hv", "color": "#2ca02c", "width": 2},
                name="Pareto frontier",
                hoverinfo="skip",
            )
        )
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, **LAYOUT)
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def trend(
    points: Sequence[ScatterPoint],
    line: Sequence[tuple[dt.date, float]],
    y_label: str,
    title: str,
    fit_label: str,
    *,
    frontier: Sequence[ScatterPoint] = (),
) -> Figure:
    """Values over release/price date on a log y axis with the fitted exponential trend."""
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
    if line:
        fig.add_trace(
            go.Scatter(
                x=[d for d, _ in line],
                y=[v for _, v in line],
                mode="lines",
                name=fit_label,
                line={"color": "#2ca02c", "dash": "dash"},
            )
        )
    fig.update_layout(title=title, xaxis_title="date", yaxis_title=y_label, **LAYOUT)
    fig.update_yaxes(type="log")
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
        )
        for p in report.points
    ]


def trend_points(points: Sequence[TrendPoint]) -> list[ScatterPoint]:
    return [
        ScatterPoint(key=p.key, label=p.label or p.model, provenance=p.provenance, x=p.date, y=p.value) for p in points
    ]


def trend_line(fit: TrendFit) -> list[tuple[dt.date, float]]:
    """The fitted exponential over the span of the points (empty when there is no fit)."""
    if fit.status != "ok" or fit.slope_per_year is None or fit.intercept is None or not fit.points:
        return []
    epoch = dt.date(1970, 1, 1)
    ends = (min(p.date for p in fit.points), max(p.date for p in fit.points))
    slope, intercept = fit.slope_per_year, fit.intercept
    return [(d, math.exp(intercept + slope * (d - epoch).days / DAYS_PER_YEAR)) for d in ends]


def trend_figure(fit: TrendFit, y_label: str, title: str) -> Figure:
    from agimeter.report.tables import fit_claim

    claim = fit_claim(fit)
    return trend(
        trend_points(fit.points),
        trend_line(fit),
        y_label,
        f"{title}<br><sup>{claim}</sup>",
        f"fit: {claim.split(' (')[0]}",
        frontier=trend_points(fit.frontier),
    )
