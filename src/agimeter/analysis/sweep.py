"""A stored quantization sweep as one table: per row (the reference, then each variant) its file
size, memory, speed and price, its score per task with a CI, the paired difference from the
reference (CI, McNemar or sign-flip p), choice and next-token divergence, capability retained, the
frontiers on (capability, GB) and (capability, decode tok/s), and the guidance: the smallest
variant whose paired loss is not significant at ``alpha``.

"Capability" here is the overall score of the sweep: the unweighted mean over its tasks of each
task's primary metric (raw, not chance-normalised), on the items every row ran.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from agimeter.analysis.compare import MetricComparison, compare_items
from agimeter.analysis.pareto import FrontierPoint, pareto_frontier
from agimeter.analysis.runs import run_cost, run_items, run_measurement, run_scores
from agimeter.analysis.stats import Estimate
from agimeter.analysis.summary import TaskScore
from agimeter.analysis.sweep_stats import (
    PairedMean,
    PairedScore,
    choice_divergence,
    mean_of_tasks,
    paired_items,
    paired_score,
)
from agimeter.backends.gguf_probe import TextDivergence
from agimeter.backends.gguf_quantize import SourceInfo
from agimeter.store.records import ItemRecord, RunRecord
from agimeter.store.repository import Store
from agimeter.store.sweep_records import SweepRecord, SweepStatus, VariantRecord

SWEEP_REPORT_SCHEMA_VERSION = 1
NOT_EQUAL = (
    "Not significant is not the same as equal: the paired CI shows how large a loss these items cannot rule out."
)


class TaskRow(BaseModel):
    """One task on one row: the row's own score, and the paired comparison with the reference."""

    model_config = ConfigDict(extra="forbid")

    task: str
    metric: str
    score: Estimate
    paired: MetricComparison | None = None  # None on the reference row
    retained: PairedScore | None = None
    choice_kl: float | None = None  # mean KL of the choice distributions (multiple-choice tasks)
    choice_kl_items: int | None = None
    significant_loss: bool = False


class SweepRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quant: str  # "reference" or a llama.cpp type
    label: str  # Q8_0, or the reference's own type
    state: str
    run_ids: list[str]  # one per group of tasks sharing sample size and shots
    file_bytes: int
    weights_gb: float
    gb_saved: float  # reference file size - this one (GB)
    peak_rss_bytes: int | None
    prefill_tokens_per_s: float | None
    decode_tokens_per_s: float | None
    usd_per_1m_tokens: float | None  # at the run's hardware price
    quantize_s: float | None
    requantized: bool
    # llama.cpp's "N of M tensor(s) required fallback quantization": rows whose length the type's
    # block does not divide (e.g. 896 columns for 256-wide k-quants) are stored in another type
    fallback_tensors: int | None = None
    tensors: int | None = None
    tasks: list[TaskRow]
    overall: PairedScore | None = None  # None on the reference row and while unmeasured
    overall_score: float | None = None  # this row's own mean of task scores ...
    overall_ci: tuple[float, float] | None = None  # ... with its bootstrap 95% CI
    model: str | None = None  # the model spec of its runs (gguf:<file>), for links to its entry
    model_identity: str | None = None
    divergence: TextDivergence | None = None
    significant_loss: bool = False
    on_frontier_gb: bool = False
    on_frontier_tps: bool = False
    error: str | None = None


class SweepReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SWEEP_REPORT_SCHEMA_VERSION
    sweep_id: str
    status: SweepStatus
    model: str
    source: SourceInfo
    alpha: float
    price: str
    notes: list[str]
    rows: list[SweepRow]
    frontier_gb: list[str]  # labels nobody beats on (capability, file GB), smallest first
    frontier_tps: list[str]  # ... on (capability, decode tok/s), fastest first
    recommended: str | None  # the smallest variant without a significant paired loss
    guidance: str
    error: str | None = None


