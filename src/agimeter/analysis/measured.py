"""Measured leaderboard entries: one per model identity, from its evaluation and ``perf`` runs.

Which run stands for each task is ``analysis.selection``'s rule (the largest standard-protocol
run, unless pinned), never the newest; a score that does not count (too few items, another
protocol, an undeclared user task) is shown with its status and left out of the dimensions and
the overall index. Every score names its run and n.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agimeter.analysis.benchmarks import benchmark_of_task
from agimeter.analysis.dimensions import capability_map
from agimeter.analysis.entry_model import BenchScore, CostInfo, LatencyPoint, ModelEntry, measured_key
from agimeter.analysis.runs import BadRunError, PerfSummary, RunFacts, check_run, run_cost, run_scores
from agimeter.analysis.selection import (
    PERF_TASK,
    Candidate,
    Choice,
    SelectionPolicy,
    choose,
    deviation,
    status_of,
    task_size,
)
from agimeter.analysis.solved import OVERALL, SolvedCost, overall_row, solved_costs
from agimeter.analysis.summary import TaskScore
from agimeter.backends.aliases import load_catalog as load_aliases
from agimeter.perf.metrics import PointSummary
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckedRun:
    """A stored run that validates, with its typed JSON and its task scores."""

    run: RunRecord
    facts: RunFacts
    scores: list[TaskScore]


@dataclass(frozen=True)
class ChosenScore:
    """A task's score and the choice behind it."""

    score: TaskScore
    choice: Choice
    checked: CheckedRun


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


def default_policy(store: Store, min_items: int | None = None) -> SelectionPolicy:
    """The store's pins and the per-task item minimum (or ``min_items`` for every task)."""
    return SelectionPolicy(min_items=min_items, pins=tuple(store.pins()))


def measured_entries(
    store: Store, runs: Sequence[RunRecord] | None = None, policy: SelectionPolicy | None = None
) -> list[ModelEntry]:
    """One entry per model identity over the given runs (default: all finished or incomplete),
    chosen by ``policy`` (default: the store's pins, per-task minimum). A run whose stored data
    does not validate is left out with a logged warning."""
    chosen = [r for r in (runs if runs is not None else store.list_runs()) if r.status in ("finished", "incomplete")]
    good, bad = usable_runs(store, chosen)
    for err in bad:
        log.warning("%s (run left out of the entries)", err)
    policy = policy if policy is not None else default_policy(store)
    groups: dict[str, list[CheckedRun]] = defaultdict(list)
    for checked in good:
        groups[checked.run.model_identity].append(checked)
    probes = store.speed_probes()
    return [
        _with_decode(_measured(sorted(group, key=lambda c: c.run.created_at), policy), group, probes)
        for group in groups.values()
    ]


def _with_decode(entry: ModelEntry, runs: Sequence[CheckedRun], probes: dict[str, tuple[float, str]]) -> ModelEntry:
    """Decode tokens/s: a sweep's speed probe of this very file (llama-bench style, comparable across
    variants), else the evaluation run that generated the most tokens (its own mix of prompts)."""
    probe = probes.get(runs[-1].run.model_identity)
    if probe is not None:
        return entry.model_copy(
            update={"decode_tokens_per_s": probe[0], "decode_basis": f"speed probe of sweep {probe[1]}"}
        )
    measured = [
        (c.run.id, m)
        for c in runs
        if (m := getattr(c.facts.summary, "measurement", None)) is not None and m.decode_tokens_per_s
    ]
    if not measured:
        return entry
    run_id, best = max(measured, key=lambda rm: rm[1].completion_tokens)
    basis = f"evaluation run {run_id} ({best.completion_tokens:,} generated tokens)"
    return entry.model_copy(update={"decode_tokens_per_s": best.decode_tokens_per_s, "decode_basis": basis})


def choose_scores(runs: Sequence[CheckedRun], policy: SelectionPolicy) -> list[ChosenScore]:
    """Per task, the chosen run's score (runs of one model identity)."""
    by_task: dict[str, list[tuple[TaskScore, CheckedRun]]] = defaultdict(list)
    for checked in runs:
        for score in checked.scores:
            by_task[score.task].append((score, checked))
    out = []
    for task, found in by_task.items():
        candidates = [_candidate(checked.run, task, score.n) for score, checked in found]
        choice = choose(found[0][1].run.model_identity, task, candidates, policy)
        score, checked = next((s, c) for s, c in found if c.run.id == choice.run.id)
        out.append(ChosenScore(score=score, choice=choice, checked=checked))
    return sorted(out, key=lambda c: c.score.task)


def _protocol(run: RunRecord, task: str) -> dict[str, Any]:
    protocol = run.summary.get("protocols", {}).get(task, {})
    return protocol if isinstance(protocol, dict) else {}


