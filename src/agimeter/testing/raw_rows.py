"""Runs written to the store's tables as raw JSON, bypassing the records: what an older agimeter
(or a bug) could have stored. For tests of migrations and of rows that do not validate."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from agimeter.store.repository import Store
from agimeter.store.tables import RunRow


def write_run_columns(store: Store, run_id: str, **columns: Any) -> None:
    """Overwrite columns of a stored run (``summary``, ``config``, ``model_info``: any JSON)."""
    with Session(store.engine) as s, s.begin():
        done = s.execute(update(RunRow).where(RunRow.id == run_id).values(**columns))
        assert done.rowcount == 1, f"no run {run_id!r} to overwrite"  # type: ignore[attr-defined]


def insert_run_row(store: Store, row: dict[str, Any]) -> None:
    """A whole run row as an older agimeter wrote it (every column given, JSON parts as stored)."""
    with Session(store.engine) as s, s.begin():
        s.add(RunRow(**row))
