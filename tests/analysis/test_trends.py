"""Log-linear trends: a known doubling/halving time is recovered inside its bootstrap CI."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from agimeter.analysis.trends import (
    DAYS_PER_MONTH,
    MIN_FRONTIER_POINTS,
    TrendPoint,
    fit_trend,
    frontier_indices,
    months_interval,
)

START = dt.date(2022, 1, 1)


def series(months_per_factor_2: float, sign: float, n_months: int = 36, seed: int = 7) -> list[TrendPoint]:
    """One leader a month on the trend line (noise sd 0.15 in ln) plus two clearly worse followers."""
    rng = np.random.default_rng(seed)
    rate = sign * math.log(2.0) / (months_per_factor_2 * DAYS_PER_MONTH)  # ln units per day
    out = []
    for i in range(n_months):
        day = round(i * DAYS_PER_MONTH + rng.uniform(0, 5))
        date = START + dt.timedelta(days=day)
        trend = rate * day
        out.append(
            TrendPoint(
                key=f"lead-{i}",
                model=f"lead-{i}",
                date=date,
                value=math.exp(trend + rng.normal(0, 0.15)),
                provenance="published",
            )
        )
        for j in range(2):
            worse = trend - sign * rng.uniform(0.5, 3.0)
            out.append(
                TrendPoint(
                    key=f"f-{i}-{j}",
                    model=f"f-{i}-{j}",
                    date=date + dt.timedelta(days=j + 1),
                    value=math.exp(worse),
                    provenance="measured",
                )
            )
    return out


def test_doubling_time_of_3_3_months_is_recovered() -> None:
    fit = fit_trend(series(3.3, +1.0), "up", "density", n_boot=2000, seed=0)
    assert fit.status == "ok" and fit.direction == "up"
    assert fit.provenance == ["measured", "published"]
    assert fit.months_per_factor_2 is not None and fit.months_ci is not None
    lo, hi = fit.months_ci
    assert lo is not None and hi is not None
    print(f"doubling {fit.months_per_factor_2:.2f} months, CI {lo:.2f}-{hi:.2f}, R2 {fit.r2:.3f}, n {fit.n_points}")
    assert lo <= 3.3 <= hi
    assert fit.months_per_factor_2 == pytest.approx(3.3, rel=0.1)
    assert hi / lo < 1.5  # not absurdly wide
    assert fit.r2 is not None and fit.r2 > 0.95
    assert fit.slope_per_year == pytest.approx(math.log(2) / (3.3 * DAYS_PER_MONTH) * 365.25, rel=0.1)
    assert all(p.key.startswith("lead-") for p in fit.frontier)
    assert fit.n_boot == 2000 and fit.n_boot_degenerate == 0


def test_price_halving_time_is_recovered() -> None:
    fit = fit_trend(series(6.0, -1.0, seed=3), "down", "price", n_boot=1000, seed=1)
    assert fit.months_per_factor_2 is not None and fit.months_ci is not None
    lo, hi = fit.months_ci
    assert lo is not None and hi is not None
    print(f"halving {fit.months_per_factor_2:.2f} months, CI {lo:.2f}-{hi:.2f}")
    assert lo <= 6.0 <= hi and hi / lo < 1.5
    assert fit.slope_per_year is not None and fit.slope_per_year < 0


def test_frontier_is_the_running_record_one_per_date() -> None:
    days = np.array([0.0, 0.0, 10.0, 20.0, 30.0])
    values = np.array([1.0, 2.0, 1.5, 3.0, 3.0])
    keys = ["a", "b", "c", "d", "e"]
    assert frontier_indices(days, values, keys, "up") == [1, 3]  # e only ties the record
    assert frontier_indices(days, values, keys, "down") == [0]


def test_interval_crossing_zero_is_unbounded() -> None:
    per_day = math.log(2.0) / DAYS_PER_MONTH  # doubling in one month
    assert months_interval(per_day / 2, per_day, "up") == pytest.approx((1.0, 2.0))
    short, long_ = months_interval(-per_day, per_day, "up")
    assert short == pytest.approx(1.0) and long_ is None
    assert months_interval(-per_day, -per_day / 2, "up") == (None, None)
    assert months_interval(-per_day, -per_day / 2, "down") == pytest.approx((1.0, 2.0))


def test_degenerate_inputs_give_a_status_not_an_error() -> None:
    same_day = [
        TrendPoint(key=k, model=k, date=START, value=v, provenance="published") for k, v in (("a", 1.0), ("b", 2.0))
    ]
    fit = fit_trend(same_day, "up", "density", n_boot=10)
    assert fit.status.startswith("insufficient: fewer than 2") and fit.months_per_factor_2 is None
    assert fit.n_points == 1
    assert fit_trend([], "up", "density").status.startswith("no dated points")
    two = [
        *same_day,
        TrendPoint(key="c", model="c", date=START + dt.timedelta(days=61), value=8.0, provenance="published"),
    ]
    # Issue 15 changed this: two frontier points used to give status ok, a 0.99-month doubling time
    # and a CI; below MIN_FRONTIER_POINTS there is no fit, only the points.
    small = fit_trend(two, "up", "density", n_boot=200, seed=0)
    assert (
        small.status
        == f"insufficient: 2 frontier points on distinct dates (a fit needs at least {MIN_FRONTIER_POINTS})"
    )
    assert small.months_per_factor_2 is None and small.model_dump(mode="json")["months_ci"] is None
    assert [p.key for p in small.frontier] == ["b", "c"] and small.band == []


def test_a_non_finite_point_refuses_the_fit_and_says_which() -> None:
    points = series(3.0, 1.0)
    bad = points[5].model_copy(update={"value": math.nan})
    fit = fit_trend([*points[:5], bad, *points[6:]], "up", "density", n_boot=50)
    assert fit.status == f"refused: 1 point(s) with a non-finite value ({bad.key})"
    assert fit.months_per_factor_2 is None and fit.slope_per_year is None
    assert fit_trend([*points, bad.model_copy(update={"value": math.inf})], "up", "x", n_boot=50).status.startswith(
        "refused"
    )


def test_non_positive_points_are_left_out_and_counted() -> None:
    points = series(3.0, 1.0)
    zero = points[0].model_copy(update={"key": "free", "value": 0.0})
    fit = fit_trend([*points, zero], "up", "x", n_boot=50)
    assert fit.status == "ok" and fit.n_dropped == 1 and "free" not in {p.key for p in fit.points}
    assert fit_trend(points, "up", "x", n_boot=50).n_dropped == 0


def _leaders(n: int, months_per_factor_2: float = 4.0) -> list[TrendPoint]:
    """``n`` points, each a new record: one every two months, every other one 0.1 (ln) above the line."""
    rate = math.log(2.0) / (months_per_factor_2 * DAYS_PER_MONTH)
    days = [round(i * 2 * DAYS_PER_MONTH) for i in range(n)]
    return [
        TrendPoint(key=f"p{i}", model=f"p{i}", date=START + dt.timedelta(days=d),
                   value=math.exp(rate * d + 0.1 * (i % 2)), provenance="published")
        for i, d in enumerate(days)
    ]  # fmt: skip


@pytest.mark.parametrize(("n", "status"), [(2, "insufficient"), (4, "insufficient"), (12, "ok")])
def test_minimum_evidence_two_four_and_twelve_points(n: int, status: str) -> None:
    fit = fit_trend(_leaders(n), "up", "density", n_boot=500, seed=0)
    assert fit.status.split(":")[0] == status and fit.n_points == n
    if status == "ok":
        assert fit.months_ci is not None and fit.months_per_factor_2 == pytest.approx(4.0, rel=0.15)
        assert fit.degenerate_fraction is not None and fit.degenerate_fraction <= 0.02  # ~e^-11 with 12 records
        # the band: one fitted value per date, inside its own interval, spanning the points
        assert fit.band[0].date == fit.points[0].date and fit.band[-1].date == fit.points[-1].date
        assert all(b.low <= b.value <= b.high for b in fit.band) and any(b.low < b.high for b in fit.band)
    else:
        assert f"{n} frontier points" in fit.status and f"at least {MIN_FRONTIER_POINTS}" in fit.status
        assert fit.slope_per_year is None and fit.months_ci is None and fit.band == []
