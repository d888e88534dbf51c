"""Durable results: SQLAlchemy, SQLite by default, PostgreSQL by URL."""

from agimeter.store.records import ItemRecord, RunRecord
from agimeter.store.repository import Store

__all__ = ["ItemRecord", "RunRecord", "Store"]
