"""The ``agimeter`` command line: thin, it only wires the layers together."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from agimeter.analysis.runs import (
    check_run,
    eval_summary,
    is_perf,
    perf_result,
    run_cost,
    run_measurement,
    run_protocols,
    run_scores,
    run_usd,
    run_workers,
)
from agimeter.backends.base import DTYPES
from agimeter.cli import (
    catalog_cmd,
    compare_cmd,
    listing_cmd,
    perf_cmd,
    pin_cmd,
    prices_cmd,
    progress_cmd,
    report_cmd,
    scale_out,
    serve_cmd,
    sweep_cmd,
)
from agimeter.cli.consoles import console, err_console, error_line
from agimeter.cli.options import (
    ConfigOpt,
    FormatOpt,
    ModelArgOpt,
    PricePerHourOpt,
    SeedOpt,
    StoreOpt,
    UsdPerCnyOpt,
    build_options,
    check_choice,
    check_format,
    non_negative,
    parse_model_args,
    usage_error_line,
)
from agimeter.cli.scale_out import RayAddressOpt, WorkerResourcesOpt, WorkersOpt
from agimeter.cli.stores import open_store
from agimeter.config import load_file_config, resolve_data_dir, resolve_profile, resolve_store_url
from agimeter.errors import AgimeterError, ConfigError
from agimeter.records.prices import PriceRow
from agimeter.records.run import RunRecord
from agimeter.runner.executors.base import scaling
from agimeter.store.repository import Store

if TYPE_CHECKING:
    from agimeter.records.options import ChatMode
    from agimeter.runner.execute import PreparedTask

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="agimeter: what an open LLM can do, dimension by dimension, and what it costs to run.",
)
DEFAULT_SUITE = "offline"


def _print_version(value: bool) -> None:
    if value:
        console.print(f"agimeter {package_version()}", highlight=False)
        raise typer.Exit()


def package_version() -> str:
    """The installed package's version (its metadata); the source tree's when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agimeter")
    except PackageNotFoundError:
        from agimeter import __version__

        return __version__


