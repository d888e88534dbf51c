"""``agimeter density | pareto | trends``: capability per parameter and per dollar, the models
nobody beats on both axes, and how fast the frontier moves. Measured and published entries are
labelled on every row."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.table import Table
from rich.text import Text

from agimeter.cli.choices import check_benchmarks, check_capability
from agimeter.cli.consoles import console
from agimeter.cli.options import ConfigOpt, FormatOpt, SeedOpt, StoreOpt, UsdPerCnyOpt, check_format
from agimeter.config import load_file_config, resolve_catalog, resolve_data_dir, resolve_store_url
from agimeter.errors import ConfigError
from agimeter.store.repository import Store

ProvenanceOpt = Annotated[str, typer.Option("--provenance", help="measured, published or both (comma-separated).")]
CatalogOpt = Annotated[
    str | None, typer.Option("--catalog", help="Read this catalog if none is imported (published.json).")
]
DataDirOpt = Annotated[str | None, typer.Option("--data-dir", help="Benchmark data dir; its ../catalog is used.")]


def _provenance(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if not parts or any(p not in ("measured", "published") for p in parts):
        raise ConfigError(f"--provenance must be measured, published or measured,published; got {text!r}")
    return parts


def _entries(
    store: str | None, config: Path | None, catalog: str | None, data_dir: str | None, usd_per_cny: float | None = None
) -> tuple[Any, Any]:
    from agimeter.analysis.entries import load_entries

    file_config = load_file_config(config)
    path = resolve_catalog(catalog, file_config, resolve_data_dir(data_dir, file_config))
    db = Store.open(resolve_store_url(store, file_config))
    try:
        rate = usd_per_cny if usd_per_cny is not None else file_config.usd_per_cny
        return load_entries(db, catalog=path, usd_per_cny=rate)
    finally:
        db.close()


def _dump(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj.model_dump(mode="json"), indent=2) + "\n")


def _f(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def density(
    family: Annotated[str, typer.Option("--family", help="Reference family for the Densing-Law curve.")] = "Qwen2.5",
    benchmarks: Annotated[
        str, typer.Option("--benchmarks", help="Benchmark set whose mean % is the score.")
    ] = "mmlu,bbh,math,humaneval,mbpp",
    params: Annotated[str, typer.Option("--params", help="total, non_embedding or active.")] = "total",
    provenance: ProvenanceOpt = "measured,published",
    catalog: CatalogOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Capability density: score per B parameters, per GB, per $, and effective size (Densing Law)."""
    from agimeter.analysis.progress import density_report

    check_format(output)
    if params not in ("total", "non_embedding", "active"):
        raise ConfigError(f"--params must be total, non_embedding or active, not {params!r}")
    kinds = _provenance(provenance)
    entries, _ = _entries(store, config, catalog, data_dir)
    bench = [b.strip() for b in benchmarks.split(",") if b.strip()]
    check_benchmarks(bench, entries, "--benchmarks")
    report = density_report(entries, family=family, benchmarks=bench, params=cast(Any, params))
    report.rows = [r for r in report.rows if r.provenance in kinds]
    if output == "json":
        _dump(report)
        return
    ref = report.reference
    if ref is not None:
        console.print(f"reference curve ({ref.family} {ref.variant}, n={ref.n}): {ref.formula}; R² {ref.r2:.3f}")
    else:
        console.print(Text.assemble(("no reference curve:", "yellow"), f" {report.reference_error}"))
    table = Table(title=f"capability density on {', '.join(bench)} ({params} parameters)", title_justify="left")
    for col in ("model", "prov.", "released", "params B", "score %", "per B", "per GB", "per $/1M", "eff. B", "ρ"):
        table.add_column(col, justify="left" if col in ("model", "prov.", "released") else "right")
    table.add_column("status")
    rows = sorted(report.rows, key=lambda r: (r.density is None, -(r.density or 0.0)))
    for r in rows:
        table.add_row(
            r.model, r.provenance, str(r.released or "-"), _f(r.params_b, ".3g"), _f(r.score, ".1f"),
            _f(r.per_b, ".1f"), _f(r.per_gb, ".1f"), _f(r.per_usd, ".3g"), _f(r.effective_params_b, ".3g"),
            _f(r.density), r.status,
        )  # fmt: skip
    console.print(table)