def _candidate(run: RunRecord, task: str, n: int) -> Candidate:
    why = deviation(run, task, _protocol(run, task))
    return Candidate(run=run, n=n, standard=not why, deviation=why, task_size=task_size(run, task, n))


def _perf_choice(runs: Sequence[CheckedRun], policy: SelectionPolicy) -> CheckedRun | None:
    """The perf run whose sweep stands for the model: pinned, else the newest."""
    perf = [c for c in runs if isinstance(c.facts.summary, PerfSummary)]
    if not perf:
        return None
    pin = policy.pin_for(perf[0].run.model_identity, PERF_TASK, {c.run.id for c in perf})
    return next(c for c in perf if c.run.id == pin.run_id) if pin else perf[-1]


def _serving_cost(checked: CheckedRun) -> CostInfo | None:
    summary = checked.facts.summary
    assert isinstance(summary, PerfSummary)
    result, run = summary.perf, checked.run
    c = result.cost
    if c is None or c.usd_per_1m_blended_3_1 is None:
        return None
    return CostInfo(
        usd_per_1m_input=c.usd_per_1m_input,
        usd_per_1m_output=c.usd_per_1m_output,
        usd_per_1m_blended=c.usd_per_1m_blended_3_1,
        basis=f"measured serving, perf run {run.id} at {result.options.mode} "
        f"{result.points[c.point].level:g}, ${c.price_per_hour:g}/h ({result.options.profile})",
        provenance="measured",
        price_is_example=c.price_is_example,
        kind="self_hosted",
        run_id=run.id,
    )


def _evaluation_cost(checked: CheckedRun) -> CostInfo | None:
    summary = checked.facts.summary
    measurement = getattr(summary, "measurement", None)
    if measurement is None:
        return None
    run = checked.run
    block = run_cost(run, measurement)
    if block.api_usd_per_run is not None and block.tokens_counted:
        api = block.api_usd_per_run
        return CostInfo(
            usd_per_1m_blended=api / block.tokens_counted * 1e6,
            usd_per_1m_computed=api / block.tokens_computed * 1e6 if block.tokens_computed else None,
            basis=f"measured evaluation, run {run.id}: API price {block.api_price} over the run's tokens",
            provenance="measured",
            kind="api",
            run_id=run.id,
        )
    if block.price_per_hour <= 0 or block.usd_per_1m_tokens is None:
        return None
    return CostInfo(
        usd_per_1m_blended=block.usd_per_1m_tokens,
        usd_per_1m_computed=block.usd_per_1m_computed_tokens,
        basis=f"measured evaluation, run {run.id}: ${block.price_per_hour:g}/h ({block.profile}) over "
        f"{block.tokens_counted:,} prompt + completion tokens as lm-eval counts them "
        f"({block.tokens_computed:,} actually computed)",
        provenance="measured",
        price_is_example=block.price_is_example,
        kind="self_hosted",
        run_id=run.id,
    )


def _measured(runs: list[CheckedRun], policy: SelectionPolicy) -> ModelEntry:
    newest = runs[-1].run
    chosen = choose_scores([c for c in runs if not isinstance(c.facts.summary, PerfSummary)], policy)
    perf = _perf_choice(runs, policy)
    latency = [_latency_point(perf.run.id, p) for p in _perf_points(perf)] if perf else []
    cost = _serving_cost(perf) if perf else None
    # Among the chosen evaluation runs, the one that computed the most items prices the model (a
    # run served from the cache took little time for its tokens and would look cheap).
    eval_runs = {c.checked.run.id: c.checked for c in chosen}
    measured = [(c, m) for c in eval_runs.values() if (m := getattr(c.facts.summary, "measurement", None))]
    if cost is None and measured:
        cost = _evaluation_cost(max(measured, key=lambda cm: (cm[1].items_computed, cm[0].run.created_at))[0])
    memory = max((m.cuda_max_allocated_bytes or m.peak_rss_bytes for _, m in measured), default=None)
    hardware = _hardware_text(measured[-1][1].hardware.model_dump()) if measured else None
    if perf is not None and hardware is None:
        summary = perf.facts.summary
        assert isinstance(summary, PerfSummary)
        hardware = _hardware_text(summary.perf.client_hardware.model_dump())
    scores = [_measured_score(c, policy) for c in chosen]
    solved = _solved(chosen)
    counted = [c.score for c, s in zip(chosen, scores, strict=True) if s.counted]
    cmap = capability_map(counted)
    alias = _alias_of(newest.model)
    info = runs[-1].facts.model_info
    weights = info.extra.get("weights_bytes", "") if info else ""
    dtype = info.dtype if info else None
    finite_dims = [d for d in cmap.dimensions if _finite(d.score)]
    return ModelEntry(
        key=measured_key(newest.model, newest.model_identity),
        model=newest.model,
        provenance="measured",
        family=alias.get("family") if alias else None,
        params_b=info.num_parameters / 1e9 if info and info.num_parameters else None,
        memory_gb=memory / 1e9 if memory is not None else None,
        weights_gb=int(weights) / 1e9 if weights.isdigit() else None,
        weights_basis=f"measured: weights as loaded ({dtype})" if weights.isdigit() else None,
        backend=(info.backend if info else None) or newest.model.split(":", 1)[0],
        hardware=hardware,
        dtype=dtype or None,
        # A task without a value for its metric has no score: no NaN reaches any view or analysis.
        scores=[s for s in scores if _finite(s.value)],
        dimensions={d.dimension: d.score for d in finite_dims},
        dimension_ci={d.dimension: (d.ci_low, d.ci_high) for d in finite_dims if _finite(d.ci_low, d.ci_high)},
        overall=cmap.overall if _finite(cmap.overall) else None,
        overall_ci=cmap.overall_ci if cmap.overall_ci is not None and _finite(*cmap.overall_ci) else None,
        coverage=[d.dimension for d in finite_dims],
        cost=cost,
        solved=solved,
        latency=latency,
        runs=[c.run.id for c in runs],
        sources=[f"agimeter run {c.run.id} ({c.run.created_at:%Y-%m-%d})" for c in runs],
    )