@app.callback()
def _root(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """agimeter: what an open LLM can do, dimension by dimension, and what it costs to run."""


# `run` exits with this after printing its table when the run ended incomplete (some items failed
# for good; re-running the same command retries them). Errors exit 2, interruptions 130.
EXIT_INCOMPLETE = 3


def _half_width(value: float | None) -> float | None:
    if value is not None and not 0 < value < 0.5:
        raise typer.BadParameter(f"must be between 0 and 0.5 (exclusive), got {value:g}")
    return value


@app.command()
def run(
    model: Annotated[str, typer.Option("--model", "-m", help="hf:<hub id|dir|alias>, fake:<name>, ...")],
    tasks: Annotated[
        str, typer.Option("--tasks", "-t", help="Comma-separated task names or YAML paths, or 'offline'.")
    ] = DEFAULT_SUITE,
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Benchmark data dir (or AGIMETER_DATA_DIR).")
    ] = None,
    include_path: Annotated[
        list[str] | None,
        typer.Option("--include-path", help="A dir of lm-eval task YAMLs: their task names work in --tasks."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N items of each task.")] = None,
    sample: Annotated[
        int | None,
        typer.Option("--sample", min=1, help="A random subset of N items, stratified by subtask (all, if fewer)."),
    ] = None,
    target_ci: Annotated[
        float | None,
        typer.Option(
            "--target-ci",
            callback=_half_width,
            help="Stop each task when its 95% CI half-width is at most this (0 < x < 0.5, e.g. 0.02).",
        ),
    ] = None,
    seed: SeedOpt = 1234,
    num_fewshot: Annotated[int | None, typer.Option("--num-fewshot", min=0, help="Override few-shot count.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Backend batch size.")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help=", ".join(DTYPES) + ".")] = "auto",
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N.")] = "auto",
    chat: Annotated[str, typer.Option("--chat", help="Chat template: auto (as the task says), on, off.")] = "auto",
    profile: Annotated[str | None, typer.Option("--profile", help="Hardware price profile name.")] = None,
    price_per_hour: PricePerHourOpt = None,
    model_arg: ModelArgOpt = None,
    api_price: Annotated[
        str | None, typer.Option("--api-price", help="Hosted API price to apply: MODEL or PROVIDER/MODEL.")
    ] = None,
    usd_per_cny: UsdPerCnyOpt = None,
    catalog: Annotated[str | None, typer.Option("--catalog", help="Published price catalog (published.json).")] = None,
    judge: Annotated[
        str | None,
        typer.Option("--judge", help="Judge model of judged tasks (MT-Bench, Arena-Hard, XSTest), as --model."),
    ] = None,
    judge_arg: Annotated[
        list[str] | None, typer.Option("--judge-arg", help="Judge backend option KEY=VALUE (repeatable).")
    ] = None,
    judge_price_per_hour: Annotated[
        float | None,
        typer.Option("--judge-price-per-hour", callback=non_negative, help="The judge's $/hour (default: the run's)."),
    ] = None,
    judge_api_price: Annotated[
        str | None, typer.Option("--judge-api-price", help="Hosted API price of the judge: MODEL or PROVIDER/MODEL.")
    ] = None,
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
    worker_resources: WorkerResourcesOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Evaluate a model on tasks; resumes an interrupted identical run. Exits 3 if it ends incomplete."""
    from agimeter.cli.progress import RichProgress, spinner
    from agimeter.records.options import RunOptions
    from agimeter.runner.session import GRADER, execute_run, judge_spec, load_backend, load_judge, prepare_tasks
    from agimeter.tasks.suites import expand_task_list

    check_choice(chat, "--chat", ("auto", "on", "off"))
    check_format(output)
    file_config = load_file_config(config)
    resolved_data = resolve_data_dir(data_dir, file_config)
    profile_name, hw_profile = resolve_profile(profile, price_per_hour, file_config)
    options = build_options(
        RunOptions,
        {"backend_options": "--model-arg", "api_price": "--api-price"},
        model=model,
        tasks=expand_task_list(tasks),
        include_paths=include_path or [],
        data_dir=str(resolved_data) if resolved_data else None,
        limit=limit,
        sample=sample,
        target_ci=target_ci,
        seed=seed,
        num_fewshot=num_fewshot,
        batch_size=batch_size,
        dtype=dtype,
        device=device,
        chat=cast("ChatMode", chat),
        profile=profile_name,
        price_per_hour=hw_profile.price_per_hour,
        price_is_example=hw_profile.example,
        backend_options=parse_model_args(model_arg),
        api_price=_api_price(api_price, usd_per_cny, catalog, config, file_config, resolved_data),
        judge=judge,
        judge_default=file_config.judge,
        judge_options=parse_model_args(judge_arg, "--judge-arg"),
        judge_price_per_hour=judge_price_per_hour,
        judge_api_price=_api_price(judge_api_price, usd_per_cny, catalog, config, file_config, resolved_data),
        workers=workers,
        ray_address=ray_address,
        worker_resources=scale_out.worker_resources(worker_resources),
    )
    prepared = prepare_tasks(options)
    _note_small_tasks(prepared, sample)
    chosen_judge = judge_spec(options, prepared)  # a task that needs a judge without one: before any load
    if judge is not None and chosen_judge is None:
        err_console.print("note: --judge is not used: no task here is judged", highlight=False)
    options = options.model_copy(update={"judge": chosen_judge})
    result_store = Store.open(resolve_store_url(store, file_config))
    models = {}
    judge_load_s = 0.0
    if chosen_judge is not None:
        with spinner(err_console, f"loading judge {chosen_judge}"):
            models[GRADER], judge_load_s = load_judge(options, chosen_judge)
    try:
        with spinner(err_console, f"loading {model}"):
            backend, load_s = load_backend(options, on_event=scale_out.print_event)
        try:
            with RichProgress(err_console) as progress:
                record = execute_run(
                    options, result_store, prepared, backend, load_s, progress, models=models, judge_load_s=judge_load_s
                )
        finally:
            backend.close()
    finally:
        for loaded in models.values():
            loaded.close()
    _show(result_store, record, output, subtasks=False, config=config)
    if record.status == "incomplete":
        raise typer.Exit(EXIT_INCOMPLETE)


def _note_small_tasks(prepared: list[PreparedTask], sample: int | None) -> None:
    """``--sample N`` over tasks of different sizes is fine; a task with fewer items than N is
    evaluated in full, and says so."""
    for task in prepared:
        if sample is not None and len(task.items) < sample:
            err_console.print(
                f"note: {task.spec.name} has {len(task.items)} items, fewer than --sample {sample}: evaluated in full",
                highlight=False,
                soft_wrap=True,
            )


def _api_price(
    query: str | None,
    usd_per_cny: float | None,
    catalog: str | None,
    config: Path | None,
    file_config: Any,
    data_dir: Path | None,
) -> PriceRow | None:
    """Resolve ``--api-price`` against the price table; stored with the run as a ``PriceRow``."""
    if query is None:
        return None
    from agimeter.config import config_path, resolve_catalog
    from agimeter.cost.prices import find_price, price_table

    catalog_path = resolve_catalog(catalog, file_config, data_dir)
    table = price_table(file_config.prices, str(config or config_path()), catalog_path)
    rate = usd_per_cny if usd_per_cny is not None else file_config.usd_per_cny
    return find_price(table, query, rate)


def _summary_payload(
    store: Store, run: RunRecord, weights: dict[str, float] | None = None, config: Path | None = None
) -> dict[str, Any]:
    from agimeter.analysis.dimensions import capability_map
    from agimeter.cli.render_solved import catalog_prices, run_solved

    scores = run_scores(store, run)
    payload: dict[str, Any] = {
        "run": run.model_dump(mode="json", exclude={"summary"}),
        "scores": [s.model_dump(mode="json") for s in scores],
        "capability": capability_map(scores, weights, run_usd(run)).model_dump(mode="json"),
        "protocols": {task: p.model_dump(mode="json") for task, p in run_protocols(run).items()},
    }
    measurement = run_measurement(run)
    if measurement is not None:
        payload["measurement"] = measurement.model_dump(mode="json")
        payload["cost"] = run_cost(run, measurement).model_dump(mode="json")
        if meters := run_workers(run):
            payload["workers"] = [m.model_dump(mode="json") for m in meters]
            payload["scaling"] = scaling(meters, measurement.wall_s).model_dump(mode="json")
    sequential = eval_summary(run).sequential
    if sequential:
        payload["sequential"] = {task: r.model_dump(mode="json") for task, r in sequential.items()}
    solved, hosted = run_solved(store, run, catalog_prices(store, config))
    payload["solved"] = [r.model_dump(mode="json") for r in solved]
    payload["hosted_comparison"] = [h.model_dump(mode="json") for h in hosted]
    from agimeter.cli.judge_view import judge_payload

    return payload | judge_payload(store, run)


def _show(
    store: Store,
    run: RunRecord,
    output: str,
    *,
    subtasks: bool,
    weights: dict[str, float] | None = None,
    config: Path | None = None,
) -> None:
    from agimeter.analysis.dimensions import capability_map
    from agimeter.cli.render import cost_table, scores_table
    from agimeter.cli.render_dimensions import bar_chart, dimension_table
    from agimeter.cli.render_solved import catalog_prices, run_solved, solved_table

    check_run(run)  # a malformed stored run: one line naming the field, exit 2
    if is_perf(run):
        from agimeter.cli.render_perf import perf_tables

        result = perf_result(run)
        if output == "json":
            sys.stdout.write(json.dumps({"run_id": run.id, **result.model_dump(mode="json")}, indent=2) + "\n")
        else:
            for table in perf_tables(run.id, result):
                console.print(table)
        return
    if output == "json":
        sys.stdout.write(json.dumps(_summary_payload(store, run, weights, config), indent=2) + "\n")
        return
    scores = run_scores(store, run)
    console.print(scores_table(run, scores, subtasks=subtasks))
    cmap = capability_map(scores, weights, run_usd(run))
    if cmap.dimensions:
        console.print(dimension_table(cmap))
        console.print(bar_chart(cmap))
    measurement = run_measurement(run)
    if measurement is not None:
        console.print(cost_table(measurement, run_cost(run, measurement)))
        if meters := run_workers(run):
            console.print(scale_out.workers_table(meters, measurement.wall_s))
    solved, hosted = run_solved(store, run, catalog_prices(store, config))
    if solved:
        console.print(solved_table(solved, hosted))

    from agimeter.cli.judge_view import judge_tables

    for table in judge_tables(store, run):
        console.print(table)
    if run.error:
        console.print(error_line(run.error))


@app.command()
def runs(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many recent runs.")] = 50,
    output: FormatOpt = "table",
) -> None:
    """List runs: id, model, tasks, status, when."""
    from agimeter.cli.render import runs_table

    check_format(output)
    result_store = open_store(store, config)
    records = result_store.list_runs(limit)
    counts = {r.id: len(result_store.run_item_keys(r.id)) for r in records}
    if output == "json":  # the summary (scores, cost) is `show RUN --format json`
        rows = [{**r.model_dump(mode="json", exclude={"summary"}), "items": counts[r.id]} for r in records]
        sys.stdout.write(json.dumps({"runs": rows}, indent=2) + "\n")
        return
    console.print(runs_table(records, counts))


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id or sweep id (or a unique prefix).")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
    subtasks: Annotated[bool, typer.Option("--subtasks", help="Break scores down by subtask.")] = False,
    weights: Annotated[
        str | None, typer.Option("--weights", help="Dimension weights of the overall index, e.g. math=2,safety=1.")
    ] = None,
) -> None:
    """Per-task scores with 95% CIs, the per-dimension capability map and the cost block; for a
    sweep (``sw...``), one row per variant with the paired comparison against the reference."""
    from agimeter.analysis.dimensions import parse_weights

    check_format(output)
    if sweep_cmd.is_sweep_id(run_id):
        sweep_store = open_store(store, config)
        sweep_cmd.show_sweep(sweep_store, sweep_store.get_sweep(run_id), output)
        return
    try:
        parsed = parse_weights(weights)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    result_store = open_store(store, config)
    _show(result_store, result_store.get_run(run_id), output, subtasks=subtasks, weights=parsed, config=config)


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    output: Annotated[str, typer.Option("--format", help="jsonl (one line per item) or json (summary).")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Export a run: per-item JSONL, or the run summary as JSON."""
    result_store = open_store(store, config)
    run_record = result_store.get_run(run_id)
    if output == "jsonl":
        text = "".join(
            json.dumps(item.model_dump(mode="json"), ensure_ascii=False) + "\n"
            for item in result_store.run_items(run_record.id)
        )
    elif output == "json":
        text = json.dumps(_summary_payload(result_store, run_record, config=config), indent=2) + "\n"
    else:
        check_format(output, ("jsonl", "json"))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)


app.command("tasks")(listing_cmd.list_tasks)
app.command("models")(listing_cmd.models)
app.command("perf")(perf_cmd.perf)
app.command("prices")(prices_cmd.prices)
app.command("compare")(compare_cmd.compare)
app.add_typer(catalog_cmd.catalog_app, name="catalog")
app.command("density")(progress_cmd.density)
app.command("pareto")(progress_cmd.pareto)
app.command("trends")(progress_cmd.trends)
app.command("report")(report_cmd.report)
app.command("serve")(serve_cmd.serve)
app.command("sweep")(sweep_cmd.sweep)
app.command("sweeps")(sweep_cmd.sweeps)
app.command("push")(serve_cmd.push)
app.command("pin")(pin_cmd.pin)


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Console entry point: user errors become one line on stderr and a non-zero exit."""
    import signal

    # A terminated run is marked interrupted (and resumable), like Ctrl-C.
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(code) comes back as its value
    except AgimeterError as err:
        _fail(str(err), err.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted: re-run the same command to resume")
        raise SystemExit(130) from None
    except typer.Exit as exit_:
        raise SystemExit(exit_.exit_code) from None
    except typer.Abort:
        raise SystemExit(1) from None
    except typer.TyperException as err:  # usage errors: bad or missing options, unknown commands
        if type(err).__name__ == "NoArgsIsHelpError":  # bare ``agimeter``: the help is the answer
            err.show()  # type: ignore[attr-defined]
            raise SystemExit(2) from None
        _fail(usage_error_line(err), max(2, err.exit_code))
    if isinstance(code, int) and code:
        raise SystemExit(code)


def _fail(message: str, exit_code: int) -> NoReturn:
    err_console.print(error_line(message), highlight=False, soft_wrap=True)
    raise SystemExit(exit_code) from None


if __name__ == "__main__":
    main()
