"""Provider price table for hosted APIs: per 1M input/output tokens, currency, date and source.

Prices come from the published catalog (``published.json``, each row citing its source) and from
the user's config file (``prices:``). Currencies are never converted silently: converting CNY to
USD needs an explicit exchange rate (``--usd-per-cny`` / ``usd_per_cny:`` in the config); without
one the USD columns stay empty. The blended price weights input:output 3:1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agimeter.errors import ConfigError, first_problem
from agimeter.records.prices import PriceRow, ProviderPrice


def load_catalog_prices(path: Path) -> list[ProviderPrice]:
    """Prices from a published catalog, each with its source's title and URL."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: price catalog not found (set --catalog or AGIMETER_CATALOG)") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: line {err.lineno}: invalid JSON: {err.msg}") from None
    sources: dict[str, Any] = data.get("sources", {})
    prices = []
    for i, row in enumerate(data.get("prices", [])):
        source = sources.get(row.get("source"), {})
        cited = f"{source.get('title', row.get('source'))} <{source.get('url', '')}>".strip()
        prices.append(_validate({**row, "source": cited, "note": row.get("note") or ""}, f"{path}: prices[{i}]"))
    return prices


def config_prices(rows: list[dict[str, Any]], where: str) -> list[ProviderPrice]:
    return [_validate(row, f"{where}: prices[{i}]") for i, row in enumerate(rows)]


def _validate(row: dict[str, Any], where: str) -> ProviderPrice:
    try:
        return ProviderPrice.model_validate(row)
    except ValidationError as err:
        field, message = first_problem(err)
        raise ConfigError(f"{where}.{field}: {message}") from None


def to_usd(price: ProviderPrice, usd_per_cny: float | None) -> PriceRow:
    rate = 1.0 if price.currency == "USD" else usd_per_cny
    usd_in = price.input_per_mtok * rate if rate is not None and price.input_per_mtok is not None else None
    usd_out = price.output_per_mtok * rate if rate is not None and price.output_per_mtok is not None else None
    blended = (3 * usd_in + usd_out) / 4 if usd_in is not None and usd_out is not None else None
    return PriceRow(price=price, usd_input=usd_in, usd_output=usd_out, usd_blended_3_1=blended)


def price_table(config_rows: list[dict[str, Any]], config_where: str, catalog: Path | None) -> list[ProviderPrice]:
    """The user's prices first, then the published catalog's."""
    rows = config_prices(config_rows, config_where)
    if catalog is not None:
        rows += load_catalog_prices(catalog)
    return rows


def find_price(table: list[ProviderPrice], query: str, usd_per_cny: float | None) -> PriceRow:
    """The newest price whose ``model`` or ``provider/model`` is ``query`` (case-insensitive),
    in USD; a CNY price needs an explicit rate. Points that give both an input and an output price
    come first: a newer point with only one of them (a secondary source that lists one rate) would
    otherwise price the other kind of token at a guessed rate."""
    wanted = query.strip().lower()
    hits = [p for p in table if wanted in (p.model.lower(), f"{p.provider}/{p.model}".lower())]
    if not hits:
        near = sorted({f"{p.provider}/{p.model}" for p in table if wanted.split("/")[-1][:4] in p.model.lower()})
        hint = f"; similar: {', '.join(near[:6])}" if near else "; see `agimeter prices`"
        raise ConfigError(f"--api-price {query!r}: no such model in the price table{hint}")
    price = max(hits, key=lambda p: (p.input_per_mtok is not None and p.output_per_mtok is not None, p.date))
    row = to_usd(price, usd_per_cny)
    if row.usd_input is None and price.input_per_mtok is not None:
        raise ConfigError(f"--api-price {query!r} is priced in {price.currency}: give --usd-per-cny (or usd_per_cny:)")
    return row
