"""Like for like: self-hosted and API prices on separate frontiers, overall ranked only among
entries of the same coverage, $ per 1M tokens on both token bases."""

from __future__ import annotations

from pathlib import Path

import pytest

from agimeter.analysis.entries import CostInfo, ModelEntry, all_entries, measured_entries
from agimeter.analysis.pareto_report import pareto_report
from agimeter.analysis.ranking import coverage_text, with_ranks
from agimeter.store.repository import Store
from agimeter.testing.runs import eval_run, measurement, protocol


def _entry(key: str, overall: float, coverage: list[str], usd: float | None = None, **fields: object) -> ModelEntry:
    cost = None
    if usd is not None:
        cost = CostInfo(usd_per_1m_blended=usd, basis="t", provenance=fields.pop("cost_provenance", "measured"))  # type: ignore[arg-type]
    return ModelEntry.model_validate(
        {"key": key, "model": key, "provenance": "measured", "overall": overall, "coverage": coverage, "cost": cost,
         **fields}
    )  # fmt: skip


def test_self_hosted_and_api_prices_have_separate_frontiers() -> None:
    laptop = _entry("laptop-135m", 10.0, ["reasoning"], usd=0.01)  # a tiny model on a laptop CPU: cheap
    api = [
        _entry("api-big", 80.0, ["reasoning"], usd=5.0, provenance="published", cost_provenance="published"),
        _entry("api-mid", 60.0, ["reasoning"], usd=0.5, provenance="published", cost_provenance="published"),
        _entry("api-bad", 50.0, ["reasoning"], usd=6.0, provenance="published", cost_provenance="published"),
    ]
    assert laptop.cost is not None and laptop.cost.kind == "self_hosted"
    assert api[0].cost is not None and api[0].cost.kind == "api"
    report = pareto_report([laptop, *api], capability="overall", cost="usd_per_1m")
    groups = {p.key: p.group for p in report.points}
    assert groups["laptop-135m"].startswith("self-hosted") and groups["api-mid"].startswith("API price")
    assert set(report.frontiers) == {groups["laptop-135m"], groups["api-mid"]}
    assert report.frontiers[groups["api-mid"]] == ["api-mid", "api-big"]
    rows = {p.key: p for p in report.points}
    # the cheap laptop point dominates nothing priced another way
    assert rows["api-bad"].dominated_by == ["api-mid", "api-big"]
    assert all("laptop-135m" not in p.dominated_by for p in report.points)
    assert "self-hosted and API prices apart" in report.grouping
    # on another axis there is one frontier
    assert set(pareto_report([laptop, *api], capability="overall", cost="params_b").frontiers) <= {
        "overall over reasoning"
    }


def test_overall_ranks_only_among_the_same_coverage() -> None:
    entries = with_ranks(
        [
            _entry("base", 30.0, ["knowledge", "math", "reasoning"]),
            _entry("base-2", 40.0, ["knowledge", "math", "reasoning"]),
            _entry("instruct", 70.0, ["instruction_following", "math"]),  # higher, but over other dimensions
            _entry("none", 0.0, []),
        ]
    )
    ranks = {e.key: (e.rank, e.rank_among) for e in entries}
    assert ranks == {"base-2": (1, 2), "base": (2, 2), "instruct": (1, 1), "none": (None, None)}
    assert coverage_text(entries[0]) == "3/8 dimensions" and coverage_text(entries[3]) == "–"
    # the Pareto view of overall groups by coverage too
    sized = [e.model_copy(update={"params_b": 1.0}) for e in entries]
    by_group = pareto_report(sized, capability="overall", cost="params_b").frontiers
    assert by_group["overall over knowledge, math, reasoning"] == ["base-2"]
    assert by_group["overall over instruction_following, math"] == ["instruct"]


def test_measured_overall_is_over_measured_dimensions_with_coverage(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    eval_run(store, "a", {"mmlu": (60, 0.55), "arc_challenge": (60, 0.5)}, protocols={
        "mmlu": protocol("mmlu", "knowledge"), "arc_challenge": protocol("arc_challenge", "reasoning")})  # fmt: skip
    [entry] = measured_entries(store)
    assert entry.coverage == ["knowledge", "reasoning"]
    assert entry.overall == pytest.approx((entry.dimensions["knowledge"] + entry.dimensions["reasoning"]) / 2)
    [ranked] = [e for e in all_entries(store) if e.provenance == "measured"]
    assert (ranked.rank, ranked.rank_among) == (1, 1)


def test_cost_on_both_token_bases(tmp_path: Path) -> None:
    """Multiple choice counts the context once per choice (lm-eval's count); the model computes a
    shared prefix once. The same run's $ per 1M tokens on the two bases, each labelled."""
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    run = eval_run(store, "mc", {"arc_challenge": (60, 0.5)})
    counted_only = measurement(60, computed_share=0.25).model_dump(mode="json")
    store.update_run(run.id, summary={**run.summary, "measurement": counted_only}, status="finished")
    [entry] = measured_entries(store)
    cost = entry.cost
    assert cost is not None and cost.kind == "self_hosted" and cost.run_id == "mc"
    assert cost.usd_per_1m_blended is not None and cost.usd_per_1m_computed is not None
    assert cost.usd_per_1m_computed == pytest.approx(4 * cost.usd_per_1m_blended)  # a quarter of the tokens
    assert "as lm-eval counts them" in cost.basis and "actually computed" in cost.basis
