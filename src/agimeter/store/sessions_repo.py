"""Store methods for sessions: one process's go at a run, and its lease on the run.

A session is created with the run (``start_run``) or to resume it (``claim_run``, refused while
the latest session's owner lives). Its clock, item count and lease go with every item it commits
(``commit_tick``: a compare-and-set on the session's state, in the item's transaction), so a
session that another process took over can commit nothing more.

``claim_run`` reads and then writes, so it starts with a write: SQLite then holds its write lock
from the first statement, and PostgreSQL a lock on the run's row, so two processes never both
act on the same read.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, select, text, update
from sqlalchemy.exc import IntegrityError

from agimeter.errors import RunInProgressError, StoreError
from agimeter.records.run import RunRecord, RunStatus, load_run
from agimeter.records.sessions import SESSION_SCHEMA_VERSION, Owner, SessionRecord, SessionState, SessionTick
from agimeter.store.lease import owner_alive
from agimeter.store.run_rows import HEADER, run_row
from agimeter.store.tables import RunRow, RunSessionRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SessionsMixin:
    _session: sessionmaker[Session]

    def start_run(self, run: RunRecord, owner: Owner, load_s: float) -> SessionRecord:
        """Create a run and its first session, held by ``owner``, at once. Refused when another
        live process started the same command (same run key) at the same moment."""
        with self._session.begin() as s:
            if s.bind is not None and s.bind.dialect.name == "postgresql":  # SQLite: the INSERT locks
                key = int.from_bytes(hashlib.sha256(run.run_key.encode()).digest()[:8], "big", signed=True)
                s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            s.add(run_row(run))
            s.flush()
            rivals = s.scalars(
                select(RunRow).where(RunRow.run_key == run.run_key, RunRow.id != run.id, RunRow.status == "running")
            )
            for rival in rivals:
                if effective_status(rival)[0] == "running":
                    latest = rival.sessions[-1]
                    raise RunInProgressError(
                        f"run {rival.id} of the same command is in progress elsewhere "
                        f"({_describe(latest, _now())}); re-run the command once that process has ended"
                    )
            row = _new_session(run.id, 1, owner, load_s)
            s.add(row)
            s.flush()
            return _session(row)

    def claim_run(self, run_id: str, owner: Owner, load_s: float) -> SessionRecord:
        """Start a new session of a stored run, for resuming it. Refused (``RunInProgressError``)
        while the latest session's owner is alive; a dead owner's session is marked dead."""
        try:
            with self._session.begin() as s:
                now = _now()
                if not _touch_run(s, run_id, "running", now):
                    raise StoreError(f"unknown run {run_id!r}")
                latest = s.scalars(
                    select(RunSessionRow).where(RunSessionRow.run_id == run_id).order_by(RunSessionRow.number.desc())
                ).first()
                if latest is not None and latest.state == "running":
                    if owner_alive(_owner(latest), latest.heartbeat_at, now):
                        raise RunInProgressError(
                            f"run {run_id} is in progress elsewhere ({_describe(latest, now)}); "
                            "re-run the command once that process has ended"
                        )
                    if not _set_state(s, latest.id, "dead"):
                        raise RunInProgressError(f"run {run_id} was just taken over by another process")
                row = _new_session(run_id, latest.number + 1 if latest else 1, owner, load_s)
                s.add(row)
                s.flush()
                return _session(row)
        except IntegrityError:  # another process inserted the same session number first
            raise RunInProgressError(f"run {run_id} was just taken over by another process") from None

    def run_sessions(self, run_id: str) -> list[SessionRecord]:
        with self._session() as s:
            rows = s.scalars(select(RunSessionRow).where(RunSessionRow.run_id == run_id).order_by(RunSessionRow.number))
            return [_session(r) for r in rows]

    def heartbeat(self, session_id: int) -> bool:
        """Refresh a session's lease; False when it holds none any more (ended or taken over)."""
        with self._session.begin() as s:
            result = s.execute(
                update(RunSessionRow)
                .where(RunSessionRow.id == session_id, RunSessionRow.state == "running")
                .values(heartbeat_at=_now())
            )
            return _rowcount(result) == 1


