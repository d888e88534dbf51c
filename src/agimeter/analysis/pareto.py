"""Pareto frontier of capability (higher is better) against a cost axis (lower is better).

A point *dominates* another when it is no worse on both axes and strictly better on one. The
frontier is the set of points nobody dominates; exact duplicates dominate neither each other and
both stay on it. Orders are deterministic: by cost, then capability (best first), then key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.benchmarks import BENCHMARKS
from agimeter.analysis.entry_model import LatencyPoint, ModelEntry

COST_AXES: dict[str, str] = {
    "usd_per_1m": "$ per 1M tokens (API: blended 3:1; self-hosted: over the tokens lm-eval counts)",
    "ttft_p50_ms": "median time to first token, ms (unloaded point)",
    "tpot_p50_ms": "median time per output token, ms (unloaded point)",
    "memory_gb": "measured peak memory, GB",
    "weights_gb": "weights in memory, GB (published: bf16 estimate)",
    "params_b": "total parameters, billions",
    "decode_tps": "decode tokens/s at batch 1 (higher is better; a sweep's speed probe where there is one)",
}
# Cost axes on which more is better: the frontier is taken on the negated value.
HIGHER_IS_BETTER = frozenset({"decode_tps"})


class FrontierPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN compares false: no frontier

    key: str
    x: float  # cost: lower is better
    y: float  # capability: higher is better


class Frontier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frontier: list[str]  # keys, cheapest first
    dominated_by: dict[str, list[str]]  # dominated key -> the keys that dominate it (in frontier order)


def _order(p: FrontierPoint) -> tuple[float, float, str]:
    return (p.x, -p.y, p.key)


def dominates(a: FrontierPoint, b: FrontierPoint) -> bool:
    """No worse on both axes and strictly better on one."""
    return a.x <= b.x and a.y >= b.y and (a.x < b.x or a.y > b.y)


def pareto_frontier(points: Sequence[FrontierPoint]) -> Frontier:
    """The non-dominated keys (sorted by cost) and, for every other point, who dominates it."""
    keys = [p.key for p in points]
    if len(set(keys)) != len(keys):
        raise ValueError("Pareto points need unique keys")
    ordered = sorted(points, key=_order)
    frontier: list[str] = []
    dominated_by: dict[str, list[str]] = {}
    for p in ordered:
        winners = [q.key for q in ordered if dominates(q, p)]
        if winners:
            dominated_by[p.key] = winners
        else:
            frontier.append(p.key)
    return Frontier(frontier=frontier, dominated_by=dominated_by)


# axes over leaderboard entries ------------------------------------------------------------
def unloaded_point(entry: ModelEntry) -> LatencyPoint | None:
    """The perf sweep point with the lowest load level."""
    return min(entry.latency, key=lambda p: p.level) if entry.latency else None


def cost_value(entry: ModelEntry, axis: str) -> tuple[float | None, str]:
    """The entry's value on a cost axis, or None with the reason."""
    if axis == "usd_per_1m":
        v = entry.cost.usd_per_1m_blended if entry.cost else None
        return v, "" if v is not None else "no $ per 1M tokens"
    if axis in ("ttft_p50_ms", "tpot_p50_ms"):
        point = unloaded_point(entry)
        if point is None:
            return None, "no latency measurement"
        dist = point.ttft if axis == "ttft_p50_ms" else point.tpot
        return (dist.p50, "") if dist is not None else (None, f"no {axis[:4]} in the perf run")
    if axis == "memory_gb":
        return entry.memory_gb, "" if entry.memory_gb is not None else "no measured memory"
    if axis == "weights_gb":
        return entry.weights_gb, "" if entry.weights_gb is not None else "no weights size"
    if axis == "params_b":
        return entry.params_b, "" if entry.params_b is not None else "no total parameter count"
    if axis == "decode_tps":
        v = entry.decode_tokens_per_s
        return v, "" if v is not None else "no measured decode speed"
    raise ValueError(f"unknown cost axis {axis!r}; choose one of {', '.join(COST_AXES)}")


def capability_value(entry: ModelEntry, axis: str, dimensions: set[str]) -> tuple[float | None, str]:
    """``overall``, a dimension, or a benchmark (``dimension:X`` / ``benchmark:X`` force the kind).

    A bare name that is a dimension is read as the dimension (``math`` is both); write
    ``benchmark:math`` for the benchmark.
    """
    kind, _, name = axis.partition(":") if ":" in axis else ("", "", axis)
    if axis == "overall":
        return entry.overall, "" if entry.overall is not None else "no overall score"
    if kind == "dimension" or (not kind and name in dimensions):
        v = entry.dimensions.get(name)
        return v, "" if v is not None else f"no {name} dimension score"
    if kind not in ("", "benchmark"):
        raise ValueError(f"unknown capability axis {axis!r}: use overall, dimension:NAME or benchmark:NAME")
    score = entry.score(name)
    if score is None or not math.isfinite(score.value):
        return None, f"no {name} score"
    if score.status != "ok":  # too few items, another protocol, an undeclared user task
        return None, f"{name} score {score.status} (run {score.run_id}, n={score.n})"
    return score.value, ""


def capability_interval(entry: ModelEntry, axis: str, dimensions: set[str]) -> tuple[float, float] | None:
    """The 95% CI of the capability value, where the entry has one (measured scores)."""
    kind, _, name = axis.partition(":") if ":" in axis else ("", "", axis)
    if axis == "overall":
        return entry.overall_ci
    if kind == "dimension" or (not kind and name in dimensions):
        return entry.dimension_ci.get(name)
    score = entry.score(name)
    if score is None or score.ci_low is None or score.ci_high is None:
        return None
    return (score.ci_low, score.ci_high)


def known_dimensions(entries: Sequence[ModelEntry]) -> set[str]:
    return {b.dimension for b in BENCHMARKS.values()} | {d for e in entries for d in e.dimensions}
