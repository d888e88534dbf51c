"""Progress views over leaderboard entries: density table, Pareto frontier, density and price trends.

Thin glue for the report, the web server and the CLI; every result is a pydantic model that
serialises with ``model_dump(mode="json")`` and says which provenance(s) it used.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.density import (
    DEFAULT_FAMILY,
    DEFAULT_VARIANT,
    DENSING_BENCHMARKS,
    NOT_FINITE,
    DensityError,
    ParamsKind,
    ReferenceFit,
    benchmark_mean,
    fit_reference,
    params_of,
    place,
    simple_density,
)
from agimeter.analysis.entries import ModelEntry, Provenance
from agimeter.analysis.pareto import (
    COST_AXES,
    FrontierPoint,
    capability_value,
    cost_value,
    known_dimensions,
    pareto_frontier,
)
from agimeter.analysis.price_links import PricePoint
from agimeter.analysis.trends import TrendFit, TrendPoint, fit_trend

# "GPT-3 level": a16z's LLMflation analysis tracks the cheapest model with MMLU >= 42
DEFAULT_PRICE_THRESHOLD = 42.0


class DensityRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    model: str
    provenance: Provenance
    released: dt.date | None
    params_b: float | None  # the count the density uses (ReferenceFit.params)
    score: float | None  # mean % over the report's benchmarks
    per_b: float | None
    per_b_non_embedding: float | None
    per_gb: float | None
    per_usd: float | None
    effective_params_b: float | None
    density: float | None
    status: str


class DensityReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: ReferenceFit | None
    reference_error: str | None = None  # why there is no reference curve
    benchmarks: list[str]
    params: ParamsKind
    rows: list[DensityRow]


def density_report(
    entries: Sequence[ModelEntry],
    family: str = DEFAULT_FAMILY,
    benchmarks: Sequence[str] = DENSING_BENCHMARKS,
    params: ParamsKind = "total",
    variant: str | None = DEFAULT_VARIANT,
) -> DensityReport:
    """Reference curve on ``family`` plus simple and relative densities for every entry.

    The reference is fitted on the entries given (so include the published catalog). Without a
    reference the simple ratios are still reported and ``reference_error`` says why.
    """
    reference: ReferenceFit | None = None
    error: str | None = None
    try:
        reference = fit_reference(entries, family, benchmarks, params, variant)
    except DensityError as exc:
        error = str(exc)
    rows = []
    for e in entries:
        score, missing = benchmark_mean(e, benchmarks)
        simple = simple_density(e, score)
        if reference is not None:
            placed = place(e, reference)
            used, n_hat, density, status = placed.params_b, placed.effective_params_b, placed.density, placed.status
        else:
            used, n_hat, density = params_of(e, params), None, None
            status = "missing benchmarks: " + ", ".join(missing) if missing else "no reference curve"
        rows.append(
            DensityRow(
                key=e.key,
                model=e.model,
                provenance=e.provenance,
                released=e.released,
                params_b=used,
                score=score,
                per_b=simple.per_b,
                per_b_non_embedding=simple.per_b_non_embedding,
                per_gb=simple.per_gb,
                per_usd=simple.per_usd,
                effective_params_b=n_hat,
                density=density,
                status=status,
            )
        )
    return DensityReport(
        reference=reference, reference_error=error, benchmarks=list(benchmarks), params=params, rows=rows
    )


# Pareto -------------------------------------------------------------------------------------
class ParetoRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    model: str
    provenance: Provenance
    cost: float
    capability: float
    on_frontier: bool
    dominated_by: list[str]


class NotPlaced(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    model: str
    provenance: Provenance
    reason: str


class ParetoReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capability: str
    cost: str
    cost_label: str
    provenance: list[str]  # the provenances considered
    frontier: list[str]  # keys, cheapest first
    points: list[ParetoRow]  # cheapest first
    not_placed: list[NotPlaced]


def pareto_report(
    entries: Sequence[ModelEntry],
    capability: str = "overall",
    cost: str = "usd_per_1m",
    provenance: Sequence[Provenance] | None = None,
) -> ParetoReport:
    """Frontier of ``capability`` (higher better) vs ``cost`` (lower better); see pareto.py for axes."""
    if cost not in COST_AXES:
        raise ValueError(f"unknown cost axis {cost!r}; choose one of {', '.join(COST_AXES)}")
    chosen = [e for e in entries if provenance is None or e.provenance in provenance]
    dims = known_dimensions(entries)
    placed: dict[str, tuple[ModelEntry, float, float]] = {}
    not_placed = []
    for e in chosen:
        x, why_x = cost_value(e, cost)
        y, why_y = capability_value(e, capability, dims)
        if x is not None and not math.isfinite(x):
            x, why_x = None, f"{cost} is not a finite number"
        if y is not None and not math.isfinite(y):
            y, why_y = None, f"{capability} is not a finite number"
        if x is None or y is None:
            reason = "; ".join(r for r in (why_y, why_x) if r)
            not_placed.append(NotPlaced(key=e.key, model=e.model, provenance=e.provenance, reason=reason))
        else:
            placed[e.key] = (e, x, y)
    result = pareto_frontier([FrontierPoint(key=k, x=x, y=y) for k, (_, x, y) in placed.items()])
    on = set(result.frontier)
    rows = [
        ParetoRow(
            key=k,
            model=e.model,
            provenance=e.provenance,
            cost=x,
            capability=y,
            on_frontier=k in on,
            dominated_by=result.dominated_by.get(k, []),
        )
        for k, (e, x, y) in sorted(placed.items(), key=lambda kv: (kv[1][1], -kv[1][2], kv[0]))
    ]
    return ParetoReport(
        capability=capability,
        cost=cost,
        cost_label=COST_AXES[cost],
        provenance=sorted(provenance) if provenance is not None else ["measured", "published"],
        frontier=result.frontier,
        points=rows,
        not_placed=not_placed,
    )


# trends -------------------------------------------------------------------------------------
def density_trend(
    report: DensityReport,
    provenance: Sequence[Provenance] = ("measured", "published"),
    n_boot: int = 2000,
    seed: int = 0,
    include_reference: bool = False,
) -> TrendFit:
    """ln ρ_max against release date over the report's rows with a density and a release date.
    A dated row whose score had a non-finite input enters as a NaN point, so the fit refuses
    (and says which) instead of silently fitting without it.

    The reference family's own models are left out unless ``include_reference``: their density is
    1 by construction (up to the curve's residuals), so they would measure the curve, not the
    trend (the Densing Law paper's reference models are likewise not among the models it dates)."""
    ref = report.reference
    own = {p.key for p in ref.points} if ref is not None and not include_reference else set()
    points = [
        TrendPoint(
            key=r.key,
            model=r.model,
            date=r.released,
            value=r.density if r.density is not None else math.nan,
            provenance=r.provenance,
        )
        for r in report.rows
        if r.provenance in provenance
        and r.released is not None
        and r.key not in own
        and (r.density is not None or NOT_FINITE in r.status)
    ]
    what = f"relative density vs {ref.family} ({ref.params} parameters)" if ref else "relative density"
    if own:
        what += f", its {len(own)} reference models left out"
    return fit_trend(points, "up", what, n_boot=n_boot, seed=seed)


def price_trend(
    entries: Sequence[ModelEntry],
    prices: Sequence[PricePoint],
    benchmark: str = "mmlu",
    threshold: float = DEFAULT_PRICE_THRESHOLD,
    provenance: Sequence[Provenance] = ("measured", "published"),
    n_boot: int = 2000,
    seed: int = 0,
) -> TrendFit:
    """Cheapest $ per 1M tokens over time among models scoring >= ``threshold`` on ``benchmark``.

    Published: each dated price linked to a catalog model that qualifies. Measured: an entry's own
    cost with its release date, when it has both.
    """
    qualifying: dict[str, ModelEntry] = {}
    for e in entries:
        s = e.score(benchmark)
        if e.provenance in provenance and s is not None and s.value >= threshold:
            qualifying.setdefault(e.model if e.provenance == "published" else e.key, e)
    points = []
    if "published" in provenance:
        for p in prices:
            linked = qualifying.get(p.linked_model or "")
            if linked is not None and linked.provenance == "published":
                label = f"{p.provider} {p.model} ({p.source.split(' <')[0][:80]})"
                points.append(
                    TrendPoint(
                        key=linked.key,
                        model=linked.model,
                        date=p.date,
                        value=p.usd_per_1m_blended,
                        provenance="published",
                        label=label,
                    )
                )
    for e in qualifying.values():
        usd = e.cost.usd_per_1m_blended if e.cost else None
        if e.provenance == "measured" and usd is not None and e.released is not None:
            label = e.cost.basis if e.cost else ""
            points.append(
                TrendPoint(key=e.key, model=e.model, date=e.released, value=usd, provenance="measured", label=label)
            )
    what = f"$ per 1M tokens (blended 3:1), cheapest model with {benchmark} >= {threshold:g}%"
    return fit_trend(points, "down", what, n_boot=n_boot, seed=seed)
