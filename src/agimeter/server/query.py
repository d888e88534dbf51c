"""Filtering and sorting leaderboard entries: one implementation for the JSON API and the pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import get_args

from agimeter.analysis.entries import ModelEntry
from agimeter.analysis.pareto import unloaded_point
from agimeter.analysis.ranking import group_key
from agimeter.server.schemas import FixedColumn, SortColumn, SortOrder
from agimeter.tasks.dimensions import DIMENSIONS as DIMENSIONS  # the pages import it from here

FIXED_COLUMNS: tuple[str, ...] = get_args(FixedColumn)
TEXT_COLUMNS = ("model", "provenance", "backend", "hardware")

SortValue = float | str | dt.date


@dataclass(frozen=True)
class EntryQuery:
    provenance: str | None = None
    backend: str | None = None
    hardware: str | None = None
    dimension: str | None = None
    q: str | None = None
    sort: SortColumn | None = None
    order: SortOrder | None = None

    @property
    def sort_column(self) -> str:
        return self.sort or self.dimension or "overall"

    @property
    def sort_order(self) -> SortOrder:
        if self.order is not None:
            return self.order
        return "asc" if self.sort_column in (*TEXT_COLUMNS, "cost", "ttft", "memory") else "desc"


def ttft_p50(entry: ModelEntry) -> float | None:
    """TTFT p50 (ms) at the lowest-load sweep point: the latency a lone user sees."""
    point = unloaded_point(entry)
    return point.ttft.p50 if point is not None and point.ttft is not None else None


def _getter(column: str) -> Callable[[ModelEntry], SortValue | None]:
    getters: dict[str, Callable[[ModelEntry], SortValue | None]] = {
        "model": lambda e: e.model.lower(),
        "provenance": lambda e: e.provenance,
        "params": lambda e: e.params_b,
        "overall": lambda e: e.overall,
        "cost": lambda e: e.cost.usd_per_1m_blended if e.cost else None,
        "ttft": ttft_p50,
        "memory": lambda e: e.memory_gb,
        "backend": lambda e: e.backend.lower() if e.backend else None,
        "hardware": lambda e: e.hardware.lower() if e.hardware else None,
        "released": lambda e: e.released,
    }
    return getters.get(column) or (lambda e: e.dimensions.get(column))


def sort_value(entry: ModelEntry, column: str) -> SortValue | None:
    return _getter(column)(entry)


def _matches(entry: ModelEntry, query: EntryQuery) -> bool:
    if query.provenance and entry.provenance != query.provenance:
        return False
    if query.backend and (entry.backend or "").lower() != query.backend.lower():
        return False
    if query.hardware and query.hardware.lower() not in (entry.hardware or "").lower():
        return False
    if query.dimension and query.dimension not in entry.dimensions:
        return False
    if query.q:
        needle = query.q.lower()
        haystack = " ".join(filter(None, (entry.model, entry.family, entry.organization))).lower()
        if needle not in haystack:
            return False
    return True


def select_entries(entries: Sequence[ModelEntry], query: EntryQuery) -> list[ModelEntry]:
    """Filtered, then sorted by the query's column; entries without a value always come last.
    By ``overall`` the order is a ranking, so it is one within each coverage group (the same
    dimensions behind the index), widest coverage first (``analysis.ranking``)."""
    chosen = sorted((e for e in entries if _matches(e, query)), key=lambda e: (e.model.lower(), e.key))
    getter = _getter(query.sort_column)
    present = [e for e in chosen if getter(e) is not None]
    missing = [e for e in chosen if getter(e) is None]
    present.sort(key=lambda e: _comparable(getter(e)), reverse=query.sort_order == "desc")
    if query.sort_column == "overall":
        present.sort(key=group_key)  # stable: the order within each group stays
    return present + missing


def _comparable(value: SortValue | None) -> tuple[float, str]:
    """Numbers, dates and text in one key type (a column holds only one kind)."""
    if isinstance(value, dt.date):
        return float(value.toordinal()), ""
    if isinstance(value, str):
        return 0.0, value
    return float(value or 0.0), ""


def facets(entries: Sequence[ModelEntry]) -> dict[str, list[str]]:
    """The values the filter form offers."""
    return {
        "backend": sorted({e.backend for e in entries if e.backend}),
        "hardware": sorted({e.hardware for e in entries if e.hardware}),
        "dimension": [d for d in DIMENSIONS if any(d in e.dimensions for e in entries)],
    }
