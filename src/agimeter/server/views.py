"""What the pages and the API show beyond single entries: measured vs published pairs,
two-model comparisons and the quantization sweeps a model is part of. Pure functions of entries
(and, for the paired test and the sweeps, the store)."""

from __future__ import annotations

from datetime import UTC

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.benchmarks import BENCHMARKS
from agimeter.analysis.compare import Comparison
from agimeter.analysis.entry_compare import paired_comparison
from agimeter.analysis.entry_model import BenchScore, ModelEntry
from agimeter.analysis.pareto import unloaded_point
from agimeter.analysis.runs import is_perf
from agimeter.analysis.side_by_side import protocol_differences
from agimeter.analysis.sweep import SweepReport
from agimeter.server.query import ttft_p50
from agimeter.server.schemas import CompareRow, CompareView, EntryRef, ProtocolDiff, RunKind, RunSummary
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store


def run_kind(run: RunRecord) -> RunKind:
    return "perf" if is_perf(run) else "eval"


def utc(run: RunRecord) -> RunRecord:
    """The run with its (stored naive, UTC) timestamps marked as UTC, so JSON says so."""
    return run.model_copy(
        update={"created_at": run.created_at.replace(tzinfo=UTC), "updated_at": run.updated_at.replace(tzinfo=UTC)}
    )


def run_summary(run: RunRecord) -> RunSummary:
    run = utc(run)
    return RunSummary(
        id=run.id,
        kind=run_kind(run),
        model=run.model,
        model_identity=run.model_identity,
        status=run.status,
        tasks=run.tasks,
        created_at=run.created_at,
        updated_at=run.updated_at,
        error=run.error,
    )


# measured vs published ------------------------------------------------------------------------
def _bench_key(score: BenchScore) -> str:
    return score.benchmark or score.name


def protocol_diffs(measured: ModelEntry, published: ModelEntry) -> list[ProtocolDiff]:
    """Per benchmark that either side has, the two numbers and how the protocols differ."""
    ours = {_bench_key(s): s for s in measured.scores if s.benchmark}
    theirs = {_bench_key(s): s for s in published.scores}
    rows = []
    for bench in sorted(set(ours) | set(theirs)):
        m, p = ours.get(bench), theirs.get(bench)
        if m is None and p is None:
            continue
        differences = []
        if m is None:
            differences.append("not measured by agimeter")
        elif p is None:
            differences.append("not published for this model")
        else:
            differences = protocol_differences(m, p, BENCHMARKS[bench].task_note if bench in BENCHMARKS else "")
        rows.append(
            ProtocolDiff(
                benchmark=bench,
                measured=m.value if m else None,
                published=p.value if p else None,
                diff=m.value - p.value if m and p else None,
                measured_task=m.name if m else None,
                differences=differences,
            )
        )
    return rows


# comparison -----------------------------------------------------------------------------------
def _row(name: str, a: float | None, b: float | None, note: str = "") -> CompareRow:
    return CompareRow(name=name, a=a, b=b, diff=b - a if a is not None and b is not None else None, note=note)


def _describe(score: BenchScore | None) -> str:
    if score is None:
        return "—"
    shots = "" if score.shots is None else f", {score.shots}-shot"
    return f"{score.provenance}, {score.metric or 'metric n/a'}{shots}"


def _latency(entry: ModelEntry, field: str) -> float | None:
    point = unloaded_point(entry)
    if point is None:
        return None
    if field == "output_tokens_per_s":
        return point.output_tokens_per_s
    dist = getattr(point, field)
    return float(dist.p50) if dist is not None else None


def _with_paired(rows: list[CompareRow], paired: dict[str, tuple[float, float, float, float, int]]) -> list[CompareRow]:
    """Rows with the paired test's B - A, 95% CI and p on the shared items, where it has them."""
    out = []
    for r in rows:
        found = paired.get(r.name)
        if found is not None:
            diff, low, high, p_value, n = found
            r = r.model_copy(update={"paired_diff": diff, "paired_ci": (low, high), "paired_p": p_value, "paired_n": n})
        out.append(r)
    return out


