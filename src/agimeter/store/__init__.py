"""Durable results: SQLAlchemy, SQLite by default, PostgreSQL by URL."""

from agimeter.store.repository import Store

__all__ = ["Store"]
