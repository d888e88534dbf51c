"""Aggregate stored items into per-task (and per-subtask) scores with confidence intervals, and
each task's primary score normalised between its chance level (0) and perfect (100)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agimeter.analysis.stats import Estimate, estimate, stratified_estimate, weighted_estimate
from agimeter.store.records import ItemRecord

SUMMARY_SCHEMA_VERSION = 2


class TaskScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    task_version: str
    dimension: str | None = None
    primary_metric: str | None = None
    n: int
    metrics: dict[str, Estimate]
    subtasks: dict[str, dict[str, Estimate]]
    # Mean chance level of each metric over the items (a random guesser's expected score).
    chance: dict[str, float] = Field(default_factory=dict)
    # Primary metric rescaled: 0 = chance, 100 = perfect (Open LLM Leaderboard v2), CI included.
    normalized: Estimate | None = None
    prompt_tokens: int  # as lm-eval counts them: a multiple-choice context once per choice
    completion_tokens: int
    compute_s: float = 0.0  # prefill + decode time of the items computed in this run or cached
    computed_prompt_tokens: int = 0  # prompt tokens the model actually ran (shared prefixes once)


def normalize(est: Estimate, chance: float) -> Estimate:
    """(x − chance) / (1 − chance) × 100, clipped at 0 as the Open LLM Leaderboard v2 does; the CI
    is mapped the same way (the map is linear, so the interval keeps its coverage)."""
    scale = 100.0 / (1.0 - chance) if chance < 1.0 else math.nan

    def f(x: float) -> float:
        return min(100.0, max(0.0, (x - chance) * scale))

    return Estimate(
        mean=f(est.mean),
        ci_low=f(est.ci_low),
        ci_high=f(est.ci_high),
        stderr=est.stderr * scale,
        n=est.n,
        method=f"{est.method}, normalised (chance {chance:.3f})",
    )


def _metric_estimate(rows: Sequence[ItemRecord], metric: str, population: Mapping[str, int] | None) -> Estimate:
    have = [r for r in rows if metric in r.metrics]
    if any(metric in r.weights for r in have):
        return weighted_estimate([r.metrics[metric] for r in have], [r.weights.get(metric, 1.0) for r in have])
    if population:
        by: dict[str, list[float]] = defaultdict(list)
        for r in have:
            by[r.subtask or ""].append(r.metrics[metric])
        return stratified_estimate(by, population)
    return estimate([r.metrics[metric] for r in have])


def summarize(
    items: Sequence[ItemRecord],
    protocols: Mapping[str, Mapping[str, Any]] | None = None,
    populations: Mapping[str, Mapping[str, int]] | None = None,
) -> list[TaskScore]:
    """``protocols`` (the run's, per task) give each task's dimension and primary metric;
    ``populations`` (per task: items per subtask in the full task) mark a stratified sample,
    whose estimates are then weighted by stratum size."""
    by_task: dict[str, list[ItemRecord]] = defaultdict(list)
    for item in items:
        by_task[item.task].append(item)
    scores = []
    for task, rows in by_task.items():
        protocol = (protocols or {}).get(task, {})
        population = (populations or {}).get(task)
        scores.append(_task_score(task, rows, protocol, population, protocol.get("dimension")))
        # Subtasks that also feed another dimension (MT-Bench writing + roleplay: creativity) are
        # scored again together, as "task/dimension".
        grouped: dict[str, set[str]] = defaultdict(set)
        for subtask, dimension in (protocol.get("subtask_dimensions") or {}).items():
            grouped[str(dimension)].add(str(subtask))
        for dimension, subtasks in sorted(grouped.items()):
            part = [r for r in rows if r.subtask in subtasks]
            if part:
                sub_population = {k: v for k, v in population.items() if k in subtasks} if population else None
                scores.append(_task_score(f"{task}/{dimension}", part, protocol, sub_population, dimension))
    return scores


def _task_score(
    task: str,
    rows: Sequence[ItemRecord],
    protocol: Mapping[str, Any],
    population: Mapping[str, int] | None,
    dimension: str | None,
) -> TaskScore:
    declared = [str(m) for m in protocol.get("metrics", [])]
    present = {name for row in rows for name in row.metrics}
    metric_names = [m for m in declared if m in present] + sorted(present - set(declared))
    subtask_rows: dict[str, list[ItemRecord]] = defaultdict(list)
    for row in rows:
        if row.subtask is not None:
            subtask_rows[row.subtask].append(row)
    metrics = {m: _metric_estimate(rows, m, population) for m in metric_names}
    chance = {
        m: math.fsum(r.chance.get(m, 0.0) for r in rows if m in r.metrics) / max(1, metrics[m].n) for m in metric_names
    }
    primary = metric_names[0] if metric_names else None
    return TaskScore(
        task=task,
        task_version=rows[0].task_version,
        dimension=dimension,
        primary_metric=primary,
        n=len(rows),
        metrics=metrics,
        subtasks={
            sub: {m: _metric_estimate(srows, m, None) for m in metric_names}
            for sub, srows in sorted(subtask_rows.items())
        }
        if len(subtask_rows) > 1
        else {},
        chance=chance,
        normalized=normalize(metrics[primary], chance[primary]) if primary else None,
        prompt_tokens=sum(r.prompt_tokens for r in rows),
        completion_tokens=sum(r.completion_tokens for r in rows),
        compute_s=math.fsum(r.prefill_s + r.decode_s for r in rows),
        computed_prompt_tokens=sum(r.computed_prompt_tokens for r in rows),
    )
