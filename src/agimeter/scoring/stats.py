"""Confidence intervals for per-item scores.

Binary metrics (accuracy, exact match) use the Wilson score interval, which stays inside [0, 1]
and behaves at small n and at p = 0 or 1, unlike the normal approximation. ``stderr`` is the
sample standard error (as lm-eval reports it) so numbers stay comparable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict


class Estimate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    ci_low: float
    ci_high: float
    stderr: float
    n: int
    method: str


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # At p = 0 or 1 one bound is exactly the edge; don't let rounding say otherwise.
    if successes == 0:
        low = 0.0
    if successes == n:
        high = 1.0
    return (low, high)


def estimate(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean with a CI: Wilson for 0/1 values, Student-t on the mean otherwise."""
    n = len(values)
    if n == 0:
        return Estimate(mean=math.nan, ci_low=math.nan, ci_high=math.nan, stderr=math.nan, n=0, method="none")
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    stderr = math.sqrt(var / n)
    if all(v in (0.0, 1.0) for v in values):
        low, high = wilson_interval(math.fsum(values), n, confidence)
        return Estimate(mean=mean, ci_low=low, ci_high=high, stderr=stderr, n=n, method="wilson")
    from scipy.stats import t  # imported lazily: scipy.stats costs ~1 s at start-up

    half = float(t.ppf(0.5 + confidence / 2, df=max(n - 1, 1))) * stderr
    return Estimate(mean=mean, ci_low=mean - half, ci_high=mean + half, stderr=stderr, n=n, method="t")


def _normal_ci(mean: float, stderr: float, confidence: float, lo: float = 0.0, hi: float = 1.0) -> tuple[float, float]:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return max(lo, mean - z * stderr), min(hi, mean + z * stderr)


def weighted_estimate(values: Sequence[float], weights: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Weighted mean Σwx/Σw (IFEval instruction-level accuracy: items weighted by their number of
    instructions) with the ratio estimator's linearised standard error and a normal CI."""
    n = len(values)
    total = math.fsum(weights)
    if n == 0 or total <= 0:
        return estimate([], confidence)
    mean = math.fsum(w * v for v, w in zip(values, weights, strict=True)) / total
    resid = math.fsum((w * (v - mean)) ** 2 for v, w in zip(values, weights, strict=True))
    stderr = math.sqrt(resid * n / max(n - 1, 1)) / total
    low, high = _normal_ci(mean, stderr, confidence)
    return Estimate(mean=mean, ci_low=low, ci_high=high, stderr=stderr, n=n, method="ratio")


def stratified_estimate(
    by_stratum: Mapping[str, Sequence[float]], population: Mapping[str, int], confidence: float = 0.95
) -> Estimate:
    """Stratified-sample mean Σ W_h x̄_h (W_h = N_h / N) with variance Σ W_h² s_h² / n_h × (1 − n_h/N_h)
    (finite-population correction) and a normal CI. Strata with no sampled item are left out and
    the weights renormalised (stratified sampling allots at least one item per stratum)."""
    sampled = {h: list(v) for h, v in by_stratum.items() if v}
    total_pop = sum(population.get(h, len(v)) for h, v in sampled.items())
    if not sampled or total_pop == 0:
        return estimate([], confidence)
    mean = 0.0
    var = 0.0
    for h, values in sampled.items():
        n_h, big_n = len(values), max(population.get(h, len(values)), len(values))
        w = big_n / total_pop
        m = math.fsum(values) / n_h
        s2 = math.fsum((v - m) ** 2 for v in values) / (n_h - 1) if n_h > 1 else 0.0
        mean += w * m
        var += w * w * s2 / n_h * (1 - n_h / big_n)
    stderr = math.sqrt(var)
    low, high = _normal_ci(mean, stderr, confidence)
    n = sum(len(v) for v in sampled.values())
    return Estimate(mean=mean, ci_low=low, ci_high=high, stderr=stderr, n=n, method="stratified")
