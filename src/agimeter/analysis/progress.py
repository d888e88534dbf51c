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
from agimeter.analysis.entry_model import ModelEntry, Provenance
from agimeter.analysis.pareto_report import NotPlaced, ParetoReport, ParetoRow, pareto_report
from agimeter.analysis.price_links import PricePoint
from agimeter.analysis.trends import TrendFit, TrendPoint, fit_trend

__all__ = [
    "DEFAULT_PRICE_THRESHOLD",
    "DENSITY_SENSITIVITY_SETS",
    "DensityReport",
    "DensityRow",
    "NotPlaced",
    "ParetoReport",
    "ParetoRow",
    "density_report",
    "density_trend",
    "family_density",
    "pareto_report",
    "price_trend",
]

# Benchmark sets the report also fits the density trend on, to show how much it depends on the set
# (the paper's five are reported by few models; more models report MMLU, and MMLU + BBH).
DENSITY_SENSITIVITY_SETS: tuple[tuple[str, ...], ...] = (("mmlu",), ("mmlu", "bbh"))
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
    usd_kind: str | None = None  # what per_usd divides by: a self-hosted or an API price per 1M tokens
    evidence: str = ""  # measured: the runs behind the score and their n


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
                usd_kind=e.cost.kind if e.cost is not None and simple.per_usd is not None else None,
                evidence=e.evidence(benchmarks),
            )
        )
    return DensityReport(
        reference=reference, reference_error=error, benchmarks=list(benchmarks), params=params, rows=rows
    )


def family_density(entries: Sequence[ModelEntry]) -> list[DensityReport]:
    """Measured entries next to their published family: per family with measured members (the
    family named by the catalog entry of the same checkpoint), the density report on the
    benchmarks every measured member has, with the family as the reference curve; its rows are
    the family's models and the measured ones."""
    members: dict[str, list[ModelEntry]] = {}
    for e in entries:
        if e.provenance == "measured" and e.family:
            members.setdefault(e.family, []).append(e)
    out = []
    for family, measured in sorted(members.items()):
        sets = [{s.benchmark for s in m.scores if s.counted and s.benchmark} for m in measured]
        shared = sorted(set.intersection(*sets))
        if not shared:
            continue
        report = density_report(entries, family=family, benchmarks=shared)
        keep = {e.key for e in entries if e.family == family}
        report.rows = [r for r in report.rows if r.key in keep]
        out.append(report)
    return out


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
        what += f", its {len(own)} reference models left out,"
    what += f" on {', '.join(report.benchmarks)}"
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
        if e.provenance in provenance and s is not None and s.status == "ok" and s.value >= threshold:
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
