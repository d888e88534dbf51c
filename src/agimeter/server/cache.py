"""Leaderboard entries computed from the store, cached until the store changes.

Computing entries reads every run's items, so it is done once per store state: the cache is
keyed on a fingerprint that costs four small aggregate queries (runs: count and newest update;
run-item links: count; catalog imports: their sha256; pins: count and newest), which moves
whenever a run is added, finished or resumed, an item is scored, a catalog is re-imported or a
run is pinned.

Handlers that must not touch the database on every request (health, compare under load) read
the last snapshot with ``peek``: it is at most ``max_age_s`` old, or None when it is older.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from agimeter.analysis.entries import ModelEntry, all_entries, default_policy
from agimeter.analysis.selection import SelectionPolicy
from agimeter.store.repository import Store
from agimeter.store.tables import CatalogImportRow, PinRow, RunItemRow, RunRow

Fingerprint = tuple[int, datetime | None, int, tuple[tuple[str, str], ...], tuple[int, datetime | None, int]]


def fingerprint(store: Store) -> Fingerprint:
    with store.engine.connect() as conn:
        runs, newest = conn.execute(select(func.count(RunRow.id), func.max(RunRow.updated_at))).one()
        links = conn.execute(select(func.count(RunItemRow.id))).scalar_one()
        catalogs = tuple(conn.execute(select(CatalogImportRow.catalog, CatalogImportRow.sha256)).tuples())
        pins, pinned, last_pin = conn.execute(
            select(func.count(PinRow.id), func.max(PinRow.created_at), func.max(PinRow.id))
        ).one()
    return int(runs), newest, int(links), tuple(sorted(catalogs)), (int(pins), pinned, int(last_pin or 0))


@dataclass(frozen=True)
class Snapshot:
    """The entries of one store state; ``checked_at`` (monotonic) is when the state was last confirmed."""

    key: Fingerprint
    entries: list[ModelEntry]
    by_key: dict[str, ModelEntry] = field(repr=False)
    checked_at: float

    @property
    def runs(self) -> int:
        return self.key[0]


class EntryCache:
    """Thread-safe: request handlers run in a thread pool."""

    def __init__(
        self, store: Store, usd_per_cny: float | None = None, min_items: int | None = None, use_pins: bool = True
    ) -> None:
        self.store = store
        self.usd_per_cny = usd_per_cny
        self.min_items = min_items  # None: the per-task default (analysis.selection)
        self.use_pins = use_pins
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._stale = False

    def snapshot(self) -> Snapshot:
        """The entries of the store as it is now (three small queries; a recomputation if it changed)."""
        key = fingerprint(self.store)
        with self._lock:
            current = self._snapshot
            if current is None or self._stale or key != current.key:
                policy = default_policy(self.store, self.min_items)
                if not self.use_pins:
                    policy = SelectionPolicy(min_items=self.min_items)
                computed = all_entries(self.store, usd_per_cny=self.usd_per_cny, policy=policy)
                current = Snapshot(key, computed, {e.key: e for e in computed}, time.monotonic())
                self._stale = False
            else:
                current = Snapshot(current.key, current.entries, current.by_key, time.monotonic())
            self._snapshot = current
            return current

    def peek(self, max_age_s: float) -> Snapshot | None:
        """The last snapshot if it was confirmed less than ``max_age_s`` ago and not invalidated; no I/O."""
        current = self._snapshot
        if current is None or self._stale or time.monotonic() - current.checked_at >= max_age_s:
            return None
        return current

    def last(self) -> Snapshot | None:
        """The last snapshot, however old (None before the first); no I/O."""
        return self._snapshot

    def entries(self) -> list[ModelEntry]:
        return self.snapshot().entries

    def get(self, key: str) -> ModelEntry | None:
        return self.snapshot().by_key.get(key)

    def invalidate(self) -> None:
        with self._lock:
            self._stale = True
