"""Pareto frontier: hand-made points with a known frontier and known dominators; axes over entries."""

from __future__ import annotations

import math

import pytest

from agimeter.analysis.entries import BenchScore, CostInfo, LatencyPoint, ModelEntry
from agimeter.analysis.pareto import FrontierPoint, capability_value, cost_value, dominates, pareto_frontier
from agimeter.analysis.progress import pareto_report
from agimeter.records.perf import Dist


def pts(*rows: tuple[str, float, float]) -> list[FrontierPoint]:
    return [FrontierPoint(key=k, x=x, y=y) for k, x, y in rows]


def test_known_frontier_and_dominators() -> None:
    points = pts(
        ("A", 1.0, 50.0),
        ("B", 2.0, 60.0),
        ("C", 2.0, 55.0),  # same cost as B, worse
        ("D", 3.0, 60.0),  # same capability as B, dearer
        ("E", 0.5, 40.0),
        ("F", 2.0, 60.0),  # exact duplicate of B: neither dominates the other
        ("G", 4.0, 70.0),
        ("H", 5.0, 45.0),  # dominated by all but E (E is worse)
    )
    result = pareto_frontier(points)
    assert result.frontier == ["E", "A", "B", "F", "G"]
    assert result.dominated_by == {"C": ["B", "F"], "D": ["B", "F"], "H": ["A", "B", "F", "C", "D", "G"]}


def test_frontier_is_independent_of_input_order() -> None:
    points = pts(("x", 1.0, 1.0), ("y", 1.0, 1.0), ("z", 0.5, 0.5), ("w", 2.0, 0.9))
    assert pareto_frontier(points) == pareto_frontier(list(reversed(points)))
    assert pareto_frontier(points).frontier == ["z", "x", "y"]
    assert pareto_frontier(points).dominated_by == {"w": ["x", "y"]}


def test_dominance_is_strict_in_one_axis() -> None:
    a, b = pts(("a", 1.0, 1.0), ("b", 1.0, 1.0))
    assert not dominates(a, b) and not dominates(b, a)
    with pytest.raises(ValueError, match="unique keys"):
        pareto_frontier([a, a])


def _dist(p50: float) -> Dist:
    return Dist(n=10, mean=p50, p50=p50, p90=p50, p95=p50, p99=p50, max=p50)


def _point(level: float, ttft: float) -> LatencyPoint:
    return LatencyPoint(
        run_id="r",
        mode="concurrency",
        level=level,
        request_per_s=1.0,
        output_tokens_per_s=10.0,
        ttft=_dist(ttft),
        tpot=_dist(ttft / 10),
        itl=None,
        e2e=None,
    )


def _entry(key: str, provenance: str = "measured", **fields: object) -> ModelEntry:
    return ModelEntry.model_validate({"key": key, "model": key, "provenance": provenance, **fields})


def test_axes_over_entries() -> None:
    math_score = BenchScore(name="math", benchmark="math", dimension="math", value=30.0, provenance="published")
    e = _entry(
        "m",
        latency=[_point(8.0, 500.0), _point(1.0, 50.0)],
        dimensions={"math": 20.0},
        scores=[math_score],
        overall=42.0,
    )
    assert cost_value(e, "ttft_p50_ms") == (50.0, "")  # the unloaded (lowest level) point
    assert cost_value(e, "tpot_p50_ms") == (5.0, "")
    assert cost_value(e, "usd_per_1m") == (None, "no $ per 1M tokens")
    with pytest.raises(ValueError, match="unknown cost axis"):
        cost_value(e, "watts")
    dims = {"math"}
    assert capability_value(e, "overall", dims) == (42.0, "")
    assert capability_value(e, "math", dims) == (20.0, "")  # a bare dimension name is the dimension
    assert capability_value(e, "benchmark:math", dims) == (30.0, "")
    assert capability_value(e, "mmlu", dims) == (None, "no mmlu score")


def _usd(value: float) -> CostInfo:
    return CostInfo(usd_per_1m_blended=value, basis="test", provenance="measured")


def test_pareto_report_places_and_explains() -> None:
    entries = [
        _entry("cheap", overall=30.0, cost=_usd(0.1)),
        _entry("best", overall=60.0, cost=_usd(1.0)),
        _entry("bad", overall=25.0, cost=_usd(2.0)),
        _entry("noprice", overall=90.0),
        _entry("pub", provenance="published", overall=70.0, cost=_usd(0.5)),
    ]
    report = pareto_report(entries, provenance=["measured"])
    assert report.frontier == ["cheap", "best"]
    assert [r.key for r in report.points] == ["cheap", "best", "bad"]
    assert report.points[2].dominated_by == ["cheap", "best"] and not report.points[2].on_frontier
    assert [(n.key, n.reason) for n in report.not_placed] == [("noprice", "no $ per 1M tokens")]
    assert report.provenance == ["measured"]
    both = pareto_report(entries)
    assert both.frontier == ["cheap", "pub"]
    assert both.model_dump(mode="json")["cost_label"].startswith("$ per 1M")
    with pytest.raises(ValueError, match="unknown cost axis"):
        pareto_report(entries, cost="watts")


def test_non_finite_points_are_not_placed() -> None:
    entries = [_entry("ok", overall=30.0, cost=_usd(0.1)), _entry("inf", overall=60.0, cost=_usd(math.inf))]
    report = pareto_report(entries)
    assert report.frontier == ["ok"]
    assert [(n.key, n.reason) for n in report.not_placed] == [("inf", "usd_per_1m is not a finite number")]
    with pytest.raises(ValueError, match="finite"):
        FrontierPoint(key="nan", x=math.nan, y=1.0)
