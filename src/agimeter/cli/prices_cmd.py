"""``agimeter prices``: the provider price table (published catalog + config), USD and CNY."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from agimeter.cli.consoles import console
from agimeter.cli.options import ConfigOpt, FormatOpt, UsdPerCnyOpt, check_format
from agimeter.config import config_path, load_file_config, resolve_catalog, resolve_data_dir
from agimeter.cost.prices import price_table, to_usd
from agimeter.errors import ConfigError


def prices(
    provider: Annotated[str | None, typer.Option("--provider", help="Only providers containing this.")] = None,
    usd_per_cny: UsdPerCnyOpt = None,
    catalog: Annotated[str | None, typer.Option("--catalog", help="published.json (or AGIMETER_CATALOG).")] = None,
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Benchmark data dir; its ../catalog is used.")
    ] = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Hosted API prices per 1M tokens (input, output, blended 3:1) with date and source."""
    check_format(output)
    file_config = load_file_config(config)
    rate = usd_per_cny if usd_per_cny is not None else file_config.usd_per_cny
    path = resolve_catalog(catalog, file_config, resolve_data_dir(data_dir, file_config))
    table_rows = price_table(file_config.prices, str(config or config_path()), path)
    if not table_rows:
        raise ConfigError("no prices: give --catalog (or --data-dir next to a catalog/) or add prices: to the config")
    rows = [to_usd(p, rate) for p in table_rows if provider is None or provider.lower() in p.provider.lower()]
    rows.sort(key=lambda r: (r.price.date, r.price.provider, r.price.model))
    if output == "json":
        payload = {"usd_per_cny": rate, "rows": [r.model_dump(mode="json") for r in rows]}
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return
    rate_note = f"1 CNY = {rate} USD" if rate else "no CNY rate set: --usd-per-cny"
    table = Table(title=f"API prices per 1M tokens ({rate_note})", title_justify="left")
    for col in ("date", "provider", "model", "in", "out", "cur", "USD in", "USD out", "USD 3:1"):
        table.add_column(col, justify="right" if col in ("in", "out", "USD in", "USD out", "USD 3:1") else "left")

    def fmt(x: float | None) -> str:
        return f"{x:,.3f}" if x is not None else "-"

    for r in rows:
        p = r.price
        table.add_row(
            p.date, p.provider, p.model, fmt(p.input_per_mtok), fmt(p.output_per_mtok), p.currency,
            fmt(r.usd_input), fmt(r.usd_output), fmt(r.usd_blended_3_1),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(rows)} prices; sources: `--format json` gives each row's source and note")
