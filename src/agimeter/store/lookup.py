"""Find a stored object by its id or by a unique prefix of it (``show 3f2a``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select

from agimeter.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Row = TypeVar("Row")


def by_id_or_prefix(s: Session, table: type[Row], value: str, noun: str, listing: str) -> Row:
    """The row of ``table`` whose id is ``value``, else the only one whose id starts with it; a
    one-line ``StoreError`` (naming the ``listing`` command) when there is none or several."""
    if not value:
        raise StoreError(f"empty {noun} id; see `agimeter {listing}`")
    row = s.get(table, value)
    if row is not None:
        return row
    column: Any = getattr(table, "id")  # noqa: B009 (every table given here has an id column)
    # autoescape: a prefix is literal text, so ``show %`` or ``show _`` matches nothing
    rows = list(s.scalars(select(table).where(column.startswith(value, autoescape=True)).limit(2)))
    if len(rows) != 1:
        why = "is ambiguous" if rows else "not found"
        raise StoreError(f"{noun} {value!r} {why}; see `agimeter {listing}`")
    return rows[0]
