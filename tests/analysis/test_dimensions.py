"""Normalised task scores, dimension scores and the overall index; stratified estimates."""

from __future__ import annotations

import math
import random

import pytest

from agimeter.analysis.dimensions import capability_map, parse_weights
from agimeter.scoring.aggregate import TaskScore, normalize
from agimeter.scoring.stats import Estimate, estimate, stratified_estimate, weighted_estimate
from agimeter.tasks.sampling import population, stratified_order


def _est(mean: float, stderr: float = 0.0, n: int = 100) -> Estimate:
    return Estimate(
        mean=mean, ci_low=mean - 1.96 * stderr, ci_high=mean + 1.96 * stderr, stderr=stderr, n=n, method="t"
    )


def test_normalize_maps_chance_to_zero_and_perfect_to_hundred() -> None:
    assert normalize(_est(0.25), 0.25).mean == 0.0
    assert normalize(_est(1.0), 0.25).mean == 100.0
    assert normalize(_est(0.625), 0.25).mean == pytest.approx(50.0)
    assert normalize(_est(0.10), 0.25).mean == 0.0  # below chance is clipped, as Open LLM Leaderboard v2 does
    assert normalize(_est(0.4), 0.0).mean == pytest.approx(40.0)
    assert normalize(_est(0.625, 0.03), 0.25).stderr == pytest.approx(4.0)


def _task(name: str, dim: str, normalized: float, se: float, n: int = 100) -> TaskScore:
    norm = Estimate(
        mean=normalized, ci_low=normalized - 1.96 * se, ci_high=normalized + 1.96 * se, stderr=se, n=n, method="x"
    )
    return TaskScore(
        task=name,
        task_version="1",
        dimension=dim,
        primary_metric="acc",
        n=n,
        metrics={"acc": _est(0.5)},
        subtasks={},
        normalized=norm,
        prompt_tokens=10,
        completion_tokens=0,
        compute_s=1.0 if dim == "knowledge" else 2.0,
    )


def test_capability_map_means_and_weights() -> None:
    scores = [_task("a", "knowledge", 50, 3), _task("b", "knowledge", 70, 4), _task("c", "math", 30, 5)]
    cmap = capability_map(scores, usd_total=4.0)
    knowledge, math_dim = cmap.dimensions
    assert knowledge.dimension == "knowledge" and knowledge.score == pytest.approx(60)
    assert knowledge.stderr == pytest.approx(math.sqrt(9 + 16) / 2, rel=1e-3)
    assert knowledge.ci_low == pytest.approx(60 - 1.96 * 2.5, abs=0.01)
    assert cmap.overall == pytest.approx(45)
    assert cmap.weights == {"knowledge": 0.5, "math": 0.5}
    # $ split by compute time: knowledge 2 s of 4 s.
    assert knowledge.usd == pytest.approx(2.0) and math_dim.usd == pytest.approx(2.0)
    weighted = capability_map(scores, parse_weights("math=3,knowledge=1"))
    assert weighted.overall == pytest.approx((60 + 3 * 30) / 4)
    assert weighted.weights == {"knowledge": 0.25, "math": 0.75}
    with pytest.raises(ValueError, match="--weights"):
        parse_weights("math=-1")
    assert capability_map([]).overall is None
    # A task at 0 with a Wilson interval [0, 24] keeps its uncertainty in the dimension's CI.
    zero = _task("z", "coding", 0.0, 0.0)
    zero.normalized = Estimate(mean=0.0, ci_low=0.0, ci_high=24.2, stderr=0.0, n=12, method="wilson")
    coding = capability_map([zero]).dimensions[0]
    assert coding.score == 0.0 and coding.ci_high == pytest.approx(24.2 / 2, rel=0.01)


def test_weighted_estimate_is_instruction_level_accuracy() -> None:
    # Two prompts: 1 of 1 instruction followed, 1 of 3 followed → 2 of 4 instructions.
    est = weighted_estimate([1.0, 1 / 3], [1.0, 3.0])
    assert est.mean == pytest.approx(0.5)
    assert est.method == "ratio"


def test_stratified_estimate_matches_the_population_mean_with_fpc() -> None:
    rng = random.Random(0)
    pop = {"a": [float(rng.random() < 0.9) for _ in range(200)], "b": [float(rng.random() < 0.2) for _ in range(800)]}
    full = stratified_estimate(pop, {"a": 200, "b": 800})
    truth = (sum(pop["a"]) + sum(pop["b"])) / 1000
    assert full.mean == pytest.approx(truth)
    assert full.stderr == 0.0  # the whole population: no sampling error left
    sample = stratified_estimate({"a": pop["a"][:20], "b": pop["b"][:80]}, {"a": 200, "b": 800})
    assert sample.ci_low <= truth <= sample.ci_high
    plain = estimate(pop["a"][:20] + pop["b"][:80])
    assert sample.stderr < plain.stderr  # stratification removes the between-strata variance


def test_stratified_order_prefixes_are_proportional_and_seeded() -> None:
    strata = ["big"] * 900 + ["small"] * 90 + ["tiny"] * 10
    order = stratified_order(strata, seed=7)
    assert sorted(order) == list(range(1000)) and order == stratified_order(strata, seed=7)
    assert order != stratified_order(strata, seed=8)
    first = [strata[i] for i in order[:100]]
    assert first.count("big") in (89, 90, 91) and first.count("small") in (8, 9, 10) and first.count("tiny") == 1
    assert population(strata) == {"big": 900, "small": 90, "tiny": 10}
