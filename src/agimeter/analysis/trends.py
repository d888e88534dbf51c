"""Log-linear trends over release dates with bootstrap confidence intervals.

A trend is fitted on a *frontier* of dated points: for density, the models that set a new
running maximum at their release date (as the Densing Law paper does); for price, the prices
that set a new running minimum. ln v = A·t + B by least squares, t in days; the doubling
(or halving) time is ln 2 / |A|, in months of 30.44 days.

The bootstrap resamples the points with replacement, recomputes the frontier and refits. The
percentile interval is taken on the slope, then converted: a slope interval that reaches zero or
the wrong sign gives an unbounded time (None), never a negative or absurd number.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

DAYS_PER_MONTH = 30.44
DAYS_PER_YEAR = 365.25
Direction = Literal["up", "down"]


class TrendPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    model: str
    date: dt.date
    value: float
    provenance: str
    label: str = ""  # e.g. the price's provider and product


class TrendFit(BaseModel):
    """One fitted trend: ln(value) = slope·t + intercept on the frontier points."""

    model_config = ConfigDict(extra="forbid")

    quantity: str  # what was fitted, in words
    direction: Direction  # up: running max, doubling time; down: running min, halving time
    provenance: list[str]
    points: list[TrendPoint]  # every candidate point
    frontier: list[TrendPoint]  # the running-max (min) points the fit uses
    n_points: int
    status: str  # "ok" or why there is no fit
    n_dropped: int = 0  # points left out because their value is <= 0 (no logarithm)
    slope_per_year: float | None = None  # in ln units
    intercept: float | None = None  # ln value at t = 0 (1970-01-01)
    r2: float | None = None
    months_per_factor_2: float | None = None  # doubling (up) or halving (down) time; None = no such trend
    slope_ci_per_year: tuple[float, float] | None = None
    months_ci: tuple[float | None, float | None] | None = None  # None bound = unbounded
    ci_level: float = 0.95
    n_boot: int = 0
    n_boot_degenerate: int = 0  # resamples whose frontier had fewer than 2 distinct dates
    seed: int = 0
    method: str = ""


def frontier_indices(days: np.ndarray, values: np.ndarray, keys: Sequence[str], direction: Direction) -> list[int]:
    """Indices of the points that set a new running max (min) at their date; one per date at most."""
    sign = 1.0 if direction == "up" else -1.0
    order = sorted(range(len(days)), key=lambda i: (days[i], -sign * values[i], keys[i]))
    chosen: list[int] = []
    best = -math.inf
    last_day: float | None = None
    for i in order:
        if days[i] == last_day:
            continue  # only the best point of a date can set a record
        last_day = days[i]
        if sign * values[i] > best:
            best = sign * values[i]
            chosen.append(i)
    return chosen


def _linfit(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares y = a·t + b; returns (a, b, r2)."""
    t_mean, y_mean = float(t.mean()), float(y.mean())
    dt_ = t - t_mean
    sxx = float(np.sum(dt_**2))
    a = float(np.sum(dt_ * (y - y_mean))) / sxx
    b = y_mean - a * t_mean
    ss_tot = float(np.sum((y - y_mean) ** 2))
    ss_res = float(np.sum((y - (a * t + b)) ** 2))
    return a, b, (1.0 - ss_res / ss_tot) if ss_tot > 0 else 1.0


def _months(slope_per_day: float, sign: float) -> float | None:
    rate = sign * slope_per_day
    return math.log(2.0) / rate / DAYS_PER_MONTH if rate > 0 else None


def months_interval(slope_lo: float, slope_hi: float, direction: Direction) -> tuple[float | None, float | None]:
    """A slope interval (per day) as a doubling/halving-time interval in months; None = unbounded.

    The steep end of the slope interval gives the short time. Where the interval reaches zero or
    the wrong sign, the long end is unbounded; where it lies wholly on the wrong sign, both are.
    """
    sign = 1.0 if direction == "up" else -1.0
    steep, shallow = (slope_hi, slope_lo) if direction == "up" else (slope_lo, slope_hi)
    short = _months(steep, sign)
    return (short, _months(shallow, sign) if short is not None else None)


def fit_trend(
    points: Sequence[TrendPoint],
    direction: Direction,
    quantity: str,
    n_boot: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
) -> TrendFit:
    """Fit ln(value) against date on the running max (``up``) or min (``down``) frontier.

    A NaN or infinite value refuses the fit (status says which points): one such point would
    silently change the frontier. Values <= 0 are left out and counted in ``n_dropped``."""
    non_finite = sorted({p.key for p in points if not math.isfinite(p.value)})
    pts = sorted((p for p in points if math.isfinite(p.value) and p.value > 0), key=lambda p: (p.date, p.key))
    sign = 1.0 if direction == "up" else -1.0
    word = "doubling" if direction == "up" else "halving"
    base = TrendFit(
        quantity=quantity,
        direction=direction,
        provenance=sorted({p.provenance for p in pts}),
        points=pts,
        frontier=[],
        n_points=0,
        status="ok",
        n_dropped=sum(math.isfinite(p.value) and p.value <= 0 for p in points),
        seed=seed,
        ci_level=ci_level,
        method=(
            f"ln v = A·t + B by least squares on the running-{'max' if direction == 'up' else 'min'} frontier; "
            f"{word} time = ln 2 / {'A' if direction == 'up' else '(-A)'} in months of {DAYS_PER_MONTH} days; "
            f"{ci_level:.0%} percentile bootstrap over points (frontier recomputed per resample), "
            "interval taken on A and converted"
        ),
    )
    if non_finite:
        listed = ", ".join(non_finite[:5]) + (", ..." if len(non_finite) > 5 else "")
        return base.model_copy(
            update={"status": f"refused: {len(non_finite)} point(s) with a non-finite value ({listed})"}
        )
    if not pts:
        return base.model_copy(update={"status": "no dated points with a positive value"})
    days = np.array([float(p.date.toordinal()) for p in pts])
    logs = np.log(np.array([p.value for p in pts]))
    keys = [p.key for p in pts]
    front = frontier_indices(days, logs, keys, direction)
    base = base.model_copy(update={"frontier": [pts[i] for i in front], "n_points": len(front)})
    if len(front) < 2:
        return base.model_copy(update={"status": "fewer than 2 frontier points on distinct dates"})
    epoch = float(dt.date(1970, 1, 1).toordinal())
    a, b, r2 = _linfit(days[front] - epoch, logs[front])

    rng = np.random.default_rng(seed)
    slopes: list[float] = []
    degenerate = 0
    n = len(pts)
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        sub = frontier_indices(days[idx], logs[idx], [keys[i] for i in idx], direction)
        if len({days[idx][i] for i in sub}) < 2:
            degenerate += 1
            continue
        slopes.append(_linfit(days[idx][sub], logs[idx][sub])[0])
    update: dict[str, object] = {
        "slope_per_year": a * DAYS_PER_YEAR,
        "intercept": b,
        "r2": r2,
        "months_per_factor_2": _months(a, sign),
        "n_boot": n_boot,
        "n_boot_degenerate": degenerate,
    }
    if slopes:
        tail = (1.0 - ci_level) / 2.0 * 100.0
        lo, hi = (float(v) for v in np.percentile(np.array(slopes), [tail, 100.0 - tail]))
        update["slope_ci_per_year"] = (lo * DAYS_PER_YEAR, hi * DAYS_PER_YEAR)
        update["months_ci"] = months_interval(lo, hi, direction)
    return base.model_copy(update=update)
