"""Leaderboard entries: one row per model, measured by agimeter or published by its makers.

A measured entry gathers the runs of one model identity (its evaluation runs and its ``perf``
runs: the newest result per task wins); a published entry is one catalog model with its
reported scores. ``provenance`` says which, on every entry and every score, so the two kinds
never mix silently. Reports, the leaderboard and the density/Pareto/trend analyses all read
these records.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agimeter.analysis.benchmarks import BENCHMARKS, benchmark_of_task, normalized
from agimeter.analysis.dimensions import capability_map
from agimeter.analysis.price_links import PricePoint, linked_price, price_points
from agimeter.analysis.runs import BadRunError, PerfSummary, RunFacts, check_run, run_cost, run_scores
from agimeter.analysis.summary import TaskScore
from agimeter.backends.aliases import load_catalog as load_aliases
from agimeter.perf.metrics import Dist, PointSummary
from agimeter.store.published import load_catalog
from agimeter.store.published_repo import PublishedSet
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store

ENTRY_SCHEMA_VERSION = 1
log = logging.getLogger(__name__)
Provenance = Literal["measured", "published"]


class BenchScore(BaseModel):
    """One score: a measured task's primary metric or a published benchmark number (percent)."""

    model_config = ConfigDict(extra="forbid")

    name: str  # task (measured) or benchmark (published)
    benchmark: str | None  # the published benchmark it corresponds to, if any
    dimension: str | None
    value: float  # percent
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    metric: str = ""
    shots: int | None = None
    normalized: float | None = None  # 0 = chance, 100 = perfect
    protocol: str = ""  # how it was measured, in words
    source: str = ""  # run id or citation
    provenance: Provenance


class LatencyPoint(BaseModel):
    """One sweep point of a perf run (ms)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    mode: str
    level: float
    request_per_s: float
    output_tokens_per_s: float
    ttft: Dist | None
    tpot: Dist | None
    itl: Dist | None
    e2e: Dist | None
    quantiles_ms: dict[str, list[float]] | None = None


class CostInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usd_per_1m_input: float | None = None
    usd_per_1m_output: float | None = None
    usd_per_1m_blended: float | None = None  # 3:1 input:output
    basis: str  # where the number comes from, in words
    provenance: Provenance
    price_is_example: bool = False


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = ENTRY_SCHEMA_VERSION
    key: str  # URL-safe, stable
    model: str
    provenance: Provenance
    family: str | None = None
    organization: str | None = None
    variant: str | None = None
    released: dt.date | None = None
    released_label: str | None = None  # as sourced ("2024-09-19", "2023-07")
    params_b: float | None = None
    params_non_embedding_b: float | None = None
    params_active_b: float | None = None
    memory_gb: float | None = None  # measured peak (CUDA max allocated, else process RSS)
    weights_gb: float | None = None  # the weights as held in memory (see weights_basis)
    weights_basis: str | None = None
    backend: str | None = None
    hardware: str | None = None
    dtype: str | None = None
    scores: list[BenchScore] = Field(default_factory=list)
    dimensions: dict[str, float] = Field(default_factory=dict)  # normalised 0-100
    dimension_ci: dict[str, tuple[float, float]] = Field(default_factory=dict)
    overall: float | None = None
    overall_ci: tuple[float, float] | None = None
    cost: CostInfo | None = None
    latency: list[LatencyPoint] = Field(default_factory=list)
    runs: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    def score(self, benchmark: str) -> BenchScore | None:
        """The score on a published benchmark (or a task of that name)."""
        return next((s for s in self.scores if s.benchmark == benchmark), None) or next(
            (s for s in self.scores if s.name == benchmark), None
        )

    def capability(self, dimension: str | None = None) -> float | None:
        """Overall index, or one dimension's score."""
        return self.overall if dimension in (None, "overall") else self.dimensions.get(str(dimension))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "model"


# measured -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckedRun:
    """A stored run that validates, with its typed JSON and its task scores."""

    run: RunRecord
    facts: RunFacts
    scores: list[TaskScore]