def compare_entries(a: ModelEntry, b: ModelEntry, store: Store | None = None) -> CompareView:
    scores_a = {_bench_key(s): s for s in a.scores}
    scores_b = {_bench_key(s): s for s in b.scores}
    benchmarks = [
        _row(
            name,
            scores_a[name].value if name in scores_a else None,
            scores_b[name].value if name in scores_b else None,
            f"A: {_describe(scores_a.get(name))}; B: {_describe(scores_b.get(name))}",
        )
        for name in sorted(set(scores_a) | set(scores_b))
    ]
    dims = sorted(set(a.dimensions) | set(b.dimensions))
    cost_a = a.cost.usd_per_1m_blended if a.cost else None
    cost_b = b.cost.usd_per_1m_blended if b.cost else None
    paired = _paired(a, b, store) if store is not None else None
    by_dimension: dict[str, tuple[float, float, float, float, int]] = {}
    by_task: dict[str, tuple[float, float, float, float, int]] = {}
    if paired is not None:
        by_dimension = {d.dimension: (d.diff, d.ci_low, d.ci_high, d.p_value, d.n) for d in paired.dimensions}
        rows_of = {s.name: (key, s.metric) for key, s in scores_a.items()}  # task -> benchmark row, metric
        for row in paired.rows:  # percent, on the task's primary metric
            key, metric = rows_of.get(row.task, (row.task, None))
            if metric == row.metric:
                by_task[key] = (100 * row.diff, 100 * row.ci_low, 100 * row.ci_high, row.p_value, row.n)
    return CompareView(
        a=EntryRef(key=a.key, model=a.model, provenance=a.provenance),
        b=EntryRef(key=b.key, model=b.model, provenance=b.provenance),
        overall=_row("overall", a.overall, b.overall, _coverage_note(a, b)),
        dimensions=_with_paired([_row(d, a.dimensions.get(d), b.dimensions.get(d)) for d in dims], by_dimension),
        benchmarks=_with_paired(benchmarks, by_task),
        cost=_row(
            "usd_per_1m_blended",
            cost_a,
            cost_b,
            f"A: {a.cost.basis if a.cost else '—'}; B: {b.cost.basis if b.cost else '—'}",
        ),
        latency=[
            _row("ttft_p50_ms", ttft_p50(a), ttft_p50(b)),
            _row("tpot_p50_ms", _latency(a, "tpot"), _latency(b, "tpot")),
            _row("e2e_p50_ms", _latency(a, "e2e"), _latency(b, "e2e")),
            _row("output_tokens_per_s", _latency(a, "output_tokens_per_s"), _latency(b, "output_tokens_per_s")),
        ],
        paired=paired,
    )


def _coverage_note(a: ModelEntry, b: ModelEntry) -> str:
    """Overall indices over different dimensions are not one scale: say so."""
    if sorted(a.coverage) == sorted(b.coverage):
        return f"both over {', '.join(sorted(a.coverage)) or 'no dimension'}"
    return (
        f"not comparable: A over {', '.join(sorted(a.coverage)) or 'nothing'}, "
        f"B over {', '.join(sorted(b.coverage)) or 'nothing'}"
    )


def _paired(a: ModelEntry, b: ModelEntry, store: Store) -> Comparison | None:
    if a.provenance != "measured" or b.provenance != "measured" or a.key == b.key:
        return None
    return paired_comparison(store, a, b)


class SweepOnPage(BaseModel):
    """A quantization sweep one of the entry's runs belongs to, for its model page."""

    model_config = ConfigDict(extra="forbid")

    report: SweepReport
    this_row: str  # the label of the entry's own row
    links: dict[str, str]  # row label -> the key of that row's entry


def entry_sweeps(store: Store, entry: ModelEntry) -> list[SweepOnPage]:
    """The sweeps whose rows were evaluated by one of a measured entry's runs (newest first)."""
    from agimeter.analysis.entry_model import measured_key
    from agimeter.analysis.sweep import sweep_report

    if entry.provenance != "measured" or not entry.runs:
        return []
    out = []
    for sweep_id in sorted({s for ids in store.sweeps_of_runs(entry.runs).values() for s in ids}, reverse=True):
        report = sweep_report(store, store.get_sweep(sweep_id))
        mine = next((r.label for r in report.rows if set(r.run_ids) & set(entry.runs)), "")
        links = {
            r.label: measured_key(r.model, r.model_identity)
            for r in report.rows
            if r.model is not None and r.model_identity is not None
        }
        out.append(SweepOnPage(report=report, this_row=mine, links=links))
    return out
