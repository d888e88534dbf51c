"""Log-linear trends over release dates with bootstrap confidence intervals.

A trend is fitted on a *frontier* of dated points: for density, the models that set a new
running maximum at their release date (as the Densing Law paper does); for price, the prices
that set a new running minimum. ln v = A·t + B by least squares, t in days; the doubling
(or halving) time is ln 2 / |A|, in months of 30.44 days.

The bootstrap resamples the points with replacement, recomputes the frontier and refits. The
percentile interval is taken on the slope, then converted: a slope interval that reaches zero or
the wrong sign gives an unbounded time (None), never a negative or absurd number. The same
resampled fits give the band around the fitted line (pointwise percentiles of the fitted value).

Minimum evidence: a fit needs ``MIN_FRONTIER_POINTS`` frontier points on distinct dates; below
that the status is ``insufficient: ...`` and there is no slope, time or CI, only the points. The
share of degenerate resamples (a frontier on fewer than two dates, which cannot be fitted) is
reported: with k frontier points a resample misses all k - 1 later records with probability
about e^-(k-1), so at k >= 5 it stays near 2% or below (two points gave the 31% of issue 15).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

DAYS_PER_MONTH = 30.44
DAYS_PER_YEAR = 365.25
MIN_FRONTIER_POINTS = 5  # a log-linear fit and its bootstrap CI on fewer points is not reported
BAND_POINTS = 40  # dates at which the band around the fitted line is evaluated
INSUFFICIENT = "insufficient"
Direction = Literal["up", "down"]


class TrendPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    model: str
    date: dt.date
    value: float
    provenance: str
    label: str = ""  # e.g. the price's provider and product


class BandPoint(BaseModel):
    """The fitted line at one date and its pointwise bootstrap interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    value: float
    low: float
    high: float


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
    degenerate_fraction: float | None = None  # n_boot_degenerate / n_boot
    min_frontier_points: int = MIN_FRONTIER_POINTS
    band: list[BandPoint] = Field(default_factory=list)  # the fitted line with its bootstrap band
    seed: int = 0
    method: str = ""

    @property
    def fitted(self) -> bool:
        return self.status == "ok"


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
            "interval taken on A and converted; band = pointwise percentiles of the resampled lines; "
            f"no fit below {MIN_FRONTIER_POINTS} frontier points"
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
    if len(front) < MIN_FRONTIER_POINTS:
        what = "fewer than 2 frontier points" if len(front) < 2 else f"{len(front)} frontier points"
        need = f"a fit needs at least {MIN_FRONTIER_POINTS}"
        return base.model_copy(update={"status": f"{INSUFFICIENT}: {what} on distinct dates ({need})"})
    epoch = float(dt.date(1970, 1, 1).toordinal())
    a, b, r2 = _linfit(days[front] - epoch, logs[front])

    rng = np.random.default_rng(seed)
    lines: list[tuple[float, float]] = []
    degenerate = 0
    n = len(pts)
    for _ in range(n_boot):
        idx = rng.integers(0, n, size=n)
        sub = frontier_indices(days[idx], logs[idx], [keys[i] for i in idx], direction)
        if len({days[idx][i] for i in sub}) < 2:
            degenerate += 1
            continue
        slope, intercept, _ = _linfit(days[idx][sub] - epoch, logs[idx][sub])
        lines.append((slope, intercept))
    update: dict[str, object] = {
        "n_boot": n_boot,
        "n_boot_degenerate": degenerate,
        "degenerate_fraction": degenerate / n_boot if n_boot else None,
        "slope_per_year": a * DAYS_PER_YEAR,
        "intercept": b,
        "r2": r2,
        "months_per_factor_2": _months(a, sign),
    }
    if lines:
        tail = (1.0 - ci_level) / 2.0 * 100.0
        lo, hi = (float(v) for v in np.percentile(np.array([s for s, _ in lines]), [tail, 100.0 - tail]))
        update["slope_ci_per_year"] = (lo * DAYS_PER_YEAR, hi * DAYS_PER_YEAR)
        update["months_ci"] = months_interval(lo, hi, direction)
        update["band"] = _band(lines, (a, b), (pts[0].date, pts[-1].date), tail)
    return base.model_copy(update=update)


def _band(
    lines: Sequence[tuple[float, float]], fit: tuple[float, float], span: tuple[dt.date, dt.date], tail: float
) -> list[BandPoint]:
    """The fitted line and the pointwise percentile interval of the resampled lines over ``span``."""
    epoch = dt.date(1970, 1, 1)
    first, last = span
    steps = max(1, min(BAND_POINTS - 1, (last - first).days))
    dates = sorted({first + dt.timedelta(days=round(i * (last - first).days / steps)) for i in range(steps + 1)})
    t = np.array([float((d - epoch).days) for d in dates])
    slopes = np.array([s for s, _ in lines])[:, None]
    intercepts = np.array([b for _, b in lines])[:, None]
    values = slopes * t[None, :] + intercepts  # ln v per resample and date
    low, high = np.percentile(values, [tail, 100.0 - tail], axis=0)
    a, b = fit
    return [
        BandPoint(date=d, value=math.exp(a * ti + b), low=math.exp(lo), high=math.exp(hi))
        for d, ti, lo, hi in zip(dates, t, low, high, strict=True)
    ]
