"""The Qwen price claim against a catalog: a one-year change with a CI when the evidence allows,
``insufficient`` with what is missing when it does not."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

from agimeter.analysis.price_claim import QWEN_CLAIM, cheapest_at, family_prices, price_claim_report
from agimeter.analysis.trends import MIN_FRONTIER_POINTS
from agimeter.store.published import load_catalog
from agimeter.store.published_repo import PublishedSet
from agimeter.testing.catalog import write_catalog

DASHSCOPE = "Alibaba Cloud (DashScope)"


def _price(model: str, date: dt.date, value: float, *, secondary: bool = True, **fields: Any) -> dict[str, Any]:
    return {
        "provider": DASHSCOPE, "model": model, "date": date.isoformat(), "currency": "CNY",
        "input_per_mtok": value, "output_per_mtok": value * 3, "source": "S1",
        "note": "secondary source (a news report)" if secondary else "the provider's price page", **fields,
    }  # fmt: skip


def _published(tmp_path: Path, prices: list[dict[str, Any]]) -> PublishedSet:
    data = {"schema_version": 1, "models": [], "prices": prices, "laws": [],
            "sources": {"S1": {"title": "A source", "url": "https://example.org/p", "date": "2024-01-01"}}}  # fmt: skip
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_catalog(tmp_path, data)
    parsed, sha = load_catalog(path)
    return PublishedSet.from_catalog(parsed, sha, path, "test")


def _monthly(n: int, yearly_fall: float, end: dt.date = QWEN_CLAIM.date) -> list[dict[str, Any]]:
    """``n`` monthly cuts of one offering, ending at ``end``, falling ``yearly_fall`` a year."""
    rate = math.log(1 - yearly_fall) / 365.25
    out = []
    for i in range(n):
        day = end - dt.timedelta(days=round(30.4 * (n - 1 - i)))
        out.append(_price("qwen-turbo", day, 20.0 * math.exp(rate * (day - end).days)))
    return out


def test_twelve_dated_prices_give_a_one_year_fall_with_a_ci(tmp_path: Path) -> None:
    published = _published(tmp_path, _monthly(12, 0.97))
    report = price_claim_report(published, n_boot=500)
    main = report.rows[0]
    assert report.status == "ok" and main.fit.status == "ok" and main.points == 12
    assert main.fall == pytest.approx(0.97, abs=1e-6) and main.fall_ci is not None
    assert main.fall_ci[0] <= 0.97 <= main.fall_ci[1] and "lies inside" in main.verdict
    assert report.summary.startswith(f'"{QWEN_CLAIM.text}"')
    slower = price_claim_report(_published(tmp_path / "slow", _monthly(12, 0.5)), n_boot=300).rows[0]
    assert slower.fall == pytest.approx(0.5, abs=1e-6) and "lies outside" in slower.verdict


@pytest.mark.parametrize("n", [2, 4])
def test_too_few_frontier_points_are_insufficient_and_say_what_is_missing(tmp_path: Path, n: int) -> None:
    report = price_claim_report(_published(tmp_path, _monthly(n, 0.97)), n_boot=200)
    main = report.rows[0]
    assert report.status == "insufficient" and main.fall is None and main.fall_ci is None
    assert main.verdict.startswith(f"insufficient: {n} frontier point(s)")
    assert f"a CI needs {MIN_FRONTIER_POINTS}" in main.verdict and "Missing: more dated list prices" in main.verdict


def test_which_prices_count_and_the_sensitivity_rows(tmp_path: Path) -> None:
    prices = [
        *_monthly(6, 0.9),
        _price("qwen-vl-max", QWEN_CLAIM.date, 0.01),  # a vision model: not what the claim covers
        {**_price("qwen-max", QWEN_CLAIM.date, 0.01), "currency": "USD"},  # another currency
        {**_price("qwen-max", QWEN_CLAIM.date, 0.01), "provider": "Alibaba Cloud Model Studio (International)"},
        _price("glm-4", QWEN_CLAIM.date, 0.01),  # another family
        _price("qwen-long", QWEN_CLAIM.date - dt.timedelta(days=10), 5.0, secondary=False),
    ]
    published = _published(tmp_path, prices)
    kept = family_prices(published, QWEN_CLAIM)
    assert {f.model for f in kept} == {"qwen-turbo", "qwen-long"} and len(kept) == 7
    assert [f.secondary for f in kept if f.model == "qwen-long"] == [False]
    report = price_claim_report(published, n_boot=200)
    labels = [r.label for r in report.rows]
    assert labels[0].startswith("primary and secondary") and labels[1].startswith("primary sources only")
    assert report.rows[1].points == 1 and report.rows[1].verdict.startswith("insufficient")
    assert cheapest_at(kept, QWEN_CLAIM.date) is not None


def test_the_real_catalog_and_the_cli(tmp_path: Path, agimeter: Any, published_catalog: Path) -> None:
    parsed, sha = load_catalog(published_catalog)
    report = price_claim_report(PublishedSet.from_catalog(parsed, sha, published_catalog, "published"), n_boot=300)
    main = report.rows[0]
    print("\n" + report.summary)
    for line in report.observed:
        print(" ", line)
    # the status follows from the evidence the code found, whatever the catalog holds
    assert (report.status == "ok") == (len(main.fit.frontier) >= MIN_FRONTIER_POINTS)
    assert all(f.date <= QWEN_CLAIM.date for f in main.fit.points)
    args = ["--n-boot", "300", "--catalog", str(published_catalog), "--store", f"sqlite:///{tmp_path}/s.db"]
    res = agimeter("trends", "--what", "price", "--family", "Qwen", *args, "--format", "json")
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["claim"]["text"] == QWEN_CLAIM.text and payload["status"] == report.status
    table = agimeter("trends", "--what", "price", "--family", "Qwen", *args)
    assert QWEN_CLAIM.text in table.stdout and f"status: {report.status}" in table.stdout
    unknown = agimeter("trends", "--what", "price", "--family", "Llama", "--store", f"sqlite:///{tmp_path}/s.db")
    assert unknown.returncode == 2 and "no published price claim" in unknown.stderr
