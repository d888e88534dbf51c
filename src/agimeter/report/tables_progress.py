"""The report's tables of the analyses: published laws next to our fits, density, Pareto frontiers
and paired comparisons of measured models."""

from __future__ import annotations

import datetime as dt

from agimeter.analysis.progress import DensityReport, ParetoReport
from agimeter.analysis.trends import TrendFit
from agimeter.report.data import ReportData
from agimeter.report.table_model import Table, ci, num, sig


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
    fits = [("capability density (ours)", data.density_trend), ("API price (ours)", data.price_trend)]
    fits += [("capability density (ours, sensitivity)", f) for f in data.density_sensitivity]
    for label, fit in fits:
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
    degenerate = f", {fit.degenerate_fraction:.0%} of resamples degenerate" if fit.degenerate_fraction else ""
    return (
        f"{word} every {num(fit.months_per_factor_2)} months {interval} ({fit.ci_level:.0%} CI), "
        f"R² {num(fit.r2, 2)}, {len(fit.frontier)} frontier points of {len(fit.points)}{degenerate}"
    )


def fit_points(fit: TrendFit) -> str:
    kinds: dict[str, int] = {}
    for p in fit.points:
        kinds[p.provenance] = kinds.get(p.provenance, 0) + 1
    used = ", ".join(f"{p.model} ({p.provenance}, {p.date})" for p in fit.frontier)
    return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + (f"; frontier: {used}" if used else "")


DENSITY_COLUMNS = [
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
    "from",
]


def _density_rows(report: DensityReport) -> list[list[str]]:
    rows = []
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
                sig(r.per_usd) + (f" ({r.usd_kind.replace('_', '-')})" if r.usd_kind else ""),
                sig(r.effective_params_b),
                sig(r.density),
                r.status,
                r.evidence,
            ]
        )
    return rows


def _reference_text(report: DensityReport | None) -> str:
    ref = report.reference if report else None
    if ref is None:
        return f"No reference curve: {report.reference_error if report else 'not computed'}."
    return (
        f"Reference curve: {ref.formula} on {ref.family} ({ref.n} models, R² {num(ref.r2, 3)}); "
        f"benchmarks {', '.join(ref.benchmarks)}; {ref.params} parameters."
    )


def density_table(data: ReportData) -> Table:
    report = data.density
    return Table(
        id="table-density",
        title="Capability density (score = mean % over the reference benchmarks)",
        columns=DENSITY_COLUMNS,
        rows=_density_rows(report) if report is not None else [],
        caption=_reference_text(report),
    )


def family_density_table(data: ReportData) -> Table:
    rows = []
    for report in data.family_density:
        label = f"{report.reference.family if report.reference else '?'} on {', '.join(report.benchmarks)}"
        rows += [[label, *row] for row in _density_rows(report)]
    return Table(
        id="table-family-density",
        title="Measured models next to their published family (on the benchmarks they were measured on)",
        columns=["family, benchmarks", *DENSITY_COLUMNS],
        rows=rows,
        caption=" ".join(_reference_text(r) for r in data.family_density)
        + " A measured model's family, release date and non-embedding size come from the catalog entry of the "
        "same checkpoint; its score from its own runs (published numbers are bf16 weights, measured ones as run).",
    )


def pareto_table(report: ParetoReport | None, table_id: str) -> Table:
    rows = []
    if report is not None:
        names = {p.key: p.model for p in report.points}
        for p in report.points:
            dominated = ", ".join(names.get(k, k) for k in p.dominated_by[:3])
            more = len(p.dominated_by) - 3
            state = "frontier" if p.on_frontier else f"dominated by {dominated}" + (f" +{more}" if more > 0 else "")
            interval = f" {ci(*p.capability_ci)}" if p.capability_ci else ""
            rows.append([p.model, p.provenance, p.group, num(p.capability) + interval, sig(p.cost), state, p.evidence])
    caption = f"{report.grouping}. " if report else ""
    return Table(
        id=table_id,
        title=f"Pareto: {report.capability if report else 'capability'} vs {report.cost_label if report else 'cost'}",
        columns=["model", "provenance", "compared within", "capability [95% CI]", "cost", "frontier", "from"],
        rows=rows,
        caption=caption + _not_placed(report),
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


def compare_table(data: ReportData) -> Table:
    rows = []
    for pair in data.comparisons:
        c = pair.comparison
        for d in c.dimensions:
            rows.append([pair.a_model, pair.b_model, f"dimension {d.dimension}", str(d.n), num(d.score_a),
                         num(d.score_b), f"{d.diff:+.1f}", f"[{d.ci_low:+.1f}, {d.ci_high:+.1f}]",
                         f"{d.p_value:.3g}", "sign-flip permutation"])  # fmt: skip
        for r in c.rows:
            interval = f"[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]"
            what = f"{r.task} ({r.metric})"
            rows.append([pair.a_model, pair.b_model, what, str(r.n), num(100 * r.mean_a), num(100 * r.mean_b),
                         f"{100 * r.diff:+.1f}", interval, f"{r.p_value:.3g}", r.test])  # fmt: skip
    return Table(
        id="table-compare",
        title="Measured models compared item by item (B − A on shared items, paired)",
        columns=["A", "B", "what", "shared n", "A", "B", "B − A", "95% CI", "p", "test"],
        rows=rows,
        caption="Items paired by task and document, only where both saw the same prompt; dimensions normalised "
        "(chance 0, perfect 100), tasks in percent; CIs from a paired bootstrap (items resampled together).",
    )


def price_claim_table(data: ReportData) -> Table:
    report = data.price_claim
    rows = []
    if report is not None:
        for r in report.rows:
            frontier = ", ".join(f"{p.date} {p.value:g}" for p in r.fit.frontier)
            rows.append([r.label, f"{r.window[0]}..{r.window[1]}", str(r.points), frontier, r.verdict])
        rows += [["observed (no CI)", "", "", "", line] for line in report.observed]
    claim = report.claim if report else None
    return Table(
        id="table-price-claim",
        title=f'The claim "{claim.text}" ({claim.who}, {claim.date}) against the catalog' if claim else "Price claim",
        columns=["evidence", "window", "prices", "frontier (date, price)", "result"],
        rows=rows,
        caption=f"Estimator: {report.estimator}." if report else "",
    )