def sweep_report(store: Store, sweep: SweepRecord, alpha: float | None = None) -> SweepReport:
    """Everything ``show SWEEP`` prints, from the store; ``alpha`` instead of the sweep's own."""
    alpha = float(sweep.options.get("alpha", 0.05)) if alpha is None else alpha
    rows = store.sweep_variants(sweep.id)
    reference = next((r for r in rows if r.is_reference), None)
    ref_items: list[ItemRecord] = []
    ref_bytes = reference.bytes if reference is not None else sweep.source.bytes
    if reference is not None:
        ref_items = [i for run_id in reference.run_ids for i in run_items(store, store.get_run(run_id))]
    views = [_row(store, sweep, row, ref_items, ref_bytes, alpha) for row in rows]
    frontier_gb, frontier_tps = _frontiers(views)
    for view in views:
        view.on_frontier_gb = view.label in frontier_gb
        view.on_frontier_tps = view.label in frontier_tps
    recommended = _recommend(views)
    return SweepReport(
        sweep_id=sweep.id,
        status=sweep.status,
        model=sweep.model,
        source=sweep.source,
        alpha=alpha,
        price=_price(sweep),
        notes=sweep.notes,
        rows=views,
        frontier_gb=frontier_gb,
        frontier_tps=frontier_tps,
        recommended=recommended.label if recommended else None,
        guidance=_guidance(views, recommended, alpha),
        error=sweep.error,
    )


def _row(
    store: Store, sweep: SweepRecord, row: VariantRecord, ref_items: Sequence[ItemRecord], ref_bytes: int, alpha: float
) -> SweepRow:
    label = sweep.source.file_type if row.is_reference else row.quant
    runs = [store.get_run(run_id) for run_id in row.run_ids]
    scores: list[TaskScore] = [score for run in runs for score in run_scores(store, run)]
    items = [item for run in runs for item in run_items(store, run)]
    tasks = [_task_row(score) for score in scores if score.primary_metric]
    overall = None
    if not row.is_reference and items and ref_items:
        overall = _paired(tasks, ref_items, items, alpha)
    own = _own_overall(tasks, items)
    return SweepRow(
        quant=row.quant,
        label=label,
        state=row.state,
        run_ids=row.run_ids,
        file_bytes=row.bytes,
        weights_gb=row.bytes / 1e9,
        gb_saved=(ref_bytes - row.bytes) / 1e9,
        peak_rss_bytes=row.peak_rss_bytes,
        prefill_tokens_per_s=row.speed.prefill_tokens_per_s if row.speed else None,
        decode_tokens_per_s=row.speed.decode_tokens_per_s if row.speed else None,
        usd_per_1m_tokens=_usd_per_1m(runs),
        quantize_s=row.variant.seconds if row.variant else None,
        requantized=row.variant.requantized if row.variant else False,
        fallback_tensors=row.variant.fallback_tensors if row.variant else None,
        tensors=sum(row.variant.tensor_types.values()) if row.variant else None,
        tasks=tasks,
        overall=overall,
        overall_score=own.mean if own else None,
        overall_ci=(own.ci_low, own.ci_high) if own else None,
        model=runs[0].model if runs else None,
        model_identity=runs[0].model_identity if runs else None,
        divergence=row.divergence,
        significant_loss=any(t.significant_loss for t in tasks)
        or (overall is not None and overall.diff < 0 and overall.p_value < alpha),
        error=row.error,
    )


def _usd_per_1m(runs: Sequence[RunRecord]) -> float | None:
    """$ per 1M tokens over the row's runs together, at their hardware price."""
    usd = tokens = 0.0
    for run in runs:
        measurement = run_measurement(run)
        if measurement is None:
            return None
        usd += run_cost(run, measurement).usd_per_run
        tokens += measurement.prompt_tokens + measurement.completion_tokens
    return usd / tokens * 1e6 if runs and tokens else None


def _task_row(score: TaskScore) -> TaskRow:
    metric = score.primary_metric or ""
    return TaskRow(task=score.task, metric=metric, score=score.metrics[metric])


