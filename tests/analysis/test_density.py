"""Capability density: simple ratios and the Densing Law reference curve (synthetic known answers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agimeter.analysis.density import (
    STATUS_ABOVE,
    STATUS_BELOW,
    STATUS_EXTRAPOLATED,
    STATUS_OK,
    DensityError,
    benchmark_mean,
    chance_floor,
    fit_reference,
    place,
    simple_density,
)
from agimeter.analysis.entries import BenchScore, CostInfo, ModelEntry

BENCH = ("mmlu", "bbh")  # chance 25 and 0: floor 12.5
CEILING, SLOPE, MID = 80.0, 0.8, math.log(4.0)


def curve(n_b: float) -> float:
    floor = chance_floor(BENCH)
    return floor + (CEILING - floor) / (1.0 + math.exp(-SLOPE * (math.log(n_b) - MID)))


def entry(
    key: str,
    params_b: float | None,
    scores: dict[str, float],
    family: str = "Ref",
    **extra: object,
) -> ModelEntry:
    return ModelEntry.model_validate(
        {
            "key": key,
            "model": key,
            "provenance": extra.pop("provenance", "published"),
            "family": family,
            "variant": "base",
            "params_b": params_b,
            "scores": [
                BenchScore(name=b, benchmark=b, dimension=None, value=v, provenance="published")
                for b, v in scores.items()
            ],
            **extra,
        }
    )


def reference_family(noise: float = 0.0) -> list[ModelEntry]:
    rng = np.random.default_rng(1)
    sizes = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    return [entry(f"ref-{n:g}", n, {b: curve(n) + noise * float(rng.normal()) for b in BENCH}) for n in sizes]


def test_reference_fit_recovers_the_generating_curve() -> None:
    fit = fit_reference(reference_family(), family="Ref", benchmarks=BENCH)
    assert fit.floor == pytest.approx(12.5)
    assert fit.ceiling == pytest.approx(CEILING, abs=1e-3)
    assert fit.slope == pytest.approx(SLOPE, abs=1e-4)
    assert fit.midpoint_ln_params_b == pytest.approx(MID, abs=1e-4)
    assert fit.r2 == pytest.approx(1.0) and fit.rmse < 1e-3 and fit.n == 8
    assert (fit.min_params_b, fit.max_params_b) == pytest.approx((0.5, 64.0))
    assert "ln N" in fit.formula and "mmlu, bbh" in fit.formula
    assert fit.score_at(4.0) == pytest.approx(curve(4.0))


def test_score_of_a_twice_larger_reference_gives_density_two() -> None:
    fit = fit_reference(reference_family(noise=0.3), family="Ref", benchmarks=BENCH)
    assert fit.r2 > 0.99
    small = entry("small", 3.0, {b: curve(6.0) for b in BENCH}, family="Other")
    placed = place(small, fit)
    assert placed.status == STATUS_OK
    assert placed.effective_params_b == pytest.approx(6.0, rel=0.05)
    assert placed.density == pytest.approx(2.0, rel=0.05)


def test_out_of_range_scores_are_flagged() -> None:
    fit = fit_reference(reference_family(), family="Ref", benchmarks=BENCH)
    below = place(entry("b", 1.0, {"mmlu": 20.0, "bbh": 0.0}), fit)  # mean 10 < floor 12.5
    assert (below.effective_params_b, below.density, below.status) == (None, None, STATUS_BELOW)
    above = place(entry("a", 1.0, {"mmlu": 90.0, "bbh": 90.0}), fit)
    assert (above.effective_params_b, above.status) == (None, STATUS_ABOVE)
    far = place(entry("f", 100.0, {b: curve(200.0) for b in BENCH}), fit)
    assert far.status == STATUS_EXTRAPOLATED
    assert far.effective_params_b == pytest.approx(200.0, rel=1e-3)
    assert far.density == pytest.approx(2.0, rel=1e-3)


def test_missing_benchmarks_and_parameter_kinds() -> None:
    fit = fit_reference(reference_family(), family="Ref", benchmarks=BENCH)
    partial = place(entry("p", 1.0, {"mmlu": 60.0}), fit)
    assert partial.density is None and partial.status == "missing benchmarks: bbh"
    assert benchmark_mean(entry("q", 1.0, {"mmlu": 60.0, "bbh": 40.0}), BENCH) == (50.0, [])
    no_size = place(entry("n", None, {b: curve(8.0) for b in BENCH}), fit)
    assert no_size.status == "no total parameter count"
    assert no_size.effective_params_b == pytest.approx(8.0, rel=1e-3)

    moe = entry("moe", 40.0, {b: curve(8.0) for b in BENCH}, params_active_b=4.0)
    active_fit = fit_reference(reference_family(), family="Ref", benchmarks=BENCH, params="active")
    assert place(moe, active_fit).density == pytest.approx(2.0, rel=1e-3)  # dense reference: active = total
    assert place(moe, fit).density == pytest.approx(0.2, rel=1e-3)

    with pytest.raises(DensityError, match="non_embedding parameters"):
        fit_reference(reference_family(), family="Ref", benchmarks=BENCH, params="non_embedding")


def test_fit_needs_enough_reference_models() -> None:
    with pytest.raises(DensityError, match="at least 4"):
        fit_reference(reference_family()[:3], family="Ref", benchmarks=BENCH)
    with pytest.raises(DensityError, match="'Nope'"):
        fit_reference(reference_family(), family="Nope", benchmarks=BENCH)


def test_simple_density_ratios() -> None:
    e = entry(
        "s",
        2.0,
        {"mmlu": 50.0},
        params_non_embedding_b=1.6,
        weights_gb=4.0,
        cost=CostInfo(usd_per_1m_blended=0.5, basis="test", provenance="measured"),
    )
    d = simple_density(e, 40.0)
    assert (d.per_b, d.per_b_non_embedding, d.per_gb, d.per_usd) == pytest.approx((20.0, 25.0, 10.0, 80.0))
    none = simple_density(entry("t", None, {}), 40.0)
    assert (none.per_b, none.per_gb, none.per_usd) == (None, None, None)
    assert simple_density(e, None).per_b is None


def test_a_non_finite_reference_score_refuses_the_fit() -> None:
    family = reference_family()
    family[3] = entry("ref-4", 4.0, {"mmlu": math.nan, "bbh": curve(4.0)})
    with pytest.raises(DensityError, match=r"non-finite values \(ref-4 mmlu\); refusing to fit"):
        fit_reference(family, "Ref", BENCH)
    family[3] = entry("ref-4", math.inf, {b: curve(4.0) for b in BENCH})
    with pytest.raises(DensityError, match=r"ref-4 parameters"):
        fit_reference(family, "Ref", BENCH)


def test_a_non_finite_score_is_named_not_averaged() -> None:
    fit = fit_reference(reference_family(), "Ref", BENCH)
    odd = entry("odd", 4.0, {"mmlu": math.inf, "bbh": 30.0}, family="Other")
    assert benchmark_mean(odd, BENCH) == (None, ["mmlu (not a finite number)"])
    placed = place(odd, fit)
    assert placed.density is None and placed.status == "missing benchmarks: mmlu (not a finite number)"
    assert simple_density(entry("x", math.nan, {}), 50.0).per_b is None
