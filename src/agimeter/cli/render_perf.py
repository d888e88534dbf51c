"""Terminal tables of a perf sweep: latency percentiles, throughput, errors, overhead, cost."""

from __future__ import annotations

from rich.table import Table

from agimeter.perf.metrics import Dist, PointSummary
from agimeter.perf.session import PerfResult


def _ms(d: Dist | None, field: str) -> str:
    return f"{getattr(d, field):,.1f}" if d is not None else "-"


def _label(p: PointSummary) -> str:
    return f"c={p.level:g}" if p.mode == "concurrency" else f"{p.level:g}/s"


def perf_tables(run_id: str, result: PerfResult) -> list[Table]:
    o = result.options
    lengths = "exact" if result.input_lengths_exact else "approximate"
    title = (
        f"perf {run_id} · {o.model} · in {o.input_tokens if not o.prompts_from else o.prompts_from} "
        f"({lengths}) / out {o.output_tokens} tokens"
    )
    latency = Table(title=title + " · latency (ms)", title_justify="left")
    for col in ("point", "metric", "mean", "p50", "p90", "p95", "p99", "max", "n"):
        latency.add_column(col, justify="left" if col in ("point", "metric") else "right")
    for p in result.points:
        for i, (metric, dist) in enumerate((("TTFT", p.ttft), ("TPOT", p.tpot), ("ITL", p.itl), ("E2E", p.e2e))):
            stats = [_ms(dist, s) for s in ("mean", "p50", "p90", "p95", "p99", "max")]
            latency.add_row(_label(p) if i == 0 else "", metric, *stats, str(dist.n) if dist else "0")
        latency.add_section()

    throughput = Table(title="throughput", title_justify="left")
    for col in ("point", "ok", "errors", "req/s", "out tok/s", "in tok/s", "goodput req/s", "wall s"):
        throughput.add_column(col, justify="right" if col != "point" else "left")
    for p in result.points:
        errors = ", ".join(f"{k} {v}" for k, v in p.errors.items()) or "0"
        goodput = f"{p.goodput_per_s:,.2f} ({p.slo_ok}/{p.succeeded})" if p.goodput_per_s is not None else "-"
        throughput.add_row(
            _label(p),
            f"{p.succeeded}/{p.requests}",
            errors,
            f"{p.request_per_s:,.2f}",
            f"{p.output_tokens_per_s:,.1f}" + ("*" if p.output_tokens_counted_client_side else ""),
            f"{p.input_tokens_per_s:,.1f}",
            goodput,
            f"{p.wall_s:,.2f}",
        )

    meter = Table(title="meter overhead and server comparison (ms)", title_justify="left")
    for col in (
        "point",
        "loop lag p50",
        "loop lag p99",
        "dispatch lag p50",
        "parse µs/req",
        "server TTFT p50",
        "client-server p50",
    ):
        meter.add_column(col, justify="right" if col != "point" else "left")
    for p in result.points:
        ov = p.overhead
        meter.add_row(
            _label(p),
            _ms(ov.loop_lag_ms, "p50"),
            _ms(ov.loop_lag_ms, "p99"),
            _ms(ov.dispatch_lag_ms, "p50"),
            f"{ov.parse_us_per_request:,.0f}" if ov.parse_us_per_request is not None else "-",
            _ms(p.server.server_ttft_ms, "p50") if p.server else "-",
            _ms(p.server.client_minus_server_ttft_ms, "p50") if p.server else "-",
        )
    tables = [latency, throughput, meter]
    if any(p.workers for p in result.points):
        tables.append(_workers_table(result))
    if result.cost is not None:
        c = result.cost
        cost = Table(title="cost at the operating point", title_justify="left", show_header=False)
        cost.add_column("what")
        cost.add_column("value")
        example = ", example price" if c.price_is_example else ""
        cost.add_row(
            "operating point",
            _label(result.points[c.point]) + (" (best goodput)" if result.slo_s else " (best output tok/s)"),
        )
        cost.add_row("price", f"${c.price_per_hour:.3f}/h ({o.profile}{example})")
        cost.add_row("prefill time share", f"{100 * c.prefill_time_share:.1f}%")
        for label, value in (
            ("$ / 1M input tokens", c.usd_per_1m_input),
            ("$ / 1M output tokens", c.usd_per_1m_output),
            ("$ / 1M blended (3:1)", c.usd_per_1m_blended_3_1),
        ):
            cost.add_row(label, f"${value:,.4f}" if value is not None else "n/a")
        tables.append(cost)
    if any(p.output_tokens_counted_client_side for p in result.points):
        note = Table(show_header=False, box=None)
        note.add_row("* output tokens counted client-side (the server sent no usage)")
        tables.append(note)
    return tables


def _workers_table(result: PerfResult) -> Table:
    """``perf --workers``: each load-generating worker's share and its own clock's error."""
    table = Table(title="load-generating workers: each one's share and clock error (ms)", title_justify="left")
    for col in ("point", "worker", "host", "share", "requests", "start skew", "loop lag p99", "dispatch lag p50",
                "dispatch lag p99"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("point", "host") else "right")
    for p in result.points:
        for i, w in enumerate(p.workers or []):
            table.add_row(
                _label(p) if i == 0 else "",
                str(w.worker),
                w.host,
                f"{w.level:g}" + ("/s" if p.mode == "rate" else ""),
                str(w.requests),
                f"{w.start_skew_ms:,.1f}",
                _ms(w.overhead.loop_lag_ms, "p99"),
                _ms(w.overhead.dispatch_lag_ms, "p50"),
                _ms(w.overhead.dispatch_lag_ms, "p99"),
            )
        table.add_section()
    return table
