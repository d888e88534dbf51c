"""The store: SQLite by default, any SQLAlchemy URL (e.g. PostgreSQL) by ``--store``.

Every item is committed in its own short transaction as soon as it is scored, so a killed run
loses at most the item in flight, and never leaves half an item behind. The same transaction
carries the session's clock and checks its lease (``SessionTick``): a run's measurement is derived
from what is committed, never from a checkpoint that a kill can outdate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, create_engine, event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from agimeter.errors import StoreError
from agimeter.store.completions_repo import CompletionsMixin
from agimeter.store.lookup import by_id_or_prefix
from agimeter.store.migrations import widen_columns
from agimeter.store.pins_repo import PinsMixin
from agimeter.store.published_repo import PublishedMixin
from agimeter.store.records import ItemRecord, RunRecord, RunStatus, RunTotals, SessionTick
from agimeter.store.sessions_repo import SessionsMixin, commit_tick, effective_status
from agimeter.store.sweeps_repo import SweepsMixin
from agimeter.store.tables import Base, ItemRow, RunItemRow, RunRow


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _prepare_sqlite_path(url: str, path: Path) -> None:
    """Create the database file's folder; refuse paths SQLite could only fail on obscurely."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"cannot open store {url!r}: {path.parent} exists and is not a folder") from None
    except OSError as err:
        raise StoreError(f"cannot open store {url!r}: cannot create {path.parent}: {err.strerror or err}") from None
    if path.is_dir():
        raise StoreError(f"cannot open store {url!r}: {path} is a folder, not a database file")


