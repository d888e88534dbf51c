"""Capability density: how much capability a model gets out of each parameter (or GB, or $).

Two kinds:

- simple ratios: score per billion parameters (total, non-embedding), per GB of weights in memory,
  and per $ per 1M tokens;
- the Densing Law's relative density (Xiao et al., arXiv 2412.04315): fit a reference scaling
  curve S(N) on one model family, map a model's score to its *effective parameter size* N̂ (the
  size a reference model would need to score as well) and report ρ = N̂ / N.

The paper fits params → loss → score in two steps; catalogs carry no losses, so the composite is
fitted directly: S(N) = d + (c − d)·σ(k·(ln N − m)), N in billions, with d the benchmarks' mean
chance level (fixed) and c ≤ 100, k > 0, m free. The score is the mean raw percent over a
benchmark set (the paper's five by default); a model lacking any of them gets no density.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.optimize import curve_fit

from agimeter.analysis.benchmarks import BENCHMARKS
from agimeter.analysis.entry_model import ModelEntry

ParamsKind = Literal["total", "non_embedding", "active"]
DENSING_BENCHMARKS: tuple[str, ...] = ("mmlu", "bbh", "math", "humaneval", "mbpp")
DEFAULT_FAMILY = "Qwen2.5"
DEFAULT_VARIANT = "base"

STATUS_OK = "ok"
NOT_FINITE = "not a finite number"  # how a NaN or infinite input is named in a status
STATUS_EXTRAPOLATED = "extrapolated"
STATUS_BELOW = "below reference range"
STATUS_ABOVE = "above reference range"


class DensityError(ValueError):
    """The reference curve cannot be fitted (too few models, or the optimiser failed)."""


class ReferencePoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    model: str
    params_b: float
    score: float
    fitted: float


class ReferenceFit(BaseModel):
    """S(N) = floor + (ceiling − floor) / (1 + exp(−slope·(ln N − midpoint))), N in billions."""

    model_config = ConfigDict(extra="forbid")

    family: str
    variant: str | None
    benchmarks: list[str]
    params: ParamsKind
    floor: float  # d: mean chance level of the benchmarks, fixed
    ceiling: float  # c
    slope: float  # k, per unit of ln N
    midpoint_ln_params_b: float  # m: ln N (billions) at the curve's midpoint
    r2: float
    rmse: float
    n: int
    min_params_b: float
    max_params_b: float
    points: list[ReferencePoint]
    formula: str

    def score_at(self, params_b: float) -> float:
        """The reference curve's score for a model of ``params_b`` billion parameters."""
        ln_n = np.array([math.log(params_b)])
        return float(_sigmoid_curve(ln_n, self.ceiling, self.slope, self.midpoint_ln_params_b, self.floor)[0])

    def effective_params_b(self, score: float) -> tuple[float | None, str]:
        """N̂ with S(N̂) = score, and a status: ok, extrapolated, below/above reference range."""
        if score <= self.floor:
            return None, STATUS_BELOW
        if score >= self.ceiling:
            return None, STATUS_ABOVE
        u = (score - self.floor) / (self.ceiling - self.floor)
        ln_n = self.midpoint_ln_params_b + math.log(u / (1.0 - u)) / self.slope
        if ln_n > 700:  # exp overflow: practically at the ceiling
            return None, STATUS_ABOVE
        n_hat = math.exp(ln_n)
        inside = self.min_params_b <= n_hat <= self.max_params_b
        return n_hat, STATUS_OK if inside else STATUS_EXTRAPOLATED


class SimpleDensity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_b: float | None  # score per billion total parameters
    per_b_non_embedding: float | None
    per_gb: float | None  # per GB of weights in memory (ModelEntry.weights_gb)
    per_usd: float | None  # per $ per 1M tokens (blended)


class Placement(BaseModel):
    """One model placed on the reference curve."""

    model_config = ConfigDict(extra="forbid")

    params_b: float | None  # the parameter count used (see ReferenceFit.params)
    score: float | None
    effective_params_b: float | None
    density: float | None
    status: str


def _sigmoid_curve(ln_n: np.ndarray, ceiling: float, slope: float, mid: float, floor: float) -> np.ndarray:
    z = np.clip(slope * (ln_n - mid), -500.0, 500.0)
    return np.asarray(floor + (ceiling - floor) / (1.0 + np.exp(-z)), dtype=float)


def chance_floor(benchmarks: Sequence[str]) -> float:
    """Mean chance level (percent) of the benchmarks; unknown benchmarks count as 0."""
    return sum(BENCHMARKS[b].chance if b in BENCHMARKS else 0.0 for b in benchmarks) / len(benchmarks)


def benchmark_mean(entry: ModelEntry, benchmarks: Sequence[str]) -> tuple[float | None, list[str]]:
    """Mean raw percent over the benchmarks, or None with the missing ones (a NaN or infinite
    score is named as such: it is never averaged, and never silently dropped)."""
    values: list[float] = []
    missing: list[str] = []
    for b in benchmarks:
        s = entry.score(b)
        if s is None:
            missing.append(b)
        elif not math.isfinite(s.value):
            missing.append(f"{b} ({NOT_FINITE})")
        elif s.status != "ok":  # shown, never averaged: too few items, another protocol, a user task
            missing.append(f"{b} ({s.status}, n={s.n})")
        else:
            values.append(s.value)
    return (None, missing) if missing else (sum(values) / len(values), [])


