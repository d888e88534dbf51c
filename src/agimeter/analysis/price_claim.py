"""A family's API price over time, and a published price claim tested against the catalog.

The claim that started agimeter: "Qwen API price fell 97% in a year; the lowest is RMB 0.5 per
1M tokens" (Alibaba Cloud, Apsara conference, 2024-09-19).

Estimator (stated in the README): the points are the catalog's mainland list prices of the
family's text models (``ClaimSpec``: provider, currency, model-name prefix; vision models left
out), in the claim's currency (no conversion) and on the claim's basis (input price per 1M
tokens). The running minimum over dates is the cheapest qualifying offering seen so far; ln price
is fitted against time on it (``trends.fit_trend``, direction down), over the year that ends on
the claim's date. The one-year ratio is exp(A · 365.25 days), the fall 1 − ratio, and their 95%
CI comes from the bootstrap of the fit (points resampled, frontier recomputed). Below
``MIN_FRONTIER_POINTS`` frontier points there is no CI: the status is ``insufficient`` and says
what evidence is missing. Sensitivity rows: primary sources only (the catalog marks every
secondary source in its note), and all dates instead of the claim's year.

Observations without a CI are listed too: the cheapest offering at the window's start and at the
claim's date (each offering's latest price by then), the largest cut of one offering inside the
window, the lowest price by the claim's date, and lower prices dated after it (a tracker's
commit date, not the day a price took effect).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.trends import DAYS_PER_YEAR, MIN_FRONTIER_POINTS, TrendFit, TrendPoint, fit_trend
from agimeter.store.published_repo import PublishedSet


class ClaimSpec(BaseModel):
    """A quoted price claim and which catalog prices can test it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str  # the leading word of the products' names, lower-case ("qwen")
    text: str
    who: str
    date: dt.date
    fall: float  # the claimed fall over ``window_days`` (0.97 = 97 %)
    lowest: float  # the claimed lowest price per 1M tokens, in ``currency``
    currency: Literal["USD", "CNY"]
    provider_prefix: str  # whose list prices (the mainland site, not a reseller or another region)
    excluded: tuple[str, ...] = ()  # name parts of products the claim does not cover
    window_days: int = 365
    basis: str = "input price per 1M tokens"


QWEN_CLAIM = ClaimSpec(
    family="qwen",
    text="Qwen API price fell 97% in a year; the lowest is RMB 0.5 per 1M tokens",
    who="Alibaba Cloud, Apsara conference",
    date=dt.date(2024, 9, 19),
    fall=0.97,
    lowest=0.5,
    currency="CNY",
    provider_prefix="Alibaba Cloud (DashScope)",
    excluded=("-vl",),
)
CLAIMS: dict[str, ClaimSpec] = {QWEN_CLAIM.family: QWEN_CLAIM}


class FamilyPrice(BaseModel):
    """One catalog price of the family, in its own currency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    provider: str
    model: str
    price: float  # on the claim's basis (input per 1M tokens), in the claim's currency
    secondary: bool  # the catalog's note marks the source as secondary
    source: str

    @property
    def key(self) -> str:
        return f"{self.model}@{self.date.isoformat()}@{self.source[:24]}"


class ClaimRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    window: tuple[dt.date, dt.date]
    points: int
    fit: TrendFit
    one_year_ratio: float | None = None  # price a year later / price now, on the fitted line
    one_year_ratio_ci: tuple[float, float] | None = None
    fall: float | None = None  # 1 - one_year_ratio
    fall_ci: tuple[float, float] | None = None
    verdict: str


class PriceClaimReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: ClaimSpec
    estimator: str
    rows: list[ClaimRow]
    observed: list[str]  # what the catalog shows without a CI, in words
    status: Literal["ok", "insufficient"]  # of the main row (primary + secondary, the claim's year)
    summary: str


def family_prices(published: PublishedSet, spec: ClaimSpec) -> list[FamilyPrice]:
    """The catalog's prices that can test ``spec``: its provider, currency and family, with a price."""
    out = []
    for catalog, p in published.prices:
        name = p.model.lower()
        if not (p.provider.startswith(spec.provider_prefix) and p.currency == spec.currency):
            continue
        if not name.startswith(spec.family) or any(x in name for x in spec.excluded) or p.input_per_mtok is None:
            continue
        out.append(
            FamilyPrice(
                date=p.date,
                provider=p.provider,
                model=p.model,
                price=p.input_per_mtok,
                secondary="secondary" in p.note.lower(),
                source=published.cite(catalog, p.source).text(),
            )
        )
    return sorted(out, key=lambda f: (f.date, f.price, f.model))


