"""Leaderboard entries computed from the store, cached until the store changes.

Computing entries reads every run's items, so it is done once per store state: the cache is
keyed on a fingerprint that costs three small aggregate queries (runs: count and newest update;
run-item links: count; catalog imports: their sha256), which moves whenever a run is added,
finished or resumed, an item is scored, or a catalog is re-imported.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime

from sqlalchemy import func, select

from agimeter.analysis.entries import ModelEntry, all_entries
from agimeter.store.repository import Store
from agimeter.store.tables import CatalogImportRow, RunItemRow, RunRow

Fingerprint = tuple[int, datetime | None, int, tuple[tuple[str, str], ...]]


def fingerprint(store: Store) -> Fingerprint:
    with store.engine.connect() as conn:
        runs, newest = conn.execute(select(func.count(RunRow.id), func.max(RunRow.updated_at))).one()
        links = conn.execute(select(func.count(RunItemRow.id))).scalar_one()
        catalogs = tuple(conn.execute(select(CatalogImportRow.catalog, CatalogImportRow.sha256)).tuples())
    return int(runs), newest, int(links), tuple(sorted(catalogs))


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def clean(entry: ModelEntry) -> ModelEntry:
    """Drop non-finite numbers (a task without its metric) so JSON and sorting see only real values."""
    return entry.model_copy(
        update={
            "scores": [s for s in entry.scores if math.isfinite(s.value)],
            "dimensions": {d: v for d, v in entry.dimensions.items() if math.isfinite(v)},
            "overall": _finite(entry.overall),
        }
    )


class EntryCache:
    """Thread-safe: request handlers run in a thread pool."""

    def __init__(self, store: Store, usd_per_cny: float | None = None) -> None:
        self.store = store
        self.usd_per_cny = usd_per_cny
        self._lock = threading.Lock()
        self._key: Fingerprint | None = None
        self._entries: list[ModelEntry] = []
        self._by_key: dict[str, ModelEntry] = {}

    def entries(self) -> list[ModelEntry]:
        key = fingerprint(self.store)
        with self._lock:
            if key != self._key:
                computed = [clean(e) for e in all_entries(self.store, usd_per_cny=self.usd_per_cny)]
                self._entries, self._key = computed, key
                self._by_key = {e.key: e for e in computed}
            return self._entries

    def get(self, key: str) -> ModelEntry | None:
        self.entries()
        with self._lock:
            return self._by_key.get(key)

    def invalidate(self) -> None:
        with self._lock:
            self._key = None