class Store(PublishedMixin, SessionsMixin, PinsMixin, SweepsMixin, CompletionsMixin):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and create) the store at ``url``; any problem is a one-line ``StoreError``."""
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            _prepare_sqlite_path(url, Path(url.removeprefix("sqlite:///").partition("?")[0]).expanduser())
        try:
            engine = create_engine(url)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            Base.metadata.create_all(engine)
            widen_columns(engine)
        except (SQLAlchemyError, ImportError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise StoreError(f"cannot open store {url!r}: {first}") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # runs -----------------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> None:
        with self._session.begin() as s:
            s.add(RunRow(**run.model_dump()))

    def find_resumable_run(self, run_key: str) -> RunRecord | None:
        """The newest unfinished run started by the same command (same run key)."""
        with self._session() as s:
            row = s.scalars(
                select(RunRow)
                .where(RunRow.run_key == run_key, RunRow.status != "finished")
                .order_by(RunRow.created_at.desc())
            ).first()
            return _run(row) if row else None

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
        config: dict[str, Any] | None = None,
        tick: SessionTick | None = None,
    ) -> None:
        """Change a run; with ``tick``, only while that session holds the run, in one transaction."""
        with self._session.begin() as s:
            if tick is not None:
                commit_tick(s, run_id, tick)
            row = s.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"unknown run {run_id!r}")
            if status is not None:
                row.status = status
            if summary is not None:
                row.summary = summary
            if config is not None:
                row.config = config
            row.error = error
            row.updated_at = _now()

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        with self._session() as s:
            query = select(RunRow).order_by(RunRow.created_at.desc())
            if limit:
                query = query.limit(limit)
            return [_run(r) for r in s.scalars(query)]

    def get_run(self, run_id: str) -> RunRecord:
        """Look a run up by id or by a unique id prefix."""
        with self._session() as s:
            return _run(by_id_or_prefix(s, RunRow, run_id, "run", "runs"))

    # items ----------------------------------------------------------------------------------
    def cached_items(self, cache_keys: Iterable[str]) -> dict[str, ItemRecord]:
        keys = list(cache_keys)
        found: dict[str, ItemRecord] = {}
        with self._session() as s:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                for row in s.scalars(select(ItemRow).where(ItemRow.cache_key.in_(chunk))):
                    found[row.cache_key] = ItemRecord.model_validate(row.record)
        return found

    def add_item(self, run_id: str, record: ItemRecord, tick: SessionTick | None = None) -> None:
        """Commit one freshly computed item and link it to the run, atomically; with ``tick``, the
        session's clock and item count go in the same transaction, and only while it holds the run."""
        with self._session.begin() as s:
            self._insert_item(s, record)
            linked = self._link(s, run_id, record, cached=False)
            if tick is not None:
                commit_tick(s, run_id, tick, computed=int(linked))

    def run_totals(self, run_id: str) -> RunTotals:
        """Counts, tokens and seconds summed over the items the run holds, in the database."""
        record = ItemRow.record
        query = (
            select(
                RunItemRow.cached,
                func.count(),
                func.sum(record["prompt_tokens"].as_integer()),
                func.sum(record["computed_prompt_tokens"].as_integer()),
                func.sum(record["completion_tokens"].as_integer()),
                func.sum(record["prefill_s"].as_float()),
                func.sum(record["decode_s"].as_float()),
                # Items stored before judges existed have no judge_* fields: they add nothing.
                func.sum(func.coalesce(record["judge_prompt_tokens"].as_integer(), 0)),
                func.sum(func.coalesce(record["judge_completion_tokens"].as_integer(), 0)),
                func.sum(func.coalesce(record["judge_s"].as_float(), 0.0)),
                func.sum(case((func.coalesce(record["judge_s"].as_float(), 0.0) > 0, 1), else_=0)),
            )
            .join(ItemRow, ItemRow.cache_key == RunItemRow.cache_key)
            .where(RunItemRow.run_id == run_id)
            .group_by(RunItemRow.cached)
        )
        totals: dict[str, Any] = {}
        with self._session() as s:
            for row in s.execute(query):
                cached, count, prompt, computed, completion, prefill, decode, j_prompt, j_completion, j_s, judged = row
                if cached:
                    totals["items_cached"] = count
                    continue
                totals.update(
                    items_computed=count,
                    prompt_tokens=prompt or 0,
                    computed_prompt_tokens=computed or 0,
                    completion_tokens=completion or 0,
                    prefill_s=prefill or 0.0,
                    decode_s=decode or 0.0,
                    items_judged=judged or 0,
                    judge_prompt_tokens=j_prompt or 0,
                    judge_completion_tokens=j_completion or 0,
                    judge_s=j_s or 0.0,
                )
        return RunTotals(**totals)

    def link_cached(self, run_id: str, records: Sequence[ItemRecord]) -> None:
        """Attach already-computed items (from the cache) to a run."""
        with self._session.begin() as s:
            for record in records:
                self._link(s, run_id, record, cached=True)

    @staticmethod
    def _insert_item(s: Session, record: ItemRecord) -> None:
        if s.scalar(select(ItemRow.id).where(ItemRow.cache_key == record.cache_key)) is None:
            s.add(
                ItemRow(
                    cache_key=record.cache_key,
                    schema_version=record.schema_version,
                    task=record.task,
                    doc_id=record.doc_id,
                    created_at=_now(),
                    record=record.model_dump(mode="json"),
                )
            )
            s.flush()

    @staticmethod
    def _link(s: Session, run_id: str, record: ItemRecord, *, cached: bool) -> bool:
        """Point the run at the item; True when the run did not hold this result before."""
        existing = s.scalar(
            select(RunItemRow).where(
                RunItemRow.run_id == run_id,
                RunItemRow.task == record.task,
                RunItemRow.doc_id == record.doc_id,
            )
        )
        if existing is None:
            s.add(
                RunItemRow(
                    run_id=run_id,
                    task=record.task,
                    doc_id=record.doc_id,
                    cache_key=record.cache_key,
                    cached=cached,
                )
            )
            return True
        if existing.cache_key != record.cache_key:
            existing.cache_key = record.cache_key
            existing.cached = cached
            return True
        return False

    def run_items(self, run_id: str) -> list[ItemRecord]:
        with self._session() as s:
            rows = s.execute(
                select(ItemRow.record)
                .join(RunItemRow, RunItemRow.cache_key == ItemRow.cache_key)
                .where(RunItemRow.run_id == run_id)
                .order_by(RunItemRow.task, RunItemRow.doc_id)
            )
            return [ItemRecord.model_validate(rec) for (rec,) in rows]

    def import_run(self, run: RunRecord, items: Sequence[ItemRecord]) -> bool:
        """Add a run computed elsewhere (``agimeter push``) with its items, all or nothing.
        Returns False when a run with this id is already stored (nothing is changed)."""
        with self._session.begin() as s:
            if s.get(RunRow, run.id) is not None:
                return False
            s.add(RunRow(**run.model_dump()))
            s.flush()
            for record in items:
                self._insert_item(s, record)
                self._link(s, run.id, record, cached=True)
            return True

    def run_item_keys(self, run_id: str) -> set[str]:
        with self._session() as s:
            return set(s.scalars(select(RunItemRow.cache_key).where(RunItemRow.run_id == run_id)))


def _run(row: RunRow) -> RunRecord:
    status, error = effective_status(row)
    return RunRecord(
        schema_version=row.schema_version,
        id=row.id,
        run_key=row.run_key,
        status=status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        model=row.model,
        model_identity=row.model_identity,
        tasks=list(row.tasks),
        config=dict(row.config),
        model_info=dict(row.model_info),
        summary=dict(row.summary),
        error=error,
    )
