"""``agimeter sweep``: a GGUF's quantized variants, evaluated paired on the same items, with their
memory and speed; ``agimeter sweeps`` lists the stored sweeps (``agimeter show SWEEP`` shows one)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from agimeter.cli.consoles import console, err_console
from agimeter.cli.options import (
    ConfigOpt,
    FormatOpt,
    ModelArgOpt,
    PricePerHourOpt,
    SeedOpt,
    StoreOpt,
    build_options,
    check_choice,
    check_format,
    parse_model_args,
)
from agimeter.cli.stores import open_store
from agimeter.config import load_file_config, resolve_data_dir, resolve_profile, resolve_store_url
from agimeter.errors import ConfigError
from agimeter.records.sweeps import SweepRecord
from agimeter.store.repository import Store


def sweep(
    model: Annotated[str, typer.Option("--model", "-m", help="The source: gguf:<alias or path to a .gguf file>.")],
    quants: Annotated[
        str, typer.Option("--quants", "-q", help="Comma-separated llama.cpp types, e.g. q8_0,q6_k,q4_k_m,q2_k.")
    ],
    tasks: Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated task names or YAML paths.")] = "offline",
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Benchmark data dir (or AGIMETER_DATA_DIR).")
    ] = None,
    include_path: Annotated[
        list[str] | None, typer.Option("--include-path", help="A dir of lm-eval task YAMLs.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N items of each task.")] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", min=1, help="A random subset of N items per task, the same on every row.")
    ] = None,
    seed: SeedOpt = 1234,
    num_fewshot: Annotated[int | None, typer.Option("--num-fewshot", min=0, help="Override few-shot count.")] = None,
    task_sample: Annotated[
        list[str] | None, typer.Option("--task-sample", help="TASK=N: this task's sample size (repeatable).")
    ] = None,
    task_fewshot: Annotated[
        list[str] | None, typer.Option("--task-fewshot", help="TASK=K: this task's few-shot count (repeatable).")
    ] = None,
    chat: Annotated[str, typer.Option("--chat", help="Chat template: auto (as the task says), on, off.")] = "auto",
    profile: Annotated[str | None, typer.Option("--profile", help="Hardware price profile name.")] = None,
    price_per_hour: PricePerHourOpt = None,
    model_arg: ModelArgOpt = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the paired tests.")] = 0.05,
    kl_text: Annotated[
        str | None,
        typer.Option(
            "--kl-text", help="Text for next-token KL divergence: a file, or none (default: gsm8k/train.jsonl)."
        ),
    ] = None,
    kl_tokens: Annotated[int, typer.Option("--kl-tokens", min=8, help="Tokens of that text to use.")] = 4096,
    kl_chunk: Annotated[int, typer.Option("--kl-chunk", min=8, help="Chunk length (as llama-perplexity -c).")] = 512,
    speed_prompt_tokens: Annotated[int, typer.Option("--speed-prompt-tokens", min=1, help="Prefill probe.")] = 512,
    speed_gen_tokens: Annotated[int, typer.Option("--speed-gen-tokens", min=2, help="Decode probe.")] = 64,
    speed_repeats: Annotated[int, typer.Option("--speed-repeats", min=1, help="Repeats of the probe.")] = 3,
    quantize_threads: Annotated[
        int | None, typer.Option("--quantize-threads", min=1, help="llama.cpp quantizer threads (default: all).")
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Quantize a GGUF with llama.cpp, evaluate every variant on the same items, pair them with the
    reference (the source): score CIs, paired deltas, McNemar p, KL divergence, GB, RSS, tok/s, $/1M.
    Re-running the same command resumes a killed sweep."""
    from agimeter.runner.sweep import SweepOptions, execute_sweep, plan_sweep
    from agimeter.tasks.suites import expand_task_list

    check_choice(chat, "--chat", ("auto", "on", "off"))
    check_format(output)
    file_config = load_file_config(config)
    resolved_data = resolve_data_dir(data_dir, file_config)
    profile_name, hw_profile = resolve_profile(profile, price_per_hour, file_config)
    task_names = expand_task_list(tasks)
    options = build_options(
        SweepOptions,
        {"backend_options": "--model-arg"},
        model=model,
        quants=[quants],
        tasks=task_names,
        include_paths=include_path or [],
        data_dir=str(resolved_data) if resolved_data else None,
        limit=limit,
        sample=sample,
        seed=seed,
        num_fewshot=num_fewshot,
        task_sample=_per_task(task_sample, "--task-sample", task_names, 1),
        task_fewshot=_per_task(task_fewshot, "--task-fewshot", task_names, 0),
        chat=chat,
        profile=profile_name,
        price_per_hour=hw_profile.price_per_hour,
        price_is_example=hw_profile.example,
        backend_options=parse_model_args(model_arg),
        alpha=alpha,
        kl_text=kl_text,
        kl_tokens=kl_tokens,
        kl_chunk=kl_chunk,
        speed_prompt_tokens=speed_prompt_tokens,
        speed_gen_tokens=speed_gen_tokens,
        speed_repeats=speed_repeats,
        quantize_threads=quantize_threads,
    )
    plan = plan_sweep(options)
    for note in plan.notes:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
    url = resolve_store_url(store, file_config)
    result_store = Store.open(url)
    record = execute_sweep(plan, result_store, url, lambda line: err_console.print(line, highlight=False))
    show_sweep(result_store, record, output, alpha)  # the level asked now (a stored sweep keeps its own)


def _per_task(pairs: list[str] | None, flag: str, tasks: list[str], least: int) -> dict[str, int]:
    """``["arc_challenge=200"]`` -> ``{"arc_challenge": 200}``; a malformed pair, a task not in
    ``--tasks`` or a number below ``least`` is a one-line error."""
    out: dict[str, int] = {}
    for pair in pairs or []:
        name, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not name or not value.lstrip("-").isdigit():
            raise ConfigError(f"{flag} expects TASK=N (an integer), got {pair!r}")
        if name not in tasks:
            raise ConfigError(f"{flag} {pair}: {name!r} is not one of --tasks ({', '.join(tasks)})")
        if int(value) < least:
            raise ConfigError(f"{flag} {pair}: must be >= {least}")
        out[name] = int(value)
    return out


def show_sweep(store: Store, record: SweepRecord, output: str, alpha: float | None = None) -> None:
    """The sweep's tables, or its report as JSON (paired tests at ``alpha``, default the sweep's)."""
    from agimeter.analysis.sweep import sweep_report
    from agimeter.cli.render_sweep import sweep_view

    report = sweep_report(store, record, alpha)
    if output == "json":
        sys.stdout.write(json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
        return
    console.print(sweep_view(report))


def is_sweep_id(value: str) -> bool:
    """Sweep ids are ``sw`` + hex; run ids are hex only, so the two never collide."""
    return value.startswith("sw")


def sweeps(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent sweeps.")] = 50,
    output: FormatOpt = "table",
) -> None:
    """List sweeps: id, model, reference type, variants, status, when."""
    from agimeter.cli.render_sweep import sweeps_table

    check_format(output)
    result_store = open_store(store, config)
    records = result_store.list_sweeps(limit)
    if output == "json":  # each sweep's table is `show SWEEP --format json`
        rows = [r.model_dump(mode="json", exclude={"options", "owner"}) for r in records]
        sys.stdout.write(json.dumps({"sweeps": rows}, indent=2) + "\n")
        return
    console.print(sweeps_table(records))


__all__ = ["is_sweep_id", "show_sweep", "sweep", "sweeps"]
