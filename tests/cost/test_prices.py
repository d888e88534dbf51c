"""Provider price table: the published catalog, config prices, explicit CNY->USD conversion."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.cost.prices import ProviderPrice, config_prices, find_price, load_catalog_prices, to_usd
from agimeter.errors import ConfigError

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_catalog_prices_cite_their_sources(published_catalog: Path) -> None:
    prices = load_catalog_prices(published_catalog)
    raw = json.loads(published_catalog.read_text())["prices"]
    assert len(prices) == len(raw) > 0
    assert {p.currency for p in prices} == {"USD", "CNY"}
    assert all("<http" in p.source for p in prices)


def test_conversion_needs_an_explicit_rate() -> None:
    cny = ProviderPrice(provider="X", model="m", date="2024-05-22", currency="CNY", input_per_mtok=4.0,
                        output_per_mtok=12.0, source="s")  # fmt: skip
    assert to_usd(cny, None).usd_input is None
    row = to_usd(cny, 0.14)
    assert row.usd_input == pytest.approx(0.56) and row.usd_output == pytest.approx(1.68)
    assert row.usd_blended_3_1 == pytest.approx((3 * 0.56 + 1.68) / 4)
    usd = cny.model_copy(update={"currency": "USD"})
    assert to_usd(usd, None).usd_output == 12.0


def test_find_price_prefers_the_newest_complete_price_point() -> None:
    def point(date: str, output: float | None) -> ProviderPrice:
        return ProviderPrice(provider="P", model="m", date=date, currency="USD", input_per_mtok=1.0,
                             output_per_mtok=output, source=f"s-{date}")  # fmt: skip

    table = [point("2024-01-01", 3.0), point("2025-06-01", None), point("2024-06-01", 2.0)]
    # the 2025 point gives no output price: the newest point with both prices is chosen
    assert find_price(table, "P/m", None).price.date == "2024-06-01"
    assert find_price([point("2025-06-01", None)], "m", None).price.date == "2025-06-01"  # the only one


def test_bad_config_price_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"cfg.yaml: prices\[1\]\.currency"):
        config_prices(
            [
                {"provider": "a", "model": "b", "date": "2025-01-01", "currency": "USD", "source": "me"},
                {"provider": "a", "model": "b", "date": "2025-01-01", "currency": "EUR", "source": "me"},
            ],
            "cfg.yaml",
        )


def test_prices_cli(agimeter: Cli, tmp_path: Path, published_catalog: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "usd_per_cny: 0.14\nprices:\n  - {provider: MyCloud, model: qwen2.5-7b, date: 2025-06-01, "
        "currency: CNY, input_per_mtok: 1.0, output_per_mtok: 2.0, source: my contract}\n"
    )
    res = agimeter("prices", "--config", str(cfg), "--catalog", str(published_catalog), "--format", "json")
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["usd_per_cny"] == 0.14
    mine = [r for r in payload["rows"] if r["price"]["provider"] == "MyCloud"]
    assert mine and mine[0]["usd_input"] == pytest.approx(0.14)
    assert all(r["usd_input"] is not None for r in payload["rows"] if r["price"]["input_per_mtok"] is not None)
    bad = agimeter("prices", "--catalog", str(tmp_path / "nope.json"))
    assert bad.returncode != 0 and "price catalog not found" in bad.stderr
