"""Store methods for pins: a run chosen by hand for a model's task (``agimeter pin``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from agimeter.errors import StoreError
from agimeter.store.records import PIN_SCHEMA_VERSION, PinRecord
from agimeter.store.tables import PinRow, RunRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

ALL_TASKS = ""  # how a pin for every task of its run is stored


class PinsMixin:
    _session: sessionmaker[Session]

    def pin_run(self, model_identity: str, run_id: str, task: str | None = None) -> PinRecord:
        """Pin ``run_id`` for the model's ``task`` (None: every task the run has), replacing any
        pin of that model and task. The run must be one of that model's."""
        with self._session.begin() as s:
            run = s.get(RunRow, run_id)
            if run is None:
                raise StoreError(f"unknown run {run_id!r}")
            if run.model_identity != model_identity:
                raise StoreError(f"run {run_id} is a run of another model ({run.model})")
            key = task or ALL_TASKS
            s.execute(delete(PinRow).where(PinRow.model_identity == model_identity, PinRow.task == key))
            now = datetime.now(UTC).replace(tzinfo=None)
            row = PinRow(
                schema_version=PIN_SCHEMA_VERSION,
                model_identity=model_identity,
                task=key,
                run_id=run_id,
                created_at=now,
            )
            s.add(row)
            s.flush()
            return _pin(row)

    def pins(self) -> list[PinRecord]:
        with self._session() as s:
            rows = s.scalars(select(PinRow).order_by(PinRow.model_identity, PinRow.task))
            return [_pin(r) for r in rows]

    def clear_pins(self, model_identity: str | None = None, task: str | None = None) -> int:
        """Remove the pins of one model (and one task), or all; returns how many were removed."""
        query = delete(PinRow)
        if model_identity is not None:
            query = query.where(PinRow.model_identity == model_identity)
        if task is not None:
            query = query.where(PinRow.task == task)
        with self._session.begin() as s:
            return int(s.execute(query).rowcount)  # type: ignore[attr-defined]


def _pin(row: PinRow) -> PinRecord:
    return PinRecord(
        schema_version=row.schema_version,
        model_identity=row.model_identity,
        task=row.task or None,
        run_id=row.run_id,
        created_at=row.created_at,
    )