def pareto(
    capability: Annotated[
        str, typer.Option("--capability", help="overall, a dimension, or a benchmark (benchmark:math).")
    ] = "overall",
    cost: Annotated[
        str, typer.Option("--cost", help="usd_per_1m, ttft_p50_ms, tpot_p50_ms, memory_gb, weights_gb or params_b.")
    ] = "usd_per_1m",
    provenance: ProvenanceOpt = "measured,published",
    catalog: CatalogOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Pareto frontier of capability against a cost axis; who dominates whom."""
    from agimeter.analysis.pareto import COST_AXES
    from agimeter.analysis.progress import pareto_report

    check_format(output)
    if cost not in COST_AXES:
        raise ConfigError(f"--cost must be one of {', '.join(COST_AXES)}, not {cost!r}")
    entries, _ = _entries(store, config, catalog, data_dir)
    check_capability(capability, entries)
    report = pareto_report(entries, capability=capability, cost=cost, provenance=cast(Any, _provenance(provenance)))
    if output == "json":
        _dump(report)
        return
    names = {p.key: p.model for p in report.points}
    table = Table(title=f"{report.capability} vs {report.cost_label}", title_justify="left")
    for col in ("model", "prov.", report.cost_label, report.capability, "frontier", "dominated by"):
        table.add_column(col, overflow="fold")
    for p in report.points:
        table.add_row(
            p.model, p.provenance, f"{p.cost:.4g}", f"{p.capability:.1f}", "yes" if p.on_frontier else "",
            ", ".join(names.get(k, k) for k in p.dominated_by[:3]) + (" …" if len(p.dominated_by) > 3 else ""),
        )  # fmt: skip
    console.print(table)
    if report.not_placed:
        console.print(f"{len(report.not_placed)} not placed (missing an axis); --format json lists why")


def trends(
    what: Annotated[str, typer.Option("--what", help="density (doubling time) or price (halving time).")] = "density",
    benchmark: Annotated[str, typer.Option("--benchmark", help="Price: capability benchmark.")] = "mmlu",
    threshold: Annotated[
        float, typer.Option("--threshold", min=0, max=100, help="Price: minimum score % (0-100).")
    ] = 42.0,
    family: Annotated[str, typer.Option("--family", help="Density: reference family.")] = "Qwen2.5",
    provenance: ProvenanceOpt = "measured,published",
    n_boot: Annotated[int, typer.Option("--n-boot", min=100, help="Bootstrap resamples.")] = 2000,
    seed: SeedOpt = 0,
    usd_per_cny: UsdPerCnyOpt = None,
    catalog: CatalogOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Log-linear trend over release dates with a bootstrap CI: density doubling or price halving time."""
    from agimeter.analysis.progress import density_report, density_trend, price_trend

    check_format(output)
    if what not in ("density", "price"):
        raise ConfigError(f"--what must be density or price, not {what!r}")
    kinds = cast(Any, _provenance(provenance))
    entries, prices = _entries(store, config, catalog, data_dir, usd_per_cny)
    check_benchmarks([benchmark], entries, "--benchmark")
    if what == "density":
        fit = density_trend(density_report(entries, family=family), provenance=kinds, n_boot=n_boot, seed=seed)
    else:
        fit = price_trend(entries, prices, benchmark, threshold, provenance=kinds, n_boot=n_boot, seed=seed)
    if output == "json":
        _dump(fit)
        return
    table = Table(title=f"frontier of {fit.quantity} ({', '.join(fit.provenance)})", title_justify="left")
    for col in ("date", "model", "value", "provenance", "label"):
        table.add_column(col, overflow="fold")
    for p in fit.frontier:
        table.add_row(str(p.date), p.model, f"{p.value:.4g}", p.provenance, p.label)
    console.print(table)
    if fit.status != "ok" or fit.months_per_factor_2 is None:
        console.print(f"no trend: {fit.status}")
        return
    word = "doubling" if fit.direction == "up" else "halving"
    low, high = fit.months_ci or (None, None)
    ci = f"{_f(low, '.1f')}–{'∞' if high is None else format(high, '.1f')}"
    console.print(
        f"{word} time {fit.months_per_factor_2:.2f} months (95% bootstrap CI {ci}; R² {_f(fit.r2, '.3f')}; "
        f"{len(fit.frontier)} frontier points of {fit.n_points}; {fit.n_boot} resamples, "
        f"{fit.n_boot_degenerate} degenerate)"
    )
