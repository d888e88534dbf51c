"""The report's tables, built once from ``ReportData`` and rendered by both the HTML and markdown views.

Every table that mixes measured and published numbers has a provenance column (or says in its
title which kind it holds), so no number appears without saying where it comes from. The tables
of the analyses (laws and fits, density, Pareto, paired comparisons) are in ``tables_progress``.
"""

from __future__ import annotations

from agimeter.analysis.entry_model import COST_KIND_SHORT, ModelEntry
from agimeter.analysis.ranking import coverage_text, group_key
from agimeter.analysis.trends import TrendFit
from agimeter.report.data import ReportData
from agimeter.report.table_model import Table, ci, dimensions_of, num, sig

__all__ = ["Table", "all_tables", "dimensions_of", "fit_claim"]


def runs_table(data: ReportData) -> Table:
    return Table(
        id="table-runs",
        title="Measured runs in this report",
        columns=["run", "model", "kind", "status", "created (UTC)", "tasks", "stands for"],
        rows=[
            [
                r.id,
                r.model,
                r.kind,
                r.status,
                f"{r.created_at:%Y-%m-%d %H:%M}",
                ", ".join(r.tasks),
                ", ".join(r.used_for) or "– (another run was chosen for each task)",
            ]
            for r in data.runs
        ],
        caption="Each task's reported number comes from one run: the one with the most items under the task's "
        "own protocol (ties: the newest), unless pinned with `agimeter pin`.",
    )


def leaderboard_table(data: ReportData) -> Table:
    measured = [e for e in data.measured if e.dimensions or e.cost or e.scores]
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
                f"{e.rank} of {e.rank_among}" if e.rank is not None else "unranked",
                coverage_text(e),
                *[num(e.dimensions.get(d)) for d in dims],
                sig(cost.usd_per_1m_blended) if cost else "–",
                sig(cost.usd_per_1m_computed) if cost else "–",
                _solved_text(e),
                COST_KIND_SHORT[cost.kind] if cost and cost.kind else "",
                (cost.basis + (" (example price)" if cost.price_is_example else "")) if cost else "",
                num(e.memory_gb, 2),
                sig(e.params_b),
                e.released_label or (e.released.isoformat() if e.released else ""),
                e.evidence(),
            ]
        )
    return Table(
        id="table-leaderboard",
        title="Leaderboard: capability (normalised: chance 0, perfect 100) and cost",
        columns=[
            "model",
            "provenance",
            "overall [95% CI]",
            "rank (same coverage)",
            "coverage",
            *dims,
            "$ / 1M (lm-eval tokens)",
            "$ / 1M (computed tokens)",
            "$ per solved item",
            "price kind",
            "cost basis",
            "memory GB",
            "params B",
            "released",
            "from (run: task n)",
        ],
        rows=rows,
        caption="Overall = mean of the dimension scores an entry has (its coverage); it is ranked only among "
        "entries with the same coverage. Measured scores count only from the run chosen for each task (most "
        "items under the task's own protocol, or pinned) with enough items; the others are listed in the last "
        "column with their status. Published overall = mean of the normalised reported benchmarks. "
        "$ / 1M: lm-eval tokens count a multiple-choice context once per choice; computed tokens are those the "
        "model actually ran and generated. Self-hosted = this hardware's $/h; API = a provider's list price.",
    )


def _solved_text(e: ModelEntry) -> str:
    overall = e.solved_overall()
    if overall is None:
        return "–"
    return _usd(overall.usd_per_correct) if overall.status == "ok" else overall.status


def _rank(e: ModelEntry) -> tuple[tuple[int, str], float, str]:
    return (group_key(e), -(e.overall if e.overall is not None else -1.0), e.model)


def _usd(x: float | None) -> str:
    return f"${sig(x)}" if x is not None else "–"


def solved_table(data: ReportData) -> Table:
    rows = []
    for e in data.measured:
        hosted = {h.task: h for h in e.hosted}
        for r in e.solved:
            tokens = f"{num(r.tokens_per_correct, 0)} / {num(r.computed_tokens_per_correct, 0)}"
            per = _usd(r.usd_per_correct) if r.status == "ok" else r.status
            h = hosted.get(r.task)
            other = "–"
            if h is not None:
                value = _usd(h.usd_per_correct) if h.status == "ok" else h.status
                other = f"{value}: {h.price.provider} {h.price.model} ({h.price.date}); {h.caveat}"
            rows.append([e.model, r.task, r.run_id or "several runs", f"{r.correct:g} / {r.n}", tokens,
                         _usd(r.usd), per, r.basis, other])  # fmt: skip
    return Table(
        id="table-solved",
        title="Cost per solved item (measured): tokens and $ per correct item, per task and overall",
        columns=[
            "model",
            "task",
            "run",
            "correct / n",
            "tokens per correct (lm-eval / computed)",
            "$",
            "$ per correct",
            "price basis",
            "hosted price of the family on the same tokens",
        ],
        rows=rows,
        caption="Correct = the sum of each task's primary metric over its items. A task with no correct item "
        "says so. The hosted column applies a hosted API price of the same model family (from the catalog) "
        "to this run's tokens: a different product at a list price, shown for scale, not a like-for-like cost.",
    )


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
                ("–" if p.shots is None else str(p.shots)) + (" CoT" if p.chain_of_thought else ""),
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


def fit_claim(fit: TrendFit) -> str:
    from agimeter.report.tables_progress import fit_claim as claim

    return claim(fit)


def all_tables(data: ReportData) -> dict[str, Table]:
    from agimeter.report.tables_progress import (
        compare_table,
        density_table,
        family_density_table,
        laws_table,
        pareto_table,
        price_claim_table,
    )
    from agimeter.report.tables_sweep import sweep_table

    tables = [
        runs_table(data),
        leaderboard_table(data),
        solved_table(data),
        side_by_side_table(data),
        laws_table(data),
        density_table(data),
        family_density_table(data),
        pareto_table(data.pareto_cost, "table-pareto-cost"),
        pareto_table(data.pareto_size, "table-pareto-size"),
        latency_table(data),
        compare_table(data),
        price_claim_table(data),
        protocol_table(data),
        published_scores_table(data),
        *(sweep_table(sweep) for sweep in data.sweeps),
    ]
    return {t.id: t for t in tables}