def params_of(entry: ModelEntry, params: ParamsKind) -> float | None:
    """Parameter count in billions; ``active`` falls back to total for dense models."""
    if params == "total":
        return entry.params_b
    if params == "non_embedding":
        return entry.params_non_embedding_b
    return entry.params_active_b if entry.params_active_b is not None else entry.params_b


def _ratio(score: float | None, denominator: float | None) -> float | None:
    if score is None or denominator is None or not math.isfinite(denominator) or denominator <= 0:
        return None
    return score / denominator


def simple_density(entry: ModelEntry, score: float | None) -> SimpleDensity:
    """Score per billion parameters, per GB of weights in memory and per $ per 1M tokens."""
    usd = entry.cost.usd_per_1m_blended if entry.cost else None
    return SimpleDensity(
        per_b=_ratio(score, entry.params_b),
        per_b_non_embedding=_ratio(score, entry.params_non_embedding_b),
        per_gb=_ratio(score, entry.weights_gb),
        per_usd=_ratio(score, usd),
    )


def fit_reference(
    entries: Sequence[ModelEntry],
    family: str = DEFAULT_FAMILY,
    benchmarks: Sequence[str] = DENSING_BENCHMARKS,
    params: ParamsKind = "total",
    variant: str | None = DEFAULT_VARIANT,
) -> ReferenceFit:
    """Fit the reference curve on one family's models that have every benchmark and a size."""
    if not benchmarks:
        raise DensityError("no benchmarks given for the reference curve")
    members = [e for e in entries if e.family == family and (variant is None or e.variant == variant)]
    bad = [f"{e.model} {b}" for e in members for b in benchmarks if (s := e.score(b)) and not math.isfinite(s.value)]
    bad += [
        f"{e.model} parameters" for e in members if (n := params_of(e, params)) is not None and not math.isfinite(n)
    ]
    if bad:
        raise DensityError(f"reference family {family!r} has non-finite values ({', '.join(bad)}); refusing to fit")
    rows: list[tuple[ModelEntry, float, float]] = []
    for e in members:
        score, _ = benchmark_mean(e, benchmarks)
        n = params_of(e, params)
        if score is not None and n is not None and n > 0:
            rows.append((e, n, score))
    sizes = {n for _, n, _ in rows}
    if len(rows) < 4 or len(sizes) < 3:
        raise DensityError(
            f"reference family {family!r} ({variant or 'any variant'}) has {len(rows)} models with "
            f"{params} parameters and all of {', '.join(benchmarks)}; the curve needs at least 4 (3 sizes)"
        )
    rows.sort(key=lambda r: (r[1], r[0].key))
    ln_n = np.log(np.array([n for _, n, _ in rows]))
    y = np.array([s for _, _, s in rows])
    floor = chance_floor(benchmarks)
    if float(y.max()) <= floor:
        raise DensityError(f"reference scores never rise above the chance floor {floor:.1f}%")
    top = min(100.0, float(y.max()) + 1.0)
    p0 = (max(top, floor + 1.0), 1.0, float(np.median(ln_n)))
    lower = (floor + 1e-6, 1e-4, math.log(1e-6))
    upper = (100.0, 50.0, math.log(1e7))

    def model(x: np.ndarray, ceiling: float, slope: float, mid: float) -> np.ndarray:
        return _sigmoid_curve(x, ceiling, slope, mid, floor)

    try:
        popt, _ = curve_fit(model, ln_n, y, p0=p0, bounds=(lower, upper), maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        raise DensityError(f"reference curve fit failed for {family!r}: {exc}") from exc
    ceiling, slope, mid = (float(v) for v in popt)
    fitted = model(ln_n, ceiling, slope, mid)
    residual = y - fitted
    ss_res = float(np.sum(residual**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if not all(math.isfinite(v) for v in (ceiling, slope, mid, ss_res)):
        raise DensityError(f"reference curve fit for {family!r} did not converge to finite values")
    return ReferenceFit(
        family=family,
        variant=variant,
        benchmarks=list(benchmarks),
        params=params,
        floor=floor,
        ceiling=ceiling,
        slope=slope,
        midpoint_ln_params_b=mid,
        r2=1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
        rmse=math.sqrt(ss_res / len(rows)),
        n=len(rows),
        min_params_b=float(math.exp(ln_n.min())),
        max_params_b=float(math.exp(ln_n.max())),
        points=[
            ReferencePoint(key=e.key, model=e.model, params_b=n, score=s, fitted=float(f))
            for (e, n, s), f in zip(rows, fitted, strict=True)
        ],
        formula=(
            f"S(N) = {floor:.2f} + ({ceiling:.2f} - {floor:.2f}) / (1 + exp(-{slope:.4f} * (ln N - {mid:.4f}))), "
            f"N = {params.replace('_', '-')} parameters in billions, S = mean % over {', '.join(benchmarks)}"
        ),
    )


def place(entry: ModelEntry, fit: ReferenceFit) -> Placement:
    """Effective parameter size and relative density of one model against the reference curve."""
    score, missing = benchmark_mean(entry, fit.benchmarks)
    n = params_of(entry, fit.params)
    if score is None:
        status = "missing benchmarks: " + ", ".join(missing)
        return Placement(params_b=n, score=None, effective_params_b=None, density=None, status=status)
    n_hat, status = fit.effective_params_b(score)
    if n is None or not math.isfinite(n) or n <= 0:
        status = f"no {fit.params.replace('_', '-')} parameter count"
        return Placement(params_b=None, score=score, effective_params_b=n_hat, density=None, status=status)
    return Placement(
        params_b=n,
        score=score,
        effective_params_b=n_hat,
        density=n_hat / n if n_hat is not None else None,
        status=status,
    )
