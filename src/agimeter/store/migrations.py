"""In-place upgrades of tables created by an older agimeter, run when a store is opened.

``create_all`` makes missing tables but never alters existing ones. PostgreSQL enforces varchar
lengths (SQLite does not), so a column widened in ``tables.py`` is widened there too.
"""

from __future__ import annotations

from sqlalchemy import Engine, String, inspect, text

from agimeter.store.tables import IDENTITY_LENGTH

# (table, column, length the current tables.py gives it)
WIDENED = (("runs", "model_identity", IDENTITY_LENGTH),)


def widen_columns(engine: Engine) -> list[str]:
    """Widen the columns of ``WIDENED`` that an existing PostgreSQL table has narrower; returns them."""
    if engine.dialect.name != "postgresql":
        return []
    inspector = inspect(engine)
    widened = []
    for table, column, length in WIDENED:
        current = next((c["type"] for c in inspector.get_columns(table) if c["name"] == column), None)
        if isinstance(current, String) and current.length is not None and current.length < length:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR({length})"))
            widened.append(f"{table}.{column}")
    return widened
