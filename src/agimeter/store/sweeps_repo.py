"""Store methods for quantization sweeps: create or resume one (with a lease, like a run), record
each row's progress, read them back.

A sweep's process holds it (host, pid, start time and a heartbeat, as ``store.lease`` describes);
a sweep stored as running whose process is gone reads as interrupted, and the same command
resumes it. Each row (reference or variant) is written in its own transaction by whichever
process measures it, so rows never overwrite each other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agimeter.errors import RunInProgressError, StoreError
from agimeter.store.lease import owner_alive
from agimeter.store.lookup import by_id_or_prefix
from agimeter.store.records import Owner, RunRecord
from agimeter.store.sweep_records import SweepRecord, SweepStatus, VariantRecord
from agimeter.store.tables import RunRow, SweepRow, SweepRunRow, SweepVariantRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SweepsMixin:
    _session: sessionmaker[Session]

    def start_sweep(self, sweep: SweepRecord, variants: list[VariantRecord]) -> None:
        """Store a new sweep and its rows at once; refused while a live process runs the same command."""
        with self._session.begin() as s:
            for rival in s.scalars(select(SweepRow).where(SweepRow.sweep_key == sweep.sweep_key)):
                record = _sweep(rival)
                if record.status == "running":
                    raise RunInProgressError(_in_progress(record))
            s.add(_sweep_row(sweep))
            s.flush()
            for variant in variants:
                s.add(_variant_row(variant))
                _link_runs(s, variant)

    def find_sweep(self, sweep_key: str) -> SweepRecord | None:
        """The newest sweep of the same command (same key), finished or not."""
        with self._session() as s:
            row = s.scalars(
                select(SweepRow).where(SweepRow.sweep_key == sweep_key).order_by(SweepRow.created_at.desc())
            ).first()
            return _sweep(row) if row else None

    def claim_sweep(self, sweep_id: str, owner: Owner) -> SweepRecord:
        """Take a stored sweep over to resume it; refused while another live process holds it."""
        with self._session.begin() as s:
            row = s.get(SweepRow, sweep_id, with_for_update=True)
            if row is None:
                raise StoreError(f"unknown sweep {sweep_id!r}")
            record = _sweep(row)
            if record.status == "running" and record.owner is not None and record.owner != owner:
                raise RunInProgressError(_in_progress(record))
            now = _now()
            record = record.model_copy(
                update={"status": "running", "owner": owner, "error": None, "updated_at": now, "heartbeat_at": now}
            )
            _write(row, record)
            return record

    def set_sweep_status(self, sweep_id: str, status: SweepStatus, error: str | None = None) -> None:
        with self._session.begin() as s:
            row = s.get(SweepRow, sweep_id)
            if row is None:
                raise StoreError(f"unknown sweep {sweep_id!r}")
            stored = SweepRecord.model_validate(row.record)
            _write(row, stored.model_copy(update={"status": status, "error": error, "updated_at": _now()}))

    def sweep_heartbeat(self, sweep_id: str) -> bool:
        with self._session.begin() as s:
            row = s.get(SweepRow, sweep_id)
            if row is None:
                return False
            row.heartbeat_at = _now()
            return True

    def get_sweep(self, sweep_id: str) -> SweepRecord:
        """A sweep by id or a unique id prefix."""
        with self._session() as s:
            return _sweep(by_id_or_prefix(s, SweepRow, sweep_id, "sweep", "sweeps"))

    def list_sweeps(self, limit: int | None = None) -> list[SweepRecord]:
        with self._session() as s:
            query = select(SweepRow).order_by(SweepRow.created_at.desc())
            if limit:
                query = query.limit(limit)
            return [_sweep(row) for row in s.scalars(query)]

    def sweep_variants(self, sweep_id: str) -> list[VariantRecord]:
        with self._session() as s:
            rows = s.scalars(
                select(SweepVariantRow).where(SweepVariantRow.sweep_id == sweep_id).order_by(SweepVariantRow.position)
            )
            return [VariantRecord.model_validate(row.record) for row in rows]

    def save_variant(self, variant: VariantRecord) -> None:
        """Replace the stored row of ``variant`` (same sweep and quant)."""
        try:
            with self._session.begin() as s:
                row = s.scalars(
                    select(SweepVariantRow).where(
                        SweepVariantRow.sweep_id == variant.sweep_id, SweepVariantRow.quant == variant.quant
                    )
                ).first()
                if row is None:
                    raise StoreError(f"sweep {variant.sweep_id} has no row {variant.quant!r}")
                row.record = variant.model_dump(mode="json")
                row.position = variant.position
                _link_runs(s, variant)
        except IntegrityError as err:  # a run id that is not stored
            raise StoreError(f"sweep {variant.sweep_id} row {variant.quant}: {str(err).splitlines()[0]}") from None

    def speed_probes(self) -> dict[str, tuple[float, str]]:
        """Per model identity (``sha256:`` of a GGUF file), the decode tokens/s of its newest sweep
        speed probe and the sweep's id."""
        out: dict[str, tuple[float, str]] = {}
        with self._session() as s:
            rows = s.execute(
                select(SweepVariantRow.record, SweepRow.created_at)
                .join(SweepRow, SweepRow.id == SweepVariantRow.sweep_id)
                .order_by(SweepRow.created_at)
            )
            for record, _ in rows:
                row = VariantRecord.model_validate(record)
                if row.speed is not None and row.sha256:
                    out[f"sha256:{row.sha256}"] = (row.speed.decode_tokens_per_s, row.sweep_id)
        return out

    def runs_of_model(self, model_identity: str) -> list[RunRecord]:
        """Every run of the model with this identity (a weights file's sha256), newest first."""
        from agimeter.store.repository import _run

        with self._session() as s:
            rows = s.scalars(
                select(RunRow).where(RunRow.model_identity == model_identity).order_by(RunRow.created_at.desc())
            )
            return [_run(row) for row in rows]

    def sweeps_of_runs(self, run_ids: list[str]) -> dict[str, list[str]]:
        """For each run id, the sweeps whose rows it evaluated."""
        out: dict[str, list[str]] = {}
        with self._session() as s:
            rows = s.execute(select(SweepRunRow.run_id, SweepRunRow.sweep_id).where(SweepRunRow.run_id.in_(run_ids)))
            for run_id, sweep_id in rows:
                out.setdefault(str(run_id), []).append(str(sweep_id))
        return out


