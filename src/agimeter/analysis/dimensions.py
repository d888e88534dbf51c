"""The capability map: one normalised score per dimension and an overall index.

Method (documented in the README):
- each task's primary metric is normalised so that chance is 0 and perfect is 100 (clipped at
  0, as the Open LLM Leaderboard v2 does); chance is 1/#choices for multiple choice, the true
  share of the choices for TruthfulQA MC2, and 0 for generated answers;
- a dimension's score is the unweighted mean of its tasks' normalised scores; its standard error
  is sqrt(Σ se_i²) / k (tasks are independent samples), where se_i is the task's normalised 95% CI
  width / (2 × 1.96) (from the Wilson interval for 0/1 metrics, so a task scoring 0/12 still
  carries its uncertainty), and its 95% CI is ±1.96 se, clipped to [0, 100];
- the overall index is the weighted mean of the dimension scores present, with the weights shown
  (equal by default); its standard error combines the dimensions' in the same way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from agimeter.scoring.aggregate import TaskScore

CAPABILITY_SCHEMA_VERSION = 1
Z95 = 1.959963984540054


class DimensionScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dimension: str
    score: float  # 0 = chance, 100 = perfect
    ci_low: float
    ci_high: float
    stderr: float
    tasks: list[str]
    items: int
    tokens: int
    compute_s: float
    usd: float | None = None  # the run's price spread over dimensions by compute time


class CapabilityMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = CAPABILITY_SCHEMA_VERSION
    dimensions: list[DimensionScore]
    overall: float | None
    overall_ci: tuple[float, float] | None
    weights: dict[str, float]
    method: str = "tasks normalised to chance=0, perfect=100; dimension = mean of its tasks; overall = weighted mean"


def _ci(score: float, se: float) -> tuple[float, float]:
    return max(0.0, score - Z95 * se), min(100.0, score + Z95 * se)


def _task_se(task: TaskScore) -> float:
    norm = task.normalized
    if norm is None or math.isnan(norm.ci_low) or math.isnan(norm.ci_high):
        return 0.0
    return (norm.ci_high - norm.ci_low) / (2 * Z95)


def capability_map(
    scores: Sequence[TaskScore], weights: Mapping[str, float] | None = None, usd_total: float | None = None
) -> CapabilityMap:
    """Dimension scores from task scores (tasks without a dimension or a score are left out)."""
    by_dim: dict[str, list[TaskScore]] = defaultdict(list)
    for s in scores:
        if s.dimension and s.normalized is not None and not math.isnan(s.normalized.mean):
            by_dim[s.dimension].append(s)
    total_compute = math.fsum(s.compute_s for tasks in by_dim.values() for s in tasks)
    dims = []
    for name in sorted(by_dim):
        tasks = by_dim[name]
        k = len(tasks)
        score = math.fsum(t.normalized.mean for t in tasks if t.normalized) / k
        se = math.sqrt(math.fsum(_task_se(t) ** 2 for t in tasks)) / k
        low, high = _ci(score, se)
        compute = math.fsum(t.compute_s for t in tasks)
        usd = usd_total * compute / total_compute if usd_total is not None and total_compute > 0 else None
        dims.append(
            DimensionScore(
                dimension=name,
                score=score,
                ci_low=low,
                ci_high=high,
                stderr=se,
                tasks=[t.task for t in tasks],
                items=sum(t.n for t in tasks),
                tokens=sum(t.prompt_tokens + t.completion_tokens for t in tasks),
                compute_s=compute,
                usd=usd,
            )
        )
    used = {d.dimension: float((weights or {}).get(d.dimension, 1.0)) for d in dims}
    total_w = math.fsum(used.values())
    if not dims or total_w <= 0:
        return CapabilityMap(dimensions=dims, overall=None, overall_ci=None, weights=used)
    overall = math.fsum(used[d.dimension] * d.score for d in dims) / total_w
    overall_se = math.sqrt(math.fsum((used[d.dimension] * d.stderr) ** 2 for d in dims)) / total_w
    return CapabilityMap(
        dimensions=dims,
        overall=overall,
        overall_ci=_ci(overall, overall_se),
        weights={d: w / total_w for d, w in used.items()},
    )


def parse_weights(text: str | None) -> dict[str, float]:
    """``knowledge=2,math=1`` → weights; unknown dimensions are kept (they only weigh if present)."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not name.strip() or weight < 0:
            raise ValueError(f"--weights expects dimension=number[,...], got {part!r}")
        out[name.strip()] = weight
    return out
