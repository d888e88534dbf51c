"""``agimeter perf``: the serving load generator on the command line."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from agimeter.cli.consoles import console, err_console
from agimeter.cli.options import (
    ConfigOpt,
    FormatOpt,
    ModelArgOpt,
    PricePerHourOpt,
    SeedOpt,
    StoreOpt,
    build_options,
    check_format,
    parse_model_args,
    positive,
)
from agimeter.cli.scale_out import RayAddressOpt
from agimeter.config import load_file_config, resolve_data_dir, resolve_profile, resolve_store_url
from agimeter.errors import ConfigError

if TYPE_CHECKING:  # the load generator (aiohttp, numpy) is imported only when perf runs
    from agimeter.perf.loadgen import PointSpec
    from agimeter.perf.loadgen import Progress as ProgressFn


def _levels(text: str, flag: str) -> list[float]:
    try:
        levels = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag} expects comma-separated numbers, got {text!r}") from None
    if not levels or any(not (math.isfinite(level) and level > 0) for level in levels):
        raise ConfigError(f"{flag} needs positive numbers, got {text!r}")
    return levels


def perf(
    model: Annotated[str, typer.Option("--model", "-m", help="openai:MODEL@BASE_URL (a server that streams).")],
    concurrency: Annotated[
        str | None, typer.Option("--concurrency", "-c", help="Closed loop: concurrency sweep, e.g. 1,2,4,8.")
    ] = None,
    rate: Annotated[
        str | None, typer.Option("--rate", help="Open loop: Poisson arrival rates (req/s), e.g. 5,10.")
    ] = None,
    requests: Annotated[int | None, typer.Option("--requests", "-n", min=1, help="Requests per sweep point.")] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", callback=positive, help="Seconds per sweep point.")
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", min=1, help="Open loop: cap on requests in flight.")
    ] = None,
    input_tokens: Annotated[int, typer.Option("--input-tokens", min=1, help="Synthetic prompt length (tokens).")] = 128,
    output_tokens: Annotated[int, typer.Option("--output-tokens", min=1, help="max_tokens of every request.")] = 64,
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, help="Unmeasured requests sent before each sweep point.")
    ] = 1,
    prompts_from: Annotated[
        str | None, typer.Option("--prompts-from", help="Use a task's real prompts instead of synthetic ones.")
    ] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="Benchmark data dir for --prompts-from.")] = None,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="HF tokenizer (id, dir or alias) for exact prompt lengths.")
    ] = None,
    ignore_eos: Annotated[
        bool, typer.Option("--ignore-eos/--no-ignore-eos", help="Ask the server to generate exactly max_tokens.")
    ] = True,
    slo: Annotated[str | None, typer.Option("--slo", help="SLOs for goodput, e.g. ttft=2s,tpot=100ms.")] = None,
    seed: SeedOpt = 0,
    profile: Annotated[str | None, typer.Option("--profile", help="Hardware price profile of the server.")] = None,
    price_per_hour: PricePerHourOpt = None,
    model_arg: ModelArgOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Send the load from N Ray workers (split Poisson arrivals).")
    ] = None,
    ray_address: RayAddressOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Load-test a streaming server: TTFT, TPOT, ITL, latency percentiles, throughput, goodput, $/1M tokens."""
    from agimeter.cli.render_perf import perf_tables
    from agimeter.perf.metrics import parse_slo
    from agimeter.perf.session import PerfOptions, run_perf, store_perf
    from agimeter.runner.session import RunOptions, load_backend
    from agimeter.store.repository import Store

    check_format(output)
    if concurrency is not None and rate is not None:
        raise ConfigError("give --concurrency or --rate, not both")
    mode = "rate" if rate is not None else "concurrency"
    levels = _levels(rate, "--rate") if rate is not None else _levels(concurrency or "1", "--concurrency")
    if mode == "concurrency" and any(level != int(level) for level in levels):
        raise ConfigError("--concurrency needs whole numbers")
    if requests is None and duration is None:
        raise ConfigError("give --requests and/or --duration so that the run ends by itself")
    parse_slo(slo)  # bad SLOs fail before any model is loaded
    file_config = load_file_config(config)
    profile_name, hw = resolve_profile(profile, price_per_hour, file_config)
    resolved_data = resolve_data_dir(data_dir, file_config)
    options = build_options(
        PerfOptions,
        {"levels": f"--{mode}", "duration_s": "--duration", "backend_options": "--model-arg"},
        model=model,
        mode=mode,
        levels=levels,
        requests=requests,
        duration_s=duration,
        max_concurrency=max_concurrency,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        warmup=warmup,
        prompts_from=prompts_from,
        data_dir=str(resolved_data) if resolved_data else None,
        tokenizer=tokenizer,
        ignore_eos=ignore_eos,
        slo=slo,
        seed=seed,
        profile=profile_name,
        price_per_hour=hw.price_per_hour,
        price_is_example=hw.example,
        backend_options=parse_model_args(model_arg),
        workers=workers,
        ray_address=ray_address,
    )
    result_store = Store.open(resolve_store_url(store, file_config))
    backend, _ = load_backend(RunOptions(model=model, tasks=[], backend_options=options.backend_options))
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        ) as bar:

            def progress(spec: PointSpec) -> ProgressFn:
                label = f"concurrency {spec.level:g}" if spec.mode == "concurrency" else f"rate {spec.level:g}/s"
                task = bar.add_task(label, total=spec.requests, failed=0)

                def update(done: int, failed: int) -> None:
                    bar.update(task, completed=done, failed=failed)

                return update

            result = run_perf(options, backend, progress)
    finally:
        backend.close()
    record = store_perf(result_store, result, backend)
    if output == "json":
        sys.stdout.write(json.dumps({"run_id": record.id, **result.model_dump(mode="json")}, indent=2) + "\n")
        return
    for table in perf_tables(record.id, result):
        console.print(table)
