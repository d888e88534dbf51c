"""The analyses a report shows beyond the entries: Pareto frontiers, density, trends and their
sensitivity to the benchmark set. Each may fail on too few points, which becomes a note."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agimeter.analysis import progress
from agimeter.analysis.entry_compare import paired_comparison
from agimeter.analysis.entry_model import ModelEntry
from agimeter.analysis.price_claim import QWEN_CLAIM, family_prices, price_claim_report
from agimeter.analysis.price_links import price_points
from agimeter.errors import StoreError
from agimeter.report.data import PairedComparison, ReportData
from agimeter.store.published_repo import PublishedSet
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store

MAX_PAIRS = 6  # measured pairs compared item by item in one report (each runs a bootstrap)


def add_progress(data: ReportData, entries: list[ModelEntry], published: PublishedSet, rate: float | None) -> None:
    """Density, Pareto and trend fits: each may fail on too few points, which becomes a note."""

    def attempt(what: str, fn: Any) -> Any:
        try:
            return fn()
        except (ValueError, ArithmeticError) as err:  # DensityError is a ValueError
            data.notes.append(f"{what}: not computed ({err})")
            return None

    if not entries:
        return
    data.pareto_cost = attempt("Pareto (capability vs $/1M)", lambda: progress.pareto_report(entries))
    data.pareto_size = attempt(
        "Pareto (capability vs parameters)", lambda: progress.pareto_report(entries, cost="params_b")
    )
    data.density = attempt("capability density", lambda: progress.density_report(entries))
    if data.density is not None:
        report = data.density
        if report.reference is None:
            data.notes.append(f"relative density: no reference curve ({report.reference_error})")
        data.density_trend = attempt("density trend", lambda: progress.density_trend(report))
        for bench in progress.DENSITY_SENSITIVITY_SETS:
            other = attempt(
                f"density on {', '.join(bench)}", lambda b=bench: progress.density_report(entries, benchmarks=b)
            )
            fit = attempt("density trend", lambda r=other: progress.density_trend(r)) if other is not None else None
            if fit is not None:
                data.density_sensitivity.append(fit)
    data.family_density = attempt("measured models next to their family", lambda: progress.family_density(entries))
    data.family_density = data.family_density or []
    prices = price_points(published, rate)
    if prices:
        data.price_trend = attempt("price trend", lambda: progress.price_trend(entries, prices))
    if family_prices(published, QWEN_CLAIM):
        data.price_claim = price_claim_report(published, QWEN_CLAIM)
    for what, fit in (("density trend", data.density_trend), ("price trend", data.price_trend)):
        if fit is not None and fit.status != "ok":
            data.notes.append(f"{what}: no fit ({fit.status})")


def add_comparisons(data: ReportData, store: Store, measured: list[ModelEntry]) -> None:
    """Paired B - A with its CI for measured pairs that share items (at most ``MAX_PAIRS``)."""
    pairs = [(a, b) for i, a in enumerate(measured) for b in measured[i + 1 :] if a.scores and b.scores]
    for a, b in pairs:
        if len(data.comparisons) >= MAX_PAIRS:
            data.notes.append(f"paired comparisons: the first {MAX_PAIRS} of {len(pairs)} measured pairs are shown")
            break
        result = paired_comparison(store, a, b)
        if result is not None:
            data.comparisons.append(
                PairedComparison(a=a.key, b=b.key, a_model=a.model, b_model=b.model, comparison=result)
            )


def add_sweeps(data: ReportData, store: Store, runs: Sequence[RunRecord]) -> None:
    """The quantization sweeps whose measured rows' runs are all in the report (a report of some runs
    shows no sweep it holds only part of)."""
    from agimeter.analysis.sweep import sweep_report

    included = {r.id for r in runs}
    for sweep in reversed(store.list_sweeps()):  # oldest first
        rows = store.sweep_variants(sweep.id)
        run_ids = {run_id for row in rows for run_id in row.run_ids}
        if not run_ids or not run_ids <= included:
            continue
        try:
            data.sweeps.append(sweep_report(store, sweep))
        except StoreError as err:  # a row or run that does not validate
            data.notes.append(f"sweep {sweep.id}: not shown ({err})")