def _link_runs(s: Session, variant: VariantRecord) -> None:
    """Link the row's runs that are not linked yet (``sweep_runs``: a run id must be stored)."""
    linked = set(
        s.scalars(
            select(SweepRunRow.run_id).where(
                SweepRunRow.sweep_id == variant.sweep_id, SweepRunRow.quant == variant.quant
            )
        )
    )
    for run_id in variant.run_ids:
        if run_id not in linked:
            s.add(SweepRunRow(sweep_id=variant.sweep_id, quant=variant.quant, run_id=run_id))
    s.flush()


def _sweep_row(sweep: SweepRecord) -> SweepRow:
    return SweepRow(
        id=sweep.id,
        schema_version=sweep.schema_version,
        sweep_key=sweep.sweep_key,
        status=sweep.status,
        created_at=sweep.created_at,
        updated_at=sweep.updated_at,
        heartbeat_at=sweep.heartbeat_at,
        record=sweep.model_dump(mode="json"),
    )


def _variant_row(variant: VariantRecord) -> SweepVariantRow:
    return SweepVariantRow(
        sweep_id=variant.sweep_id,
        quant=variant.quant,
        position=variant.position,
        schema_version=variant.schema_version,
        record=variant.model_dump(mode="json"),
    )


def _write(row: SweepRow, record: SweepRecord) -> None:
    row.status = record.status
    row.updated_at = record.updated_at
    row.heartbeat_at = record.heartbeat_at
    row.record = record.model_dump(mode="json")


def _sweep(row: SweepRow) -> SweepRecord:
    """The stored sweep as users see it: running with no live owner reads as interrupted."""
    data: dict[str, Any] = dict(row.record)
    data.update(status=row.status, heartbeat_at=row.heartbeat_at, updated_at=row.updated_at)
    record = SweepRecord.model_validate(data)
    if record.status == "running" and (
        record.owner is None or not owner_alive(record.owner, record.heartbeat_at, _now())
    ):
        gone = f"its process (pid {record.owner.pid} on {record.owner.host}) is gone" if record.owner else "no owner"
        record = record.model_copy(
            update={"status": "interrupted", "error": record.error or f"{gone}; re-run the same command to resume"}
        )
    return record


def _in_progress(record: SweepRecord) -> str:
    where = f"pid {record.owner.pid} on {record.owner.host}" if record.owner else "another process"
    return f"sweep {record.id} of the same command is in progress elsewhere ({where}); re-run it once that has ended"


__all__ = ["SweepsMixin"]
