"""Store methods for kept generation results (``completions``): looked up in chunks, each added in
its own short transaction as soon as the backend returns it, so a killed run keeps every answer
it had. The first result stored under a key stays (a key is an exact request to one model)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from agimeter.store.records import CompletionRecord
from agimeter.store.tables import CompletionRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


class CompletionsMixin:
    _session: sessionmaker[Session]

    def cached_completions(self, cache_keys: Iterable[str]) -> dict[str, CompletionRecord]:
        keys = list(dict.fromkeys(cache_keys))
        found: dict[str, CompletionRecord] = {}
        with self._session() as s:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                for row in s.scalars(select(CompletionRow).where(CompletionRow.cache_key.in_(chunk))):
                    found[row.cache_key] = CompletionRecord.model_validate(
                        {"cache_key": row.cache_key, "run_id": row.run_id, "result": row.record}
                    )
        return found

    def add_completion(self, record: CompletionRecord) -> None:
        with self._session.begin() as s:
            if s.scalar(select(CompletionRow.id).where(CompletionRow.cache_key == record.cache_key)) is None:
                s.add(
                    CompletionRow(
                        cache_key=record.cache_key,
                        schema_version=record.schema_version,
                        run_id=record.run_id,
                        created_at=datetime.now(UTC).replace(tzinfo=None),
                        record=record.result,
                    )
                )
