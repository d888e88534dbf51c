"""Scale-out on Ray from the command line: the ``--workers`` family of options, worker events as
they happen, and ``show``'s per-worker table with the scaling efficiency."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from agimeter.cli.consoles import err_console
from agimeter.runner.executors.base import WorkerMeter, scaling

WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Run on N Ray workers, each loading the model (openai:MODEL@URL1,URL2: one per endpoint).",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option("--ray-address", help="An existing Ray cluster ('auto', or HOST:PORT); default: start one."),
]
WorkerResourcesOpt = Annotated[
    str | None,
    typer.Option(
        "--worker-resources", help='Each worker\'s resources as JSON, e.g. \'{"num_cpus": 4, "num_gpus": 1}\'.'
    ),
]


def worker_resources(text: str | None) -> dict[str, Any] | None:
    """``--worker-resources`` checked now (one line naming the field), stored with the run's options."""
    if text is None:
        return None
    from agimeter.runner.executors.ray_exec import parse_worker_resources

    return parse_worker_resources(text).model_dump(exclude_defaults=True)


def print_event(message: str) -> None:
    """A worker's failure or restart, printed above the progress bar as it happens."""
    err_console.print(f"[yellow]ray:[/yellow] {message}", highlight=False, soft_wrap=True, markup=True)


def _mib(n: int | None) -> str:
    return f"{n / 2**20:,.0f}" if n is not None else "—"


def workers_table(meters: list[WorkerMeter], wall_s: float) -> Table:
    """One row per worker and session, and the run's throughput against N × one worker's."""
    scale = scaling(meters, wall_s)
    eff = f"{100 * scale.efficiency:.0f}%" if scale.efficiency is not None else "n/a"
    rate = f"{scale.tokens_per_s:,.1f}" if scale.tokens_per_s is not None else "n/a"
    one = f"{scale.worker_tokens_per_s:,.1f}" if scale.worker_tokens_per_s is not None else "n/a"
    title = (
        f"workers · {scale.workers} · {rate} tok/s over the run's wall time · one worker {one} tok/s busy · "
        f"scaling efficiency {eff} · ${scale.usd:.4f} (Σ worker-hours × price)"
    )
    table = Table(title=title, title_justify="left")
    for column in ("worker", "session", "host", "model", "units", "requests", "tokens", "busy s", "held s"):
        table.add_column(column, justify="right" if column not in ("host", "model") else "left")
    for column in ("prefill s", "decode s", "tok/s busy", "peak RSS MiB", "CUDA MiB", "restarts", "hardware"):
        table.add_column(column, justify="left" if column == "hardware" else "right")
    for m in meters:
        hw = m.hardware
        per = m.tokens_per_busy_s
        table.add_row(
            str(m.worker),
            str(m.session or "—"),
            m.host,
            m.model,
            str(m.units),
            str(m.requests),
            f"{m.tokens:,}",
            f"{m.busy_s:.1f}",
            f"{m.held_s:.1f}",
            f"{m.prefill_s:.1f}",
            f"{m.decode_s:.1f}",
            f"{per:,.1f}" if per is not None else "—",
            _mib(m.peak_rss_bytes),
            _mib(m.cuda_max_allocated_bytes),
            f"{m.restarts}{' (dead)' if m.dead else ''}",
            f"{hw.cpu_model}, {hw.cpu_cores_logical} cores{', ' + hw.gpu if hw.gpu else ''}" if hw else "—",
        )
    return table
