"""The report's quantization panel: per sweep, capability against file size and against decode
speed, each variant labelled, the paired-bootstrap CI of its own overall score as error bars, and
the frontier (variants nobody beats) drawn as a step line."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from agimeter.analysis.sweep import SweepReport, SweepRow
from agimeter.report.figures import LAYOUT, Figure

REFERENCE_COLOUR, VARIANT_COLOUR, FRONTIER_COLOUR = "#1f77b4", "#d62728", "#2ca02c"


def _hover(row: SweepRow) -> str:
    parts = [f"{row.label}{' (reference)' if row.quant == 'reference' else ''}", f"{row.weights_gb:.3f} GB"]
    if row.decode_tokens_per_s is not None:
        parts.append(f"decode {row.decode_tokens_per_s:.1f} tok/s")
    if row.overall is not None:
        o = row.overall
        interval = f"[{o.diff_ci_low * 100:+.1f}, {o.diff_ci_high * 100:+.1f}]"
        parts.append(f"Δ {o.diff * 100:+.1f} {interval} points, p = {o.p_value:.3f}")
        if o.retained is not None:
            parts.append(f"retained {o.retained:.1%}")
    if row.divergence is not None:
        parts.append(f"mean KLD {row.divergence.mean_kld:.4f}, same top {row.divergence.same_top_p:.1%}")
    return "<br>".join(parts)


def _points(fig: Figure, rows: Sequence[SweepRow], x: Sequence[float], frontier: Sequence[str], col: int) -> None:
    for reference in (True, False):
        picked = [(r, v) for r, v in zip(rows, x, strict=True) if (r.quant == "reference") == reference]
        if not picked:
            continue
        fig.add_trace(
            go.Scatter(
                x=[v for _, v in picked],
                y=[(r.overall_score or 0.0) * 100 for r, _ in picked],
                mode="markers+text",
                text=[r.label for r, _ in picked],
                textposition="top center",
                marker={
                    "color": REFERENCE_COLOUR if reference else VARIANT_COLOUR,
                    "size": 11,
                    "symbol": "star" if reference else "diamond",
                },
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [((r.overall_ci or (0, 0))[1] - (r.overall_score or 0.0)) * 100 for r, _ in picked],
                    "arrayminus": [((r.overall_score or 0.0) - (r.overall_ci or (0, 0))[0]) * 100 for r, _ in picked],
                    "visible": True,
                },
                name="reference (the source file)" if reference else "variants",
                legendgroup="reference" if reference else "variants",
                showlegend=col == 1,
                hovertext=[_hover(r) for r, _ in picked],
                hoverinfo="text",
            ),
            row=1,
            col=col,
        )
    on = sorted(((v, (r.overall_score or 0.0) * 100) for r, v in zip(rows, x, strict=True) if r.label in frontier))
    if len(on) > 1:
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in on],
                y=[p[1] for p in on],
                mode="lines",
                line={"shape": "hv", "color": FRONTIER_COLOUR, "width": 2},
                name="frontier (nobody smaller / faster with at least the same score)",
                legendgroup="frontier",
                showlegend=col == 1,
                hoverinfo="skip",
            ),
            row=1,
            col=col,
        )


def sweep_figure(report: SweepReport) -> Figure:
    """Two panels: overall score vs file GB, and vs decode tokens/s (rows without a speed are left out there)."""
    rows = [r for r in report.rows if r.overall_score is not None]
    fast = [r for r in rows if r.decode_tokens_per_s is not None]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("capability vs file size", "capability vs decode speed"))
    _points(fig, rows, [r.weights_gb for r in rows], report.frontier_gb, 1)
    _points(fig, fast, [r.decode_tokens_per_s or 0.0 for r in fast], report.frontier_tps, 2)
    quantized = " (the source is already quantized: see the notes)" if report.source.quantized else ""
    fig.update_layout(
        title=f"{report.model}: llama.cpp quantizations, paired on the same items{quantized}",
        **{**LAYOUT, "height": 480},
    )
    fig.update_xaxes(title_text="file GB", row=1, col=1)
    fig.update_xaxes(title_text="decode tokens/s (batch 1)", row=1, col=2)
    fig.update_yaxes(title_text="overall score % (mean of tasks, 95% CI)", row=1, col=1)
    return fig
