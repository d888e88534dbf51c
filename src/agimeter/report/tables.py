"""The report's tables, built once from ``ReportData`` and rendered by both the HTML and markdown views.

Every table that mixes measured and published numbers has a provenance column (or says in its
title which kind it holds), so no number appears without saying where it comes from.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.entries import ModelEntry
from agimeter.analysis.progress import ParetoReport
from agimeter.analysis.trends import TrendFit
from agimeter.report.data import ReportData
from agimeter.tasks.dimensions import DIMENSIONS


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # stable element id in the HTML report
    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


def num(x: float | None, digits: int = 1) -> str:
    return f"{x:,.{digits}f}" if x is not None and math.isfinite(x) else "–"


def sig(x: float | None) -> str:
    """Three significant figures for values spanning orders of magnitude ($, parameters)."""
    return f"{x:.3g}" if x is not None and math.isfinite(x) else "–"


def ci(low: float | None, high: float | None) -> str:
    return f"[{num(low)}, {num(high)}]" if low is not None and high is not None else ""


def dimensions_of(entries: Sequence[ModelEntry]) -> list[str]:
    seen = {d for e in entries for d in e.dimensions}
    return [d for d in DIMENSIONS if d in seen] + sorted(seen - set(DIMENSIONS))


def runs_table(data: ReportData) -> Table:
    return Table(
        id="table-runs",
        title="Measured runs in this report",
        columns=["run", "model", "kind", "status", "created (UTC)", "tasks"],
        rows=[
            [r.id, r.model, r.kind, r.status, f"{r.created_at:%Y-%m-%d %H:%M}", ", ".join(r.tasks)] for r in data.runs
        ],
    )


def leaderboard_table(data: ReportData) -> Table:
    measured = [e for e in data.measured if e.dimensions or e.cost]
    ranked = sorted(measured, key=_rank) + sorted(data.published, key=_rank)
    dims = dimensions_of(ranked)
    rows = []
    for e in ranked:
        overall = num(e.overall) + (f" {ci(*e.overall_ci)}" if e.overall_ci else "")
        cost = e.cost
        rows.append(
            [
                e.model,
                e.provenance,
                overall,
                *[num(e.dimensions.get(d)) for d in dims],
                sig(cost.usd_per_1m_blended) if cost else "–",
                (cost.basis + (" (example price)" if cost.price_is_example else "")) if cost else "",
                num(e.memory_gb, 2),
                sig(e.params_b),
                e.released_label or (e.released.isoformat() if e.released else ""),
            ]
        )
    return Table(
        id="table-leaderboard",
        title="Leaderboard: capability (normalised: chance 0, perfect 100) and cost",
        columns=[
            "model",
            "provenance",
            "overall [95% CI]",
            *dims,
            "$ / 1M (3:1)",
            "cost basis",
            "memory GB",
            "params B",
            "released",
        ],
        rows=rows,
        caption="Measured overall = mean of dimension scores over the tasks run; published overall = mean of the "
        "normalised reported benchmarks. The two are computed on different benchmark sets.",
    )


def _rank(e: ModelEntry) -> tuple[float, str]:
    return (-(e.overall if e.overall is not None else -1.0), e.model)


def side_by_side_table(data: ReportData) -> Table:
    rows = []
    for key, pairs in data.side_by_side.items():
        entry = data.entry(key)
        for r in pairs:
            m, p = r.measured, r.published
            inside = "" if r.within_ci is None else ("yes" if r.within_ci else "no")
            rows.append(
                [
                    entry.model if entry else key,
                    r.benchmark,
                    f"{num(m.value)} {ci(m.ci_low, m.ci_high)}".strip() + (f" (n={m.n})" if m.n else ""),
                    f"{num(p.value)} ({r.published_model})",
                    f"{r.difference:+.1f}",
                    inside,
                    "; ".join(r.protocol_differences),
                    p.source,
                ]
            )
    return Table(
        id="table-side-by-side",
        title="Measured next to published, per benchmark (percent)",
        columns=[
            "model",
            "benchmark",
            "measured [95% CI]",
            "published",
            "measured − published",
            "published inside CI",
            "protocol differences",
            "published source",
        ],
        rows=rows,
    )


def laws_table(data: ReportData) -> Table:
    rows = []
    for law in data.laws:
        claim = []
        if law.doubling_months is not None:
            claim.append(f"doubles every {law.doubling_months:g} months")
        if law.halving_months is not None:
            claim.append(f"halves every {law.halving_months:g} months")
        if law.factor_per_year is not None:
            claim.append(f"×{law.factor_per_year} per year")
        rows.append(["published", law.name, law.quantity, "; ".join(claim) or "(see note)", law.source, law.note])
    for label, fit in (("capability density (ours)", data.density_trend), ("API price (ours)", data.price_trend)):
        if fit is None:
            continue
        rows.append(["fitted here", label, fit.quantity, fit_claim(fit), fit_points(fit), fit.method])
    return Table(
        id="table-laws",
        title="Published trend laws next to our fits",
        columns=["provenance", "law", "quantity", "claim", "source / points", "note / method"],
        rows=rows,
        caption="Our fits run on the models in this report (catalog numbers and any measured ones); "
        "the points each uses are listed with their provenance.",
    )


def fit_claim(fit: TrendFit) -> str:
    """ "doubles every 3.4 months [2.9, 4.1] (95% CI), R² 0.91, 7 frontier points", or why there is no fit."""
    if fit.status != "ok":
        return f"no fit: {fit.status}"
    word = "doubles" if fit.direction == "up" else "halves"
    if fit.months_per_factor_2 is None:
        return f"no {'rise' if fit.direction == 'up' else 'fall'} over time (slope {num(fit.slope_per_year, 3)} ln/yr)"
    low, high = fit.months_ci if fit.months_ci else (None, None)
    interval = f"[{num(low)}, {num(high) if high is not None else '∞'}]" if fit.months_ci else "[no CI]"
    return (
        f"{word} every {num(fit.months_per_factor_2)} months {interval} ({fit.ci_level:.0%} CI), "
        f"R² {num(fit.r2, 2)}, {len(fit.frontier)} frontier points of {len(fit.points)}"
    )


def fit_points(fit: TrendFit) -> str:
    kinds: dict[str, int] = {}
    for p in fit.points:
        kinds[p.provenance] = kinds.get(p.provenance, 0) + 1
    used = ", ".join(f"{p.model} ({p.provenance}, {p.date})" for p in fit.frontier)
    return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + (f"; frontier: {used}" if used else "")


def density_table(data: ReportData) -> Table:
    report = data.density
    rows = []
    if report is not None:
        for r in sorted(report.rows, key=lambda r: (r.provenance, r.released or dt.date.min, r.model)):
            if r.score is None and r.per_gb is None and r.per_usd is None:
                continue
            rows.append(
                [
                    r.model,
                    r.provenance,
                    r.released.isoformat() if r.released else "–",
                    sig(r.params_b),
                    num(r.score),
                    sig(r.per_b),
                    sig(r.per_b_non_embedding),
                    sig(r.per_gb),
                    sig(r.per_usd),
                    sig(r.effective_params_b),
                    sig(r.density),
                    r.status,
                ]
            )
    ref = report.reference if report else None
    caption = (
        f"Reference curve: {ref.formula} on {ref.family} ({ref.n} models, R² {num(ref.r2, 3)}); "
        f"benchmarks {', '.join(ref.benchmarks)}; {ref.params} parameters."
        if ref
        else f"No reference curve: {report.reference_error if report else 'not computed'}."
    )
    return Table(
        id="table-density",
        title="Capability density (score = mean % over the reference benchmarks)",
        columns=[
            "model",
            "provenance",
            "released",
            "params B",
            "score %",
            "per B",
            "per B non-emb.",
            "per GB",
            "per $/1M",
            "effective params B",
            "density ρ",
            "status",
        ],
        rows=rows,
        caption=caption,
    )


def pareto_table(report: ParetoReport | None, table_id: str) -> Table:
    rows = []
    if report is not None:
        names = {p.key: p.model for p in report.points}
        for p in report.points:
            dominated = ", ".join(names.get(k, k) for k in p.dominated_by[:3])
            more = len(p.dominated_by) - 3
            state = "frontier" if p.on_frontier else f"dominated by {dominated}" + (f" +{more}" if more > 0 else "")
            rows.append([p.model, p.provenance, num(p.capability), sig(p.cost), state])
    return Table(
        id=table_id,
        title=f"Pareto: {report.capability if report else 'capability'} vs {report.cost_label if report else 'cost'}",
        columns=["model", "provenance", "capability", "cost", "frontier"],
        rows=rows,
        caption=_not_placed(report),
    )


def _not_placed(report: ParetoReport | None) -> str:
    if report is None or not report.not_placed:
        return ""
    counts: dict[str, int] = {}
    for n in report.not_placed:
        counts[n.provenance] = counts.get(n.provenance, 0) + 1
    which = ", ".join(f"{c} {k}" for k, c in sorted(counts.items()))
    measured = [f"{n.model} ({n.reason})" for n in report.not_placed if n.provenance == "measured"]
    return f"Not placed (no value on an axis): {which}" + (f"; measured: {'; '.join(measured)}" if measured else "")


def latency_table(data: ReportData) -> Table:
    rows = []
    for e in data.measured:
        for p in e.latency:
            rows.append(
                [
                    e.model,
                    p.run_id,
                    f"{p.mode} {p.level:g}",
                    num(p.request_per_s, 2),
                    num(p.output_tokens_per_s),
                    *[f"{num(d.p50)} / {num(d.p99)}" if d else "–" for d in (p.ttft, p.tpot, p.itl, p.e2e)],
                ]
            )
    return Table(
        id="table-latency",
        title="Latency per sweep point (measured, ms: p50 / p99)",
        columns=["model", "run", "load", "req/s", "output tok/s", "TTFT", "TPOT", "ITL", "E2E"],
        rows=rows,
    )


def protocol_table(data: ReportData) -> Table:
    return Table(
        id="table-protocols",
        title="Protocols of the measured tasks (from each run's summary)",
        columns=[
            "task",
            "version",
            "dimension",
            "type",
            "shots",
            "metrics",
            "chat",
            "prompt",
            "generation",
            "scoring",
            "deviations",
            "protocol hash",
            "runs",
        ],
        rows=[
            [
                p.task,
                p.version,
                p.dimension,
                p.output_type,
                "–" if p.shots is None else str(p.shots),
                ", ".join(p.metrics),
                "yes" if p.chat else "no",
                p.prompt,
                p.generation,
                p.scoring,
                "; ".join(p.deviations),
                p.protocol_hash,
                ", ".join(p.runs),
            ]
            for p in data.protocols
        ],
    )


def published_scores_table(data: ReportData) -> Table:
    rows = [
        [e.model, s.name, num(s.value), "–" if s.shots is None else str(s.shots), s.metric, s.protocol, s.source]
        for e in data.published
        for s in e.scores
    ]
    return Table(
        id="table-published-scores",
        title="Published scores: setting and source of every reported number",
        columns=["model", "benchmark", "value %", "shots", "metric", "setting", "source"],
        rows=rows,
    )


def all_tables(data: ReportData) -> dict[str, Table]:
    tables = [
        runs_table(data),
        leaderboard_table(data),
        side_by_side_table(data),
        laws_table(data),
        density_table(data),
        pareto_table(data.pareto_cost, "table-pareto-cost"),
        pareto_table(data.pareto_size, "table-pareto-size"),
        latency_table(data),
        protocol_table(data),
        published_scores_table(data),
    ]
    return {t.id: t for t in tables}
