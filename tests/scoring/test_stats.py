from __future__ import annotations

import math

import pytest

from agimeter.scoring.stats import estimate, wilson_interval


def test_wilson_matches_reference_values() -> None:
    # Reference: Wilson 95% interval for 8/10 is (0.4902, 0.9433) (Newcombe 1998, method 3).
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_stays_inside_unit_interval_at_the_edges() -> None:
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0 < high < 0.2
    low, high = wilson_interval(20, 20)
    assert 0.8 < low < 1 and high == 1.0


def test_estimate_binary_uses_wilson_and_lm_eval_stderr() -> None:
    values = [1.0] * 30 + [0.0] * 70
    est = estimate(values)
    assert est.method == "wilson" and est.mean == pytest.approx(0.3)
    # lm-eval reports the sample standard error of the mean.
    assert est.stderr == pytest.approx(math.sqrt(0.3 * 0.7 * 100 / 99 / 100))
    assert est.ci_low < 0.3 < est.ci_high


def test_estimate_continuous_uses_t_interval() -> None:
    est = estimate([0.5, 0.7, 0.9, 0.6])
    assert est.method == "t" and est.ci_low < est.mean < est.ci_high


def test_empty_estimate_is_nan() -> None:
    assert math.isnan(estimate([]).mean)