def usable_runs(store: Store, runs: Sequence[RunRecord]) -> tuple[list[CheckedRun], list[BadRunError]]:
    """The runs whose stored summary, config and items validate, each with its task scores; and
    why each of the others is left out (old or malformed rows never reach a reader)."""
    good: list[CheckedRun] = []
    bad: list[BadRunError] = []
    for run in runs:
        try:
            facts = check_run(run)
            scores = [] if isinstance(facts.summary, PerfSummary) else run_scores(store, run)
        except BadRunError as err:
            bad.append(err)
            continue
        good.append(CheckedRun(run=run, facts=facts, scores=scores))
    return good, bad


def measured_entries(store: Store, runs: Sequence[RunRecord] | None = None) -> list[ModelEntry]:
    """One entry per model identity over the given runs (default: all finished or incomplete).
    A run whose stored data does not validate is left out with a logged warning."""
    chosen = [r for r in (runs if runs is not None else store.list_runs()) if r.status in ("finished", "incomplete")]
    good, bad = usable_runs(store, chosen)
    for err in bad:
        log.warning("%s (run left out of the entries)", err)
    groups: dict[str, list[CheckedRun]] = defaultdict(list)
    for checked in good:
        groups[checked.run.model_identity].append(checked)
    return [_measured(sorted(group, key=lambda c: c.run.created_at)) for group in groups.values()]


def _measured(runs: list[CheckedRun]) -> ModelEntry:
    newest = runs[-1].run
    tasks: dict[str, tuple[TaskScore, RunRecord]] = {}
    latency: list[LatencyPoint] = []
    cost: CostInfo | None = None
    memory: float | None = None
    hardware: str | None = None
    computed = 0
    for checked in runs:  # oldest first: newer results replace older ones
        run, summary = checked.run, checked.facts.summary
        if isinstance(summary, PerfSummary):
            result = summary.perf
            latency = [_latency_point(run.id, p) for p in result.points]
            if result.cost is not None and result.cost.usd_per_1m_blended_3_1 is not None:
                c = result.cost
                cost = CostInfo(
                    usd_per_1m_input=c.usd_per_1m_input,
                    usd_per_1m_output=c.usd_per_1m_output,
                    usd_per_1m_blended=c.usd_per_1m_blended_3_1,
                    basis=f"measured serving, perf run {run.id} at {result.options.mode} "
                    f"{result.points[c.point].level:g}, ${c.price_per_hour:g}/h ({result.options.profile})",
                    provenance="measured",
                    price_is_example=c.price_is_example,
                )
            hardware = hardware or _hardware_text(result.client_hardware.model_dump())
            continue
        for score in checked.scores:
            tasks[score.task] = (score, run)
        measurement = summary.measurement
        if measurement is not None:
            peak = measurement.cuda_max_allocated_bytes or measurement.peak_rss_bytes
            memory = max(memory or 0.0, peak / 1e9)
            hardware = _hardware_text(measurement.hardware.model_dump())
            block = run_cost(run, measurement)
            # A serving (perf) cost wins; among evaluation runs, the one that computed the most items
            # (a run served from the cache took little time for its tokens and would look cheap).
            if cost is None or (
                cost.basis.startswith("measured evaluation") and measurement.items_computed >= computed
            ):
                per_m = block.usd_per_1m_tokens
                computed = measurement.items_computed
                if block.price_per_hour > 0 and per_m is not None:
                    cost = CostInfo(
                        usd_per_1m_blended=per_m,
                        basis=f"measured evaluation, run {run.id}: ${block.price_per_hour:g}/h ({block.profile}) "
                        "over all prompt + completion tokens",
                        provenance="measured",
                        price_is_example=block.price_is_example,
                    )
    task_scores = [score for score, _ in tasks.values()]
    cmap = capability_map(task_scores)
    alias = _alias_of(newest.model)
    info = runs[-1].facts.model_info
    weights = info.extra.get("weights_bytes", "") if info else ""
    dtype = info.dtype if info else None
    # A task without a value for its metric has no score: no NaN reaches any view or analysis.
    scores = [_measured_score(score, run) for score, run in tasks.values()]
    finite_dims = [d for d in cmap.dimensions if _finite(d.score)]
    return ModelEntry(
        key="m-" + slug(f"{newest.model}-{newest.model_identity[:8]}"),
        model=newest.model,
        provenance="measured",
        family=alias.get("family") if alias else None,
        params_b=info.num_parameters / 1e9 if info and info.num_parameters else None,
        memory_gb=memory,
        weights_gb=int(weights) / 1e9 if weights.isdigit() else None,
        weights_basis=f"measured: weights as loaded ({dtype})" if weights.isdigit() else None,
        backend=(info.backend if info else None) or newest.model.split(":", 1)[0],
        hardware=hardware,
        dtype=dtype or None,
        scores=[s for s in scores if _finite(s.value)],
        dimensions={d.dimension: d.score for d in finite_dims},
        dimension_ci={d.dimension: (d.ci_low, d.ci_high) for d in finite_dims if _finite(d.ci_low, d.ci_high)},
        overall=cmap.overall if _finite(cmap.overall) else None,
        overall_ci=cmap.overall_ci if cmap.overall_ci is not None and _finite(*cmap.overall_ci) else None,
        cost=cost,
        latency=latency,
        runs=[c.run.id for c in runs],
        sources=[f"agimeter run {c.run.id} ({c.run.created_at:%Y-%m-%d})" for c in runs],
    )


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _alias_of(model: str) -> dict[str, str] | None:
    name = model.split(":", 1)[-1]
    alias = load_aliases().get(name)
    return {"family": alias.hf_id.split("/")[-1].split("-")[0]} if alias else None


