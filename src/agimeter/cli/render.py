"""Terminal rendering of runs: score tables with CIs and the cost block."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from agimeter.analysis.summary import TaskScore
from agimeter.cost.pricing import CostBlock
from agimeter.runner.meter import Measurement
from agimeter.store.records import RunRecord


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def scores_table(run: RunRecord, scores: list[TaskScore], *, subtasks: bool = False) -> Table:
    table = Table(title=f"run {run.id} · {run.model} · {run.status}", title_justify="left")
    table.add_column("task")
    table.add_column("metric")
    table.add_column("score %", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("n", justify="right")
    table.add_column("tokens", justify="right")
    for score in scores:
        for i, (name, est) in enumerate(score.metrics.items()):
            table.add_row(
                score.task if i == 0 else "",
                name,
                _pct(est.mean),
                f"[{_pct(est.ci_low)}, {_pct(est.ci_high)}]",
                str(est.n),
                f"{score.prompt_tokens + score.completion_tokens:,}" if i == 0 else "",
            )
        if subtasks:
            for sub, metrics in score.subtasks.items():
                for name, est in metrics.items():
                    table.add_row(
                        f"  {sub}",
                        name,
                        _pct(est.mean),
                        f"[{_pct(est.ci_low)}, {_pct(est.ci_high)}]",
                        str(est.n),
                        "",
                    )
    return table


def _rate(x: float | None, unit: str) -> str:
    return f"{x:,.1f} {unit}" if x is not None else "n/a"


def cost_table(measurement: Measurement, cost: CostBlock) -> Table:
    hw = measurement.hardware
    sessions = measurement.sessions or 1
    resumed = f", over {sessions} sessions (resumed)" if sessions > 1 else ""
    table = Table(title="cost", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    rows: list[tuple[str, str]] = [
        ("wall time (eval)", f"{measurement.wall_s:.1f} s  (+ model load {measurement.load_s:.1f} s)" + resumed),
        ("items", f"{measurement.items_computed} computed, {measurement.items_cached} from cache"),
        ("items/s", _rate(measurement.items_per_s, "items/s")),
        (
            "prefill",
            f"{_rate(measurement.prefill_tokens_per_s, 'tok/s')}  "
            f"({measurement.computed_prompt_tokens:,} computed of {measurement.prompt_tokens:,} prompt tokens)",
        ),
        (
            "decode",
            f"{_rate(measurement.decode_tokens_per_s, 'tok/s')}  ({measurement.completion_tokens:,} tokens)",
        ),
        (
            "peak memory",
            f"{measurement.peak_rss_bytes / 2**20:,.0f} MiB RSS"
            + (
                f", CUDA max allocated {measurement.cuda_max_allocated_bytes / 2**20:,.0f} MiB"
                if measurement.cuda_max_allocated_bytes is not None
                else ""
            ),
        ),
        (
            "hardware",
            f"{hw.cpu_model}, {hw.cpu_cores_logical} logical cores, {hw.ram_bytes / 2**30:.0f} GiB"
            + (f", GPU {hw.gpu}" if hw.gpu else ", no GPU"),
        ),
        (
            "price",
            f"${cost.price_per_hour:.3f}/h ({cost.profile}{', example price' if cost.price_is_example else ''})",
        ),
        ("$ per run", f"${cost.usd_per_run:.6f}"),
        (
            "$ per 1M tokens (lm-eval count)",
            (f"${cost.usd_per_1m_tokens:.4f}" if cost.usd_per_1m_tokens is not None else "n/a")
            + f"  ({cost.tokens_counted:,} tokens; MC: the context once per choice)",
        ),
        (
            "$ per 1M tokens (computed)",
            (f"${cost.usd_per_1m_computed_tokens:.4f}" if cost.usd_per_1m_computed_tokens is not None else "n/a")
            + f"  ({cost.tokens_computed:,} tokens actually run or generated)",
        ),
    ]
    if cost.api_price is not None:
        rows.append(("API price", cost.api_price))
        api_cost = f"${cost.api_usd_per_run:.6f}" if cost.api_usd_per_run is not None else "n/a"
        rows.append(("$ per run (API)", f"{api_cost}  (prompt + completion tokens x API price)"))
    errors = measurement.errors
    if errors:
        rows.append(("failed requests", ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))))
    for row in rows:
        table.add_row(*row)
    return table


def runs_table(runs: list[RunRecord], counts: dict[str, int]) -> Table:
    table = Table(title="runs", title_justify="left")
    for col in ("id", "model", "tasks", "items", "status", "when (UTC)"):
        table.add_column(col)
    for run in runs:
        table.add_row(
            run.id,
            run.model,
            ",".join(run.tasks),
            str(counts.get(run.id, 0)),
            run.status,
            run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


def print_json(console: Console, payload: Any) -> None:
    console.print_json(data=payload)