def _fit(prices: Sequence[FamilyPrice], spec: ClaimSpec, label: str, n_boot: int, seed: int) -> TrendFit:
    points = [
        TrendPoint(
            key=f.key,
            model=f.model,
            date=f.date,
            value=f.price,
            provenance="published",
            label=f"{f.provider} {f.model}{' (secondary)' if f.secondary else ''}: {f.source.split(' <')[0][:60]}",
        )
        for f in prices
    ]
    what = f"cheapest {spec.family} {spec.basis} ({spec.currency}), {label}"
    return fit_trend(points, "down", what, n_boot=n_boot, seed=seed)


def _row(
    prices: Sequence[FamilyPrice], spec: ClaimSpec, label: str, window: tuple[dt.date, dt.date], n_boot: int, seed: int
) -> ClaimRow:
    inside = [f for f in prices if window[0] <= f.date <= window[1]]
    fit = _fit(inside, spec, label, n_boot, seed)
    if fit.status != "ok" or fit.slope_per_year is None:
        dates = ", ".join(p.date.isoformat() for p in fit.frontier) or "none"
        primary = sum(not f.secondary for f in inside)
        missing = (
            f"{len(fit.frontier)} frontier point(s) ({dates}) among {len(inside)} prices; a CI needs "
            f"{MIN_FRONTIER_POINTS}. Missing: more dated list prices of {spec.family} text models in "
            f"{window[0]:%Y-%m}..{window[1]:%Y-%m} (each offering before and after each cut, with the day it "
            f"took effect), ideally from the provider's own pages ({primary} of these prices are primary)"
        )
        return ClaimRow(label=label, window=window, points=len(inside), fit=fit, verdict=f"insufficient: {missing}")
    ratio = math.exp(fit.slope_per_year)
    ci = fit.slope_ci_per_year
    ratio_ci = (math.exp(ci[0]), math.exp(ci[1])) if ci else None
    fall_ci = (1 - ratio_ci[1], 1 - ratio_ci[0]) if ratio_ci else None
    if fall_ci is None:
        verdict = f"fall {1 - ratio:.1%} a year, no CI"
    else:
        inside_ci = fall_ci[0] <= spec.fall <= fall_ci[1]
        verdict = (
            f"fall {1 - ratio:.1%} a year [{fall_ci[0]:.1%}, {fall_ci[1]:.1%}]: the claimed {spec.fall:.0%} "
            f"{'lies inside' if inside_ci else 'lies outside'} the 95% CI"
        )
    return ClaimRow(
        label=label,
        window=window,
        points=len(inside),
        fit=fit,
        one_year_ratio=ratio,
        one_year_ratio_ci=ratio_ci,
        fall=1 - ratio,
        fall_ci=fall_ci,
        verdict=verdict,
    )


def cheapest_at(prices: Sequence[FamilyPrice], day: dt.date) -> FamilyPrice | None:
    """The cheapest offering as of ``day``: each offering's latest price by then, the lowest of them."""
    latest: dict[str, FamilyPrice] = {}
    for f in prices:  # sorted by date
        if f.date <= day:
            latest[f.model] = f
    return min(latest.values(), key=lambda f: (f.price, f.model)) if latest else None