def _hardware_text(hw: dict[str, object]) -> str:
    gpu = hw.get("gpu")
    cores = hw.get("cpu_cores_logical")
    return str(gpu) if gpu else f"{hw.get('cpu_model', 'CPU')} ({cores} threads)"


def _latency_point(run_id: str, p: PointSummary) -> LatencyPoint:
    return LatencyPoint(
        run_id=run_id,
        mode=p.mode,
        level=p.level,
        request_per_s=p.request_per_s,
        output_tokens_per_s=p.output_tokens_per_s,
        ttft=p.ttft,
        tpot=p.tpot,
        itl=p.itl,
        e2e=p.e2e,
        quantiles_ms=p.quantiles_ms,
    )


def _measured_score(score: TaskScore, run: RunRecord) -> BenchScore:
    bench = benchmark_of_task(score.task)
    metric = score.primary_metric or ""
    est = score.metrics.get(metric)
    protocol = run.summary.get("protocols", {}).get(score.task, {})
    fewshot = protocol.get("fewshot") if isinstance(protocol, dict) else None
    shots = fewshot.get("num_fewshot") if isinstance(fewshot, dict) else None
    pct = 100.0  # metrics are stored as fractions
    return BenchScore(
        name=score.task,
        benchmark=bench.name if bench else None,
        dimension=score.dimension,
        value=est.mean * pct if est else math.nan,
        ci_low=est.ci_low * pct if est else None,
        ci_high=est.ci_high * pct if est else None,
        n=score.n,
        metric=metric,
        shots=shots if isinstance(shots, int) else None,
        normalized=score.normalized.mean if score.normalized else None,
        protocol=_protocol_text(protocol)
        + _chat_text(run.summary.get("chat_template", {}).get(score.task))
        + _weights_text(run.model),
        source=f"agimeter run {run.id}",
        provenance="measured",
    )


def _weights_text(model: str) -> str:
    """How an alias's weights differ from those its published numbers are for (4-bit GGUFs)."""
    alias = load_aliases().get(model.split(":", 1)[-1])
    return f"; weights: {alias.weights_note}" if alias is not None and alias.weights_note else ""


def _chat_text(chat: object) -> str:
    return "" if chat is None else f"; chat template {'on' if chat else 'off'}"


def _protocol_text(protocol: object) -> str:
    if not isinstance(protocol, dict):
        return ""
    parts = [f"version {protocol.get('version', '?')}"]
    fewshot = protocol.get("fewshot")
    if isinstance(fewshot, dict) and fewshot.get("num_fewshot") is not None:
        parts.append(f"{fewshot['num_fewshot']}-shot")
    if protocol.get("output_type"):
        parts.append(str(protocol["output_type"]))
    if protocol.get("metrics"):
        parts.append("metrics " + ", ".join(map(str, protocol["metrics"])))
    scoring = protocol.get("scoring")
    if isinstance(scoring, dict) and scoring.get("kind"):
        parts.append(f"scoring {scoring['kind']}")
    parts += [f"deviation: {d}" for d in protocol.get("deviations") or []]
    return "; ".join(parts)


