"""``show``'s cost per solved item: tokens and $ per correct item per task and overall, and a hosted
price of the same family on the same tokens (labelled as a comparison of different things)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from agimeter.analysis.price_links import PricePoint, price_points
from agimeter.analysis.runs import run_cost, run_measurement, run_scores
from agimeter.analysis.side_by_side import hub_id
from agimeter.analysis.solved import HOSTED_CAVEAT, HostedComparison, SolvedCost, hosted_comparison, solved_costs
from agimeter.config import load_file_config, resolve_catalog, resolve_data_dir
from agimeter.store.published import load_catalog
from agimeter.store.published_repo import PublishedSet
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store


def catalog_prices(store: Store, config: Path | None) -> list[PricePoint]:
    """Dated prices from the imported catalog, else from the one the config or data dir names."""
    file_config = load_file_config(config)
    published = store.published()
    if not published.imports:
        path = resolve_catalog(None, file_config, resolve_data_dir(None, file_config))
        if path is None or not path.exists():
            return []
        parsed, sha = load_catalog(path)
        published = PublishedSet.from_catalog(parsed, sha, path, "published")
    return price_points(published, file_config.usd_per_cny)


def run_solved(
    store: Store, run: RunRecord, prices: list[PricePoint]
) -> tuple[list[SolvedCost], list[HostedComparison]]:
    measurement = run_measurement(run)
    cost = run_cost(run, measurement) if measurement is not None else None
    reused = measurement.items_cached if measurement is not None else 0
    rows = solved_costs(run_scores(store, run), cost, run.id, reused)
    return rows, hosted_comparison(rows, hub_id(run.model) or run.model, prices)


def _usd(x: float | None) -> str:
    return f"${x:.6f}" if x is not None else "n/a"


def solved_table(rows: list[SolvedCost], hosted: list[HostedComparison]) -> Table:
    caption = rows[-1].basis if rows else ""
    if hosted:
        price = hosted[0].price
        caption += f"\nhosted: {price.provider} {price.model} ({price.date}; {price.source}), {HOSTED_CAVEAT}"
    table = Table(
        title="cost per solved item (correct = the sum of each task's primary metric)",
        title_justify="left",
        caption=caption,
        caption_justify="left",
    )
    for col in ("task", "correct / n", "tokens per correct (lm-eval / computed)", "$", "$ per correct"):
        table.add_column(col, justify="left" if col == "task" else "right")
    if hosted:
        table.add_column("hosted $ per correct (different things)", justify="right")
    by_task = {h.task: h for h in hosted}
    for r in rows:
        per = _usd(r.usd_per_correct) if r.status == "ok" else r.status
        tokens = (
            f"{r.tokens_per_correct:,.0f} / {r.computed_tokens_per_correct:,.0f}"
            if r.tokens_per_correct is not None and r.computed_tokens_per_correct is not None
            else "none correct"
        )
        cells = [r.task, f"{r.correct:g} / {r.n}", tokens, _usd(r.usd), per]
        if hosted:
            h = by_task.get(r.task)
            cells.append(_usd(h.usd_per_correct) if h is not None and h.status == "ok" else "none correct")
        table.add_row(*cells, style="bold" if r.task == "overall" else "")
    return table
