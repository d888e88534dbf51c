"""Terminal tables of a quantization sweep (``agimeter sweep``, ``agimeter show SWEEP``)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agimeter.analysis.sweep import SweepReport, SweepRow
from agimeter.store.sweep_records import SweepRecord


def _num(value: float | None, fmt: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, fmt)


def _cost_table(report: SweepReport) -> Table:
    table = Table(title="cost per variant", title_justify="left")
    for col in ("variant", "file GB", "GB saved", "peak RSS MiB", "prefill tok/s", "decode tok/s", "$/1M tok"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    table.add_column("fallbacks", justify="right")
    table.add_column("frontier")
    table.add_column("state")
    for row in report.rows:
        frontier = ", ".join(n for n, on in (("GB", row.on_frontier_gb), ("tok/s", row.on_frontier_tps)) if on)
        table.add_row(
            _label(row),
            f"{row.weights_gb:.3f}",
            "-" if row.quant == "reference" else f"{row.gb_saved:+.3f}",
            _num(row.peak_rss_bytes, ",.0f", 1 / 2**20),
            _num(row.prefill_tokens_per_s, ",.1f"),
            _num(row.decode_tokens_per_s, ",.1f"),
            _num(row.usd_per_1m_tokens, ".4f"),
            f"{row.fallback_tensors or 0}/{row.tensors}" if row.tensors else "-",
            frontier or "-",
            row.state,
        )
    return table


def _label(row: SweepRow) -> str:
    if row.quant == "reference":
        return f"{row.label} (reference)"
    return row.label + (" *" if row.requantized else "")


def _ci(low: float, high: float, fmt: str) -> str:
    return f"[{format(low * 100, fmt)}, {format(high * 100, fmt)}]"


def _score_table(report: SweepReport) -> Table:
    table = Table(title="capability per variant (paired with the reference on the same items)", title_justify="left")
    for col in ("variant", "task · metric", "score % [95% CI]", "Δ points [95% CI]", "p", "flips"):
        table.add_column(col, justify="right" if col == "p" else "left")
    table.add_column("retained [95% CI]")
    table.add_column("choice KL", justify="right")
    for row in report.rows:
        for i, task in enumerate(row.tasks):
            paired, kept = task.paired, task.retained
            flips = "-"
            if paired is not None and paired.only_a_correct is not None:
                flips = f"{paired.only_a_correct}/{paired.only_b_correct}"
            table.add_row(
                _label(row) if i == 0 else "",
                f"{task.task} · {task.metric}",
                f"{task.score.mean * 100:.1f} {_ci(task.score.ci_low, task.score.ci_high, '.1f')}",
                f"{paired.diff * 100:+.1f} {_ci(paired.ci_low, paired.ci_high, '+.1f')}" if paired else "-",
                Text(f"{paired.p_value:.3f}", style="bold" if task.significant_loss else "") if paired else "-",
                flips,
                _retained(kept.retained, kept.retained_ci_low, kept.retained_ci_high) if kept else "-",
                _num(task.choice_kl, ".4f"),
            )
        if row.overall is not None:
            o = row.overall
            table.add_row(
                "",
                Text("overall · mean of tasks", style="bold"),
                f"{o.variant * 100:.1f}",
                f"{o.diff * 100:+.1f} {_ci(o.diff_ci_low, o.diff_ci_high, '+.1f')}",
                Text(f"{o.p_value:.3f}", style="bold" if row.significant_loss else ""),
                "",
                _retained(o.retained, o.retained_ci_low, o.retained_ci_high),
                "",
            )
    return table


def _retained(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" + (f" [{low:.1%}, {high:.1%}]" if low is not None and high is not None else "")


def _divergence_table(report: SweepReport) -> Table | None:
    rows = [r for r in report.rows if r.divergence is not None]
    if not rows:
        return None
    first = rows[0].divergence
    assert first is not None
    title = (
        f"next-token divergence from the reference ({first.scored_tokens} tokens of {first.text}, "
        f"{first.chunks} chunks of {first.chunk_tokens}, second half of each scored, "
        "as llama-perplexity --kl-divergence)"
    )
    table = Table(title=title, title_justify="left")
    columns = ("variant", "mean KLD", "± stderr", "KLD p99", "same top p %", "PPL ref", "PPL variant", "ln(PPL ratio)")
    for col in columns:
        table.add_column(col, justify="left" if col == "variant" else "right")
    for row in rows:
        d = row.divergence
        assert d is not None
        table.add_row(
            _label(row),
            f"{d.mean_kld:.5f}",
            f"{d.kld_stderr:.5f}",
            f"{d.kld_p99:.4f}",
            f"{d.same_top_p * 100:.2f} ± {d.same_top_p_stderr * 100:.2f}",
            f"{d.ppl_reference:.3f}",
            f"{d.ppl_variant:.3f}",
            f"{d.ln_ppl_ratio:+.5f} ± {d.ln_ppl_ratio_stderr:.5f}",
        )
    return table


def sweep_view(report: SweepReport) -> RenderableType:
    """Header, cost, capability and divergence tables, then the guidance and the caveats."""
    src = report.source
    parts: list[RenderableType] = [
        Text(
            f"sweep {report.sweep_id} · {report.model} · {report.status} · reference: the source file, "
            f"{src.file_type}, {src.bytes / 1e9:.3f} GB, sha256 {src.sha256[:12]}",
            style="bold",
        ),
        _cost_table(report),
        _score_table(report),
    ]
    divergence = _divergence_table(report)
    if divergence is not None:
        parts.append(divergence)
    parts.append(Text(report.guidance))
    lines = [
        f"price: {report.price}; $/1M tokens over the run's prompt + completion tokens at that price",
        "peak RSS: the process that evaluated the row and ran its speed probe; speed: median of the probe's repeats",
        "fallbacks: tensors llama.cpp stored in another type than asked (their rows do not fit the type's blocks)",
        "frontier: nobody is smaller (GB) or faster (decode tok/s) with at least the same overall score, "
        "on point estimates: see the CIs before reading a place on it as a difference",
        "p: McNemar exact (0/1 metrics; flips = items only the reference / only the variant got right) or "
        "paired sign-flip permutation (overall, fractional metrics); "
        f"bold: a significant loss at alpha = {report.alpha:g}",
        "retained: variant score / reference score, CI from a paired bootstrap over items",
        "choice KL: KL(reference || variant) of the softmax over the choices' raw (not length-normalised) "
        "log-likelihoods, mean over items",
        *report.notes,
    ]
    if any(r.requantized for r in report.rows):
        lines.append("*: re-quantized from the already quantized source")
    if report.error:
        lines.append(f"error: {report.error}")
    parts.extend(Text(f"note: {line}", style="dim") for line in lines)
    return Group(*parts)


def sweeps_table(records: list[SweepRecord]) -> Table:
    table = Table(title="sweeps", title_justify="left")
    for col in ("id", "model", "reference", "variants", "status", "created"):
        table.add_column(col)
    for s in records:
        table.add_row(
            s.id,
            s.model,
            s.source.file_type,
            ",".join(s.quants),
            s.status,
            s.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table