def _solved(chosen: Sequence[ChosenScore]) -> list[SolvedCost]:
    """Tokens and $ per correct item of each chosen task, priced by its own run, then overall."""
    by_run: dict[str, list[ChosenScore]] = defaultdict(list)
    for c in chosen:
        by_run[c.checked.run.id].append(c)
    rows: list[SolvedCost] = []
    for run_id, picked in by_run.items():
        checked = picked[0].checked
        measurement = getattr(checked.facts.summary, "measurement", None)
        cost = run_cost(checked.run, measurement) if measurement is not None else None
        reused = measurement.items_cached if measurement is not None else 0
        per_task = {r.task: r for r in solved_costs(checked.scores, cost, run_id, reused) if r.task != OVERALL}
        rows += [per_task[c.score.task] for c in picked if c.score.task in per_task]
    rows.sort(key=lambda r: r.task)
    return [*rows, overall_row(rows)] if rows else []


def _perf_points(checked: CheckedRun) -> list[PointSummary]:
    summary = checked.facts.summary
    return summary.perf.points if isinstance(summary, PerfSummary) else []


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


def _measured_score(chosen: ChosenScore, policy: SelectionPolicy) -> BenchScore:
    score, run = chosen.score, chosen.choice.run
    protocol = _protocol(run, score.task)
    status, note = status_of(score.task, chosen.choice, policy, protocol)
    bench = benchmark_of_task(score.task) if status != "user task" else None
    metric = score.primary_metric or ""
    est = score.metrics.get(metric)
    fewshot = protocol.get("fewshot")
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
        protocol=protocol_text(protocol)
        + _chat_text(run.summary.get("chat_template", {}).get(score.task))
        + _weights_text(run.model),
        source=f"agimeter run {run.id}",
        provenance="measured",
        run_id=run.id,
        status=status,
        status_note=note,
        counted=status == "ok",
        selection=chosen.choice.describe(),
        min_items=policy.min_items_for(chosen.choice.candidate.task_size),
    )


def _weights_text(model: str) -> str:
    """How an alias's weights differ from those its published numbers are for (4-bit GGUFs)."""
    alias = load_aliases().get(model.split(":", 1)[-1])
    return f"; weights: {alias.weights_note}" if alias is not None and alias.weights_note else ""


def _chat_text(chat: object) -> str:
    return "" if chat is None else f"; chat template {'on' if chat else 'off'}"


def protocol_text(protocol: object) -> str:
    """A stored task protocol in words: "version 1; 3-shot CoT; generate; metrics exact_match; ..."."""
    if not isinstance(protocol, dict):
        return ""
    parts = [f"version {protocol.get('version', '?')}"]
    fewshot = protocol.get("fewshot")
    if isinstance(fewshot, dict) and fewshot.get("num_fewshot") is not None:
        parts.append(f"{fewshot['num_fewshot']}-shot" + (" CoT" if fewshot.get("chain_of_thought") else ""))
    if protocol.get("output_type"):
        parts.append(str(protocol["output_type"]))
    if protocol.get("metrics"):
        parts.append("metrics " + ", ".join(map(str, protocol["metrics"])))
    scoring = protocol.get("scoring")
    if isinstance(scoring, dict) and scoring.get("kind"):
        parts.append(f"scoring {scoring['kind']}")
    parts += [f"deviation: {d}" for d in protocol.get("deviations") or []]
    return "; ".join(parts)