def _largest_cut(prices: Sequence[FamilyPrice]) -> tuple[FamilyPrice, FamilyPrice] | None:
    """The largest fall of one offering between two of its prices (earlier, later)."""
    by_model: dict[str, list[FamilyPrice]] = defaultdict(list)
    for f in prices:
        by_model[f.model].append(f)
    best: tuple[float, FamilyPrice, FamilyPrice] | None = None
    for seq in by_model.values():
        for i, a in enumerate(seq):
            for b in seq[i + 1 :]:
                if b.date > a.date and a.price > 0 and (best is None or 1 - b.price / a.price > best[0]):
                    best = (1 - b.price / a.price, a, b)
    return (best[1], best[2]) if best else None


def _observed(prices: Sequence[FamilyPrice], spec: ClaimSpec, window: tuple[dt.date, dt.date]) -> list[str]:
    unit = f"{spec.currency} per 1M ({spec.basis})"
    out = []
    start, end = cheapest_at(prices, window[0]), cheapest_at(prices, window[1])
    if start is not None and end is not None:
        out.append(
            f"cheapest offering at {window[0]}: {start.model} {start.price:g} ({start.date}); at {window[1]}: "
            f"{end.model} {end.price:g} ({end.date}); change {end.price / start.price - 1:+.1%} (two points, no CI)"
        )
    inside = [f for f in prices if window[0] <= f.date <= window[1]]
    cut = _largest_cut(inside)
    if cut is not None:
        a, b = cut
        out.append(
            f"largest cut of one offering in the window: {a.model} {a.price:g} ({a.date}) -> {b.price:g} ({b.date}), "
            f"{b.price / a.price - 1:+.1%}, sources: {a.source.split(' <')[0][:50]}; {b.source.split(' <')[0][:50]}"
        )
    if end is not None:
        verdict = "as claimed" if math.isclose(end.price, spec.lowest) else f"the claim says {spec.lowest:g}"
        out.append(f"lowest {unit} by {window[1]}: {end.price:g} ({end.model}, {end.date}): {verdict}")
        later = {f.model: f for f in reversed(prices) if f.date > window[1] and f.price < end.price}  # earliest each
        for f in sorted(later.values(), key=lambda f: (f.date, f.price))[:3]:
            out.append(
                f"lower price dated after the claim: {f.model} {f.price:g} ({f.date}, a source dated by its commit; "
                "the catalog does not say when it took effect)"
            )
    return out


def price_claim_report(
    published: PublishedSet, spec: ClaimSpec = QWEN_CLAIM, n_boot: int = 2000, seed: int = 0
) -> PriceClaimReport:
    """The claim next to the catalog's evidence: a fitted one-year change with its CI per row, or
    ``insufficient`` with what is missing."""
    prices = family_prices(published, spec)
    window = (spec.date - dt.timedelta(days=spec.window_days), spec.date)
    everything = (prices[0].date, prices[-1].date) if prices else window
    primary = [f for f in prices if not f.secondary]
    rows = [
        _row(prices, spec, "primary and secondary sources, the year to the claim", window, n_boot, seed),
        _row(primary, spec, "primary sources only, the year to the claim", window, n_boot, seed),
        _row(prices, spec, "primary and secondary sources, every date in the catalog", everything, n_boot, seed),
    ]
    main = rows[0]
    status: Literal["ok", "insufficient"] = "ok" if main.fit.status == "ok" else "insufficient"
    summary = f'"{spec.text}" ({spec.who}, {spec.date}): {main.verdict}'
    estimator = (
        f"{spec.provider_prefix} list prices of {spec.family} text models in {spec.currency} ({spec.basis}; "
        f"{', '.join(spec.excluded) or 'no'} models left out); running minimum over dates = the cheapest offering "
        f"so far; ln price fitted against time on it over {window[0]}..{window[1]}; one-year ratio = "
        f"exp(A x {DAYS_PER_YEAR} days), 95% CI from {n_boot} bootstrap resamples of the points; "
        f"no CI below {MIN_FRONTIER_POINTS} frontier points"
    )
    return PriceClaimReport(
        claim=spec,
        estimator=estimator,
        rows=rows,
        observed=_observed(prices, spec, window),
        status=status,
        summary=summary,
    )
