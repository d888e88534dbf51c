from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from agimeter.errors import StoreError
from agimeter.records.items import ItemRecord
from agimeter.records.run import RunRecord
from agimeter.store.repository import Store
from agimeter.testing.records import item_record


def _item(doc_id: int, key: str) -> ItemRecord:
    return item_record(doc_id, key)


def _run(run_id: str, key: str = "k") -> RunRecord:
    now = datetime(2026, 1, 1)
    return RunRecord(
        id=run_id,
        run_key=key,
        status="running",
        created_at=now,
        updated_at=now,
        model="fake:m",
        model_identity="x",
        tasks=["t"],
    )


def test_items_are_idempotent_and_shared_between_runs(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/nested/dir/s.db")
    store.create_run(_run("a"))
    store.add_item("a", _item(0, "k0"))
    store.add_item("a", _item(0, "k0"))  # a retried commit must not duplicate
    store.add_item("a", _item(1, "k1"))
    assert [i.doc_id for i in store.run_items("a")] == [0, 1]
    store.create_run(_run("b", key="other"))
    cached = store.cached_items(["k0", "k1", "missing"])
    assert set(cached) == {"k0", "k1"}
    store.link_cached("b", list(cached.values()))
    store.link_cached("b", list(cached.values()))
    assert len(store.run_items("b")) == 2


def test_resumable_run_and_prefix_lookup(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    store.create_run(_run("abc123"))
    assert store.find_resumable_run("k") is not None
    store.update_run("abc123", status="finished")
    assert store.find_resumable_run("k") is None
    assert store.get_run("abc").id == "abc123"
    with pytest.raises(StoreError, match="not found"):
        store.get_run("zzz")


def test_unopenable_store_is_a_one_line_error() -> None:
    with pytest.raises(StoreError, match="cannot open store"):
        Store.open("nosuchdialect://x")
