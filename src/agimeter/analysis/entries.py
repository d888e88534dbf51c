"""Leaderboard entries: one row per model, measured by agimeter or published by its makers.

The records live in ``entry_model``; measured entries are built in ``measured`` (which run stands
for each task: ``selection``), published ones in ``published_entries``. This module puts them
together for the reports, the leaderboard and the density/Pareto/trend analyses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agimeter.analysis.entry_model import (
    ENTRY_SCHEMA_VERSION,
    BenchScore,
    CostInfo,
    CostKind,
    LatencyPoint,
    ModelEntry,
    Provenance,
    measured_key,
    slug,
)
from agimeter.analysis.measured import CheckedRun, default_policy, measured_entries, usable_runs
from agimeter.analysis.price_links import PricePoint, price_points
from agimeter.analysis.published_entries import published_entries
from agimeter.analysis.ranking import with_ranks
from agimeter.analysis.selection import SelectionPolicy
from agimeter.analysis.solved import hosted_comparison
from agimeter.store.published import load_catalog
from agimeter.store.published_repo import PublishedSet
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store

__all__ = [
    "ENTRY_SCHEMA_VERSION",
    "BenchScore",
    "CheckedRun",
    "CostInfo",
    "CostKind",
    "LatencyPoint",
    "ModelEntry",
    "Provenance",
    "SelectionPolicy",
    "all_entries",
    "default_policy",
    "entries_from",
    "load_entries",
    "measured_entries",
    "measured_key",
    "published_entries",
    "slug",
    "usable_runs",
]


def all_entries(
    store: Store,
    runs: Sequence[RunRecord] | None = None,
    usd_per_cny: float | None = None,
    policy: SelectionPolicy | None = None,
) -> list[ModelEntry]:
    """Measured entries, then the imported catalog's models, then the model cards of the aliases."""
    return load_entries(store, runs, usd_per_cny=usd_per_cny, policy=policy)[0]


def load_entries(
    store: Store,
    runs: Sequence[RunRecord] | None = None,
    catalog: Path | None = None,
    usd_per_cny: float | None = None,
    policy: SelectionPolicy | None = None,
) -> tuple[list[ModelEntry], list[PricePoint]]:
    """Entries and dated prices for the analyses. Published numbers come from the store's imported
    catalogs; when none is imported, ``catalog`` is read directly (the store is not written)."""
    published = store.published()
    if not published.imports and catalog is not None:
        parsed, sha = load_catalog(catalog)
        published = PublishedSet.from_catalog(parsed, sha, catalog, "published")
    return entries_from(store, runs, published, usd_per_cny, policy=policy), price_points(published, usd_per_cny)


def entries_from(
    store: Store,
    runs: Sequence[RunRecord] | None,
    published: PublishedSet,
    usd_per_cny: float | None = None,
    model_cards: bool = True,
    policy: SelectionPolicy | None = None,
) -> list[ModelEntry]:
    """Measured entries of ``runs`` (default: all), then ``published``'s models, then (unless
    ``model_cards`` is off) the aliases' model cards; measured ones dated by their checkpoint."""
    from agimeter.analysis.side_by_side import alias_card_entries, with_release_dates  # built on these records

    cards = alias_card_entries() if model_cards else []
    measured = measured_entries(store, runs, policy)
    dated = with_release_dates(measured + published_entries(published, usd_per_cny) + cards)
    return with_ranks(with_hosted_prices(dated, price_points(published, usd_per_cny)))


def with_hosted_prices(entries: Sequence[ModelEntry], prices: Sequence[PricePoint]) -> list[ModelEntry]:
    """Measured entries with a hosted price of their family on their tokens (``solved.hosted_comparison``)."""
    from agimeter.analysis.side_by_side import hub_id

    out = []
    for e in entries:
        if e.provenance == "measured" and e.solved:
            family = e.family or hub_id(e.model) or ""
            e = e.model_copy(update={"hosted": hosted_comparison(e.solved, family, prices)})
        out.append(e)
    return out
