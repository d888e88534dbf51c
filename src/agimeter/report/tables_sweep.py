"""The report's quantization tables: one per sweep (``table-sweep-<id>``), a row per variant."""

from __future__ import annotations

from agimeter.analysis.sweep import NOT_EQUAL, SweepReport
from agimeter.report.table_model import Table, num


def _pct(low: float | None, high: float | None, digits: int = 1, signed: bool = False) -> str:
    if low is None or high is None:
        return ""
    fmt = f"{'+' if signed else ''}.{digits}f"
    return f"[{low * 100:{fmt}}, {high * 100:{fmt}}]"


def sweep_table(report: SweepReport) -> Table:
    columns = [
        "variant", "file GB", "GB saved", "peak RSS MiB", "prefill tok/s", "decode tok/s", "$/1M tokens",
        "overall % [95% CI]", "Δ points [95% CI]", "p", "retained [95% CI]", "mean KLD", "same top p %",
        "frontier", "runs",
    ]  # fmt: skip
    rows = []
    for r in report.rows:
        o, d = r.overall, r.divergence
        frontier = ", ".join(n for n, on in (("GB", r.on_frontier_gb), ("tok/s", r.on_frontier_tps)) if on)
        rows.append(
            [
                f"{r.label} (reference)" if r.quant == "reference" else r.label + (" *" if r.requantized else ""),
                f"{r.weights_gb:.3f}",
                "" if r.quant == "reference" else f"{r.gb_saved:+.3f}",
                num((r.peak_rss_bytes or 0) / 2**20, 0) if r.peak_rss_bytes else "–",
                num(r.prefill_tokens_per_s),
                num(r.decode_tokens_per_s),
                f"{r.usd_per_1m_tokens:.4f}" if r.usd_per_1m_tokens is not None else "–",
                f"{num((r.overall_score or 0) * 100)} {_pct(*(r.overall_ci or (None, None)))}"
                if r.overall_score is not None
                else "–",
                f"{o.diff * 100:+.1f} {_pct(o.diff_ci_low, o.diff_ci_high, signed=True)}" if o else "",
                f"{o.p_value:.3f}" + (" (loss)" if r.significant_loss else "") if o else "",
                f"{o.retained:.1%} {_pct(o.retained_ci_low, o.retained_ci_high)}" if o and o.retained else "",
                f"{d.mean_kld:.5f}" if d else "",
                f"{d.same_top_p * 100:.2f}" if d else "",
                frontier,
                ", ".join(r.run_ids),
            ]
        )
    caption = " ".join(
        [
            report.guidance if NOT_EQUAL in report.guidance else f"{report.guidance} {NOT_EQUAL}",
            *report.notes,
            f"Price: {report.price}.",
            "*: re-quantized from the already quantized source." if any(r.requantized for r in report.rows) else "",
        ]
    ).strip()
    return Table(
        id=f"table-sweep-{report.sweep_id}",
        title=f"Quantization sweep {report.sweep_id}: {report.model} ({report.status})",
        columns=columns,
        rows=rows,
        caption=caption,
    )