def _new_session(run_id: str, number: int, owner: Owner, load_s: float) -> RunSessionRow:
    now = _now()
    return RunSessionRow(
        run_id=run_id,
        number=number,
        schema_version=SESSION_SCHEMA_VERSION,
        host=owner.host,
        pid=owner.pid,
        process_started=owner.started,
        state="running",
        started_at=now,
        heartbeat_at=now,
        load_s=load_s,
        wall_s=0.0,
        items_computed=0,
    )


def _owner(row: RunSessionRow) -> Owner:
    return Owner(host=row.host, pid=row.pid, started=row.process_started)


def _session(row: RunSessionRow) -> SessionRecord:
    return SessionRecord(
        schema_version=row.schema_version,
        id=row.id,
        run_id=row.run_id,
        number=row.number,
        owner=_owner(row),
        state=cast(SessionState, row.state),
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        load_s=row.load_s,
        wall_s=row.wall_s,
        items_computed=row.items_computed,
    )


def _describe(row: RunSessionRow, now: datetime) -> str:
    seen = max(0, round((now - row.heartbeat_at).total_seconds()))
    return f"pid {row.pid} on {row.host}, last seen {seen} s ago"


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _touch_run(s: Session, run_id: str, status: RunStatus, now: datetime) -> bool:
    """The write that opens a read-then-write transaction on a run (see the module docstring)."""
    result = s.execute(update(RunRow).where(RunRow.id == run_id).values(status=status, error=None, updated_at=now))
    return _rowcount(result) == 1


def _set_state(s: Session, session_id: int, state: SessionState) -> bool:
    """Compare-and-set from "running": False when another process changed it first."""
    result = s.execute(
        update(RunSessionRow)
        .where(RunSessionRow.id == session_id, RunSessionRow.state == "running")
        .values(state=state)
    )
    return _rowcount(result) == 1


def commit_tick(s: Session, run_id: str, tick: SessionTick, *, computed: int = 0) -> None:
    """The session's clock, item count and lease, in the transaction of what it commits; refused
    (and so the whole transaction) once the session lost the run to another process."""
    values: dict[str, Any] = {"wall_s": tick.wall_s, "heartbeat_at": _now()}
    if computed:
        values["items_computed"] = RunSessionRow.items_computed + computed
    if tick.final:
        values["state"] = "ended"
    result = s.execute(
        update(RunSessionRow)
        .where(RunSessionRow.id == tick.session_id, RunSessionRow.state == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        raise RunInProgressError(
            f"run {run_id} was taken over by another process (this one was thought dead); this one stops"
        )


def effective_status(row: RunRow) -> tuple[RunStatus, str | None]:
    """The run's status and error as users see them: stored as running, but with no live owner
    (killed, crashed, or stored before sessions existed), it is interrupted."""
    status, error = cast(RunStatus, row.status), row.error
    if status != "running":
        return status, error
    latest = row.sessions[-1] if row.sessions else None
    now = _now()
    if latest is not None and latest.state == "running" and owner_alive(_owner(latest), latest.heartbeat_at, now):
        return status, error
    gone = f"the process that ran it ({_describe(latest, now)}) is gone" if latest else "no process holds it"
    return "interrupted", error or f"{gone}; re-run the same command to resume"


def run_from_row(row: RunRow) -> RunRecord:
    """The stored row as a record (its status as the sessions' leases say: ``effective_status``)."""
    status, error = effective_status(row)
    return load_run(
        {
            **{name: getattr(row, name) for name in HEADER},
            "status": status,
            "error": error,
            "tasks": list(row.tasks),
            "summary": row.summary,
            "config": row.config,
            "model_info": row.model_info,
        }
    )