def _own_overall(tasks: Sequence[TaskRow], items: Sequence[ItemRecord]) -> PairedMean | None:
    arrays = []
    for task in tasks:
        values = [i.metrics[task.metric] for i in items if i.task == task.task and task.metric in i.metrics]
        if values:
            arrays.append(np.array(values, dtype=float))
    return mean_of_tasks(arrays) if arrays else None


def _paired(
    tasks: list[TaskRow], ref_items: Sequence[ItemRecord], items: Sequence[ItemRecord], alpha: float
) -> PairedScore | None:
    """Fill each task's paired comparison in place; the overall paired score over those tasks."""
    comparison = compare_items(ref_items, items, alpha=alpha)
    by_task = paired_items(ref_items, items)
    arrays = []
    for task in tasks:
        pairs = by_task.get(task.task, [])
        if not pairs:
            continue
        task.paired = next((c for c in comparison.rows if c.task == task.task and c.metric == task.metric), None)
        a = np.array([x.metrics.get(task.metric, 0.0) for x, _ in pairs], dtype=float)
        b = np.array([y.metrics.get(task.metric, 0.0) for _, y in pairs], dtype=float)
        task.retained = paired_score([(a, b)])
        kl = choice_divergence(pairs)
        if kl is not None:
            task.choice_kl, task.choice_kl_items = kl
        task.significant_loss = task.paired is not None and task.paired.diff < 0 and task.paired.significant
        arrays.append((a, b))
    return paired_score(arrays) if arrays else None


def _frontiers(views: Sequence[SweepRow]) -> tuple[list[str], list[str]]:
    measured = [v for v in views if v.overall_score is not None]
    by_gb = pareto_frontier([FrontierPoint(key=v.label, x=v.weights_gb, y=v.overall_score or 0.0) for v in measured])
    fast = [v for v in measured if v.decode_tokens_per_s is not None]
    # pareto_frontier minimises its cost axis: decode speed enters negated
    by_tps = pareto_frontier(
        [FrontierPoint(key=v.label, x=-(v.decode_tokens_per_s or 0.0), y=v.overall_score or 0.0) for v in fast]
    )
    return by_gb.frontier, by_tps.frontier


def _recommend(views: Sequence[SweepRow]) -> SweepRow | None:
    ok = [v for v in views if v.quant != "reference" and v.state == "done" and v.overall and not v.significant_loss]
    return min(ok, key=lambda v: v.file_bytes) if ok else None


def _guidance(views: Sequence[SweepRow], best: SweepRow | None, alpha: float) -> str:
    done = [v for v in views if v.quant != "reference" and v.overall is not None]
    if not done:
        return "No variant is measured yet."
    if best is None or best.overall is None:
        return f"Every measured variant has a paired loss significant at alpha = {alpha:g}."
    o = best.overall
    retained = (
        f", capability retained {o.retained:.1%} [{o.retained_ci_low:.1%}, {o.retained_ci_high:.1%}]"
        if o.retained is not None and o.retained_ci_low is not None and o.retained_ci_high is not None
        else ""
    )
    return (
        f"Smallest variant without a significant paired loss at alpha = {alpha:g}: {best.label} "
        f"({best.weights_gb:.3f} GB, {best.gb_saved:.3f} GB saved{retained}; overall difference "
        f"{o.diff * 100:+.1f} points, 95% CI [{o.diff_ci_low * 100:+.1f}, {o.diff_ci_high * 100:+.1f}], "
        f"p = {o.p_value:.3f}, {o.n} paired items). {NOT_EQUAL}"
    )


def _price(sweep: SweepRecord) -> str:
    options = sweep.options
    example = " (example price)" if options.get("price_is_example") else ""
    return f"${float(options.get('price_per_hour', 0.0)):.3f}/h ({options.get('profile', 'custom')}){example}"


__all__ = ["SweepReport", "SweepRow", "TaskRow", "sweep_report"]
