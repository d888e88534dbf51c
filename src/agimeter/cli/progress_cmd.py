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


FamilyOpt = Annotated[
    str,
    typer.Option("--reference-family", "--family", help="Reference family of the Densing-Law curve (sensitivity)."),
]
BenchmarksOpt = Annotated[
    str, typer.Option("--benchmarks", help="Benchmark set whose mean % is the density score (sensitivity).")
]


def _benchmarks(text: str) -> list[str]:
    bench = [b.strip() for b in text.split(",") if b.strip()]
    if not bench:
        raise ConfigError("--benchmarks needs at least one benchmark, e.g. mmlu,bbh")
    return bench


def density(
    family: FamilyOpt = "Qwen2.5",
    benchmarks: BenchmarksOpt = "mmlu,bbh,math,humaneval,mbpp",
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
    bench = _benchmarks(benchmarks)
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
    table.add_column("from (run: task n)", overflow="fold")
    rows = sorted(report.rows, key=lambda r: (r.density is None, -(r.density or 0.0)))
    for r in rows:
        usd = _f(r.per_usd, ".3g") + (f" ({r.usd_kind.replace('_', '-')})" if r.usd_kind else "")
        table.add_row(
            r.model, r.provenance, str(r.released or "-"), _f(r.params_b, ".3g"), _f(r.score, ".1f"),
            _f(r.per_b, ".1f"), _f(r.per_gb, ".1f"), usd, _f(r.effective_params_b, ".3g"),
            _f(r.density), r.status, r.evidence if r.provenance == "measured" else "",
        )  # fmt: skip
    console.print(table)


def pareto(
    capability: Annotated[
        str, typer.Option("--capability", help="overall, a dimension, or a benchmark (benchmark:math).")
    ] = "overall",
    cost: Annotated[
        str,
        typer.Option(
            "--cost", help="usd_per_1m, ttft_p50_ms, tpot_p50_ms, memory_gb, weights_gb, params_b or decode_tps."
        ),
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
    table = Table(title=f"{report.capability} vs {report.cost_label}", title_justify="left", caption=report.grouping)
    for col in ("model", "prov.", "compared within", report.cost_label, report.capability, "frontier", "dominated by"):
        table.add_column(col, overflow="fold")
    table.add_column("from (run: task n)", overflow="fold")
    for p in report.points:
        interval = f" [{p.capability_ci[0]:.1f}, {p.capability_ci[1]:.1f}]" if p.capability_ci else ""
        table.add_row(
            p.model, p.provenance, p.group, f"{p.cost:.4g}", f"{p.capability:.1f}{interval}",
            "yes" if p.on_frontier else "",
            ", ".join(names.get(k, k) for k in p.dominated_by[:3]) + (" …" if len(p.dominated_by) > 3 else ""),
            p.evidence if p.provenance == "measured" else "",
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
    family: Annotated[
        str | None,
        typer.Option(
            "--reference-family",
            "--family",
            help="Density: reference family (default Qwen2.5). Price: test this family's published price "
            "claim against the catalog (e.g. Qwen).",
        ),
    ] = None,
    benchmarks: BenchmarksOpt = "mmlu,bbh,math,humaneval,mbpp",
    include_reference: Annotated[
        bool, typer.Option("--include-reference", help="Density: keep the reference family's models in the trend.")
    ] = False,
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
    if what == "price" and family is not None:
        _price_claim(family, n_boot, seed, catalog, data_dir, store, config, output)
        return
    entries, prices = _entries(store, config, catalog, data_dir, usd_per_cny)
    check_benchmarks([benchmark], entries, "--benchmark")
    if what == "density":
        check_benchmarks(_benchmarks(benchmarks), entries, "--benchmarks")
        report = density_report(entries, family=family or "Qwen2.5", benchmarks=_benchmarks(benchmarks))
        fit = density_trend(report, kinds, n_boot=n_boot, seed=seed, include_reference=include_reference)
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
    console.print(trend_line(fit), highlight=False, soft_wrap=True)


def _price_claim(
    family: str,
    n_boot: int,
    seed: int,
    catalog: str | None,
    data_dir: str | None,
    store: str | None,
    config: Path | None,
    output: str,
) -> None:
    """``trends --what price --family Qwen``: the family's price claim against the catalog."""
    from agimeter.analysis.price_claim import CLAIMS, price_claim_report
    from agimeter.analysis.solved import family_root
    from agimeter.store.published import load_catalog
    from agimeter.store.published_repo import PublishedSet

    spec = CLAIMS.get(family_root(family))
    if spec is None:
        raise ConfigError(f"--family {family!r}: no published price claim recorded (known: {', '.join(CLAIMS)})")
    file_config = load_file_config(config)
    db = Store.open(resolve_store_url(store, file_config))
    try:
        published = db.published()
    finally:
        db.close()
    if not published.imports:
        path = resolve_catalog(catalog, file_config, resolve_data_dir(data_dir, file_config))
        if path is None:
            raise ConfigError("no catalog: import one, or give --catalog / --data-dir next to a catalog/")
        parsed, sha = load_catalog(path)
        published = PublishedSet.from_catalog(parsed, sha, path, "published")
    report = price_claim_report(published, spec, n_boot=n_boot, seed=seed)
    if output == "json":
        _dump(report)
        return
    console.print(f'claim: "{spec.text}" ({spec.who}, {spec.date})', highlight=False, soft_wrap=True)
    console.print(f"estimator: {report.estimator}", highlight=False, soft_wrap=True)
    table = Table(title=f"{spec.family} price claim: one-year change with a 95% CI, or why not", title_justify="left")
    for col in ("evidence", "window", "prices", "frontier", "result"):
        table.add_column(col, overflow="fold")
    for row in report.rows:
        frontier = ", ".join(f"{p.date} {p.value:g}" for p in row.fit.frontier)
        window = f"{row.window[0]}..{row.window[1]}"
        table.add_row(row.label, window, str(row.points), frontier, row.verdict)
    console.print(table)
    for line in report.observed:
        console.print(f"- {line}", highlight=False, soft_wrap=True)
    console.print(f"status: {report.status}", highlight=False)


def trend_line(fit: Any) -> str:
    """A fit in one line: the time with its CI and the evidence behind it, or why there is none."""
    if fit.status != "ok" or fit.months_per_factor_2 is None:
        return f"no trend: {fit.status}; {len(fit.points)} candidate points"
    evidence = f"{len(fit.frontier)} frontier points of {len(fit.points)} (a fit needs >= {fit.min_frontier_points})"
    word = "doubling" if fit.direction == "up" else "halving"
    low, high = fit.months_ci or (None, None)
    ci = f"{_f(low, '.1f')}–{'∞' if high is None else format(high, '.1f')}"
    share = f" ({fit.degenerate_fraction:.1%})" if fit.degenerate_fraction is not None else ""
    return (
        f"{word} time {fit.months_per_factor_2:.2f} months (95% bootstrap CI {ci}; R² {_f(fit.r2, '.3f')}; "
        f"{evidence}; {fit.n_boot} resamples, {fit.n_boot_degenerate} degenerate{share})"
    )
