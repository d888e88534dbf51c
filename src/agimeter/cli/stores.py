"""The store a command reads or writes: ``--store`` if given, else the config file's, else the default."""

from __future__ import annotations

from pathlib import Path

from agimeter.config import load_file_config, resolve_store_url
from agimeter.store.repository import Store


def open_store(store: str | None, config: Path | None) -> Store:
    """Open the store named by ``--store`` / the ``--config`` file / the default (one-line errors)."""
    return Store.open(resolve_store_url(store, load_file_config(config)))