# published ----------------------------------------------------------------------------------
def _published_cost(published: PublishedSet, model_id: str, usd_per_cny: float | None) -> CostInfo | None:
    p = linked_price(published, model_id, usd_per_cny)
    if p is None:
        return None
    return CostInfo(
        usd_per_1m_input=p.usd_per_1m_input,
        usd_per_1m_output=p.usd_per_1m_output,
        usd_per_1m_blended=p.usd_per_1m_blended,
        basis=f"published API price: {p.provider} {p.model}, {p.date} ({p.source}); "
        "a hosted product linked to this checkpoint",
        provenance="published",
    )


def published_entries(published: PublishedSet, usd_per_cny: float | None = None) -> list[ModelEntry]:
    out = []
    for catalog, model in published.models:
        scores = [
            BenchScore(
                name=s.benchmark,
                benchmark=s.benchmark,
                dimension=BENCHMARKS[s.benchmark].dimension if s.benchmark in BENCHMARKS else None,
                value=s.value,
                metric=s.metric,
                shots=s.shots,
                normalized=normalized(s.value, BENCHMARKS[s.benchmark].chance) if s.benchmark in BENCHMARKS else None,
                protocol=f"{s.shots if s.shots is not None else '?'}-shot {s.metric}; {s.setting}",
                source=published.cite(catalog, s.source).text(),
                provenance="published",
            )
            for s in model.scores
        ]
        dims: dict[str, list[float]] = defaultdict(list)
        for s in scores:
            if s.dimension and s.normalized is not None:
                dims[s.dimension].append(s.normalized)
        dimensions = {d: sum(v) / len(v) for d, v in sorted(dims.items())}
        out.append(
            ModelEntry(
                key="p-" + slug(f"{catalog}-{model.id}"),
                model=model.id,
                provenance="published",
                family=model.family or None,
                organization=model.organization or None,
                variant=model.variant,
                released=model.release_date(),
                released_label=model.released.isoformat() if model.released else model.released_approx,
                params_b=model.params_total_b,
                params_non_embedding_b=model.params_non_embedding_b,
                params_active_b=model.params_active_b,
                # published sizes say nothing about precision: bf16 (2 bytes per parameter) is assumed
                weights_gb=model.params_total_b * 2 if model.params_total_b else None,
                weights_basis="estimate: total parameters x 2 bytes (bf16)" if model.params_total_b else None,
                scores=scores,
                dimensions=dimensions,
                overall=sum(dimensions.values()) / len(dimensions) if dimensions else None,
                cost=_published_cost(published, model.id, usd_per_cny),
                sources=sorted({published.cite(catalog, model.source).text()} | {s.source for s in scores}),
            )
        )
    return out


def all_entries(
    store: Store, runs: Sequence[RunRecord] | None = None, usd_per_cny: float | None = None
) -> list[ModelEntry]:
    """Measured entries, then the imported catalog's models, then the model cards of the aliases."""
    return load_entries(store, runs, usd_per_cny=usd_per_cny)[0]


def load_entries(
    store: Store,
    runs: Sequence[RunRecord] | None = None,
    catalog: Path | None = None,
    usd_per_cny: float | None = None,
) -> tuple[list[ModelEntry], list[PricePoint]]:
    """Entries and dated prices for the analyses. Published numbers come from the store's imported
    catalogs; when none is imported, ``catalog`` is read directly (the store is not written)."""
    published = store.published()
    if not published.imports and catalog is not None:
        parsed, sha = load_catalog(catalog)
        published = PublishedSet.from_catalog(parsed, sha, catalog, "published")
    return entries_from(store, runs, published, usd_per_cny), price_points(published, usd_per_cny)


def entries_from(
    store: Store,
    runs: Sequence[RunRecord] | None,
    published: PublishedSet,
    usd_per_cny: float | None = None,
    model_cards: bool = True,
) -> list[ModelEntry]:
    """Measured entries of ``runs`` (default: all), then ``published``'s models, then (unless
    ``model_cards`` is off) the aliases' model cards; measured ones dated by their checkpoint."""
    from agimeter.analysis.side_by_side import alias_card_entries, with_release_dates  # built on these records

    cards = alias_card_entries() if model_cards else []
    return with_release_dates(measured_entries(store, runs) + published_entries(published, usd_per_cny) + cards)
