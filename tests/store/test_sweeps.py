"""Stored sweeps: new tables that old stores gain on open (their runs untouched), a lease like a
run's (a sweep whose process is gone reads as interrupted; a live one cannot be taken over), rows
saved one by one, linked to their runs."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from agimeter.backends.gguf_quantize import SourceInfo
from agimeter.errors import RunInProgressError, StoreError
from agimeter.store.lease import this_process
from agimeter.store.records import Owner, RunRecord
from agimeter.store.repository import Store
from agimeter.store.sweep_records import REFERENCE, SweepRecord, VariantRecord
from agimeter.store.tables import Base

SOURCE = SourceInfo(
    path="/m.gguf", sha256="a" * 64, bytes=10, file_type="Q4_K_M", quantized=True, parameters=5, tensor_types={}
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _sweep(sweep_id: str, owner: Owner | None, key: str = "k") -> SweepRecord:
    now = _now()
    return SweepRecord(
        id=sweep_id,
        sweep_key=key,
        status="running",
        created_at=now,
        updated_at=now,
        heartbeat_at=now,
        model="gguf:/m.gguf",
        source=SOURCE,
        quants=["Q8_0"],
        owner=owner,
    )


def _run_record(run_id: str, identity: str) -> RunRecord:
    now = _now()
    return RunRecord(
        id=run_id,
        run_key="k",
        status="finished",
        created_at=now,
        updated_at=now,
        model="gguf:/m.gguf",
        model_identity=identity,
        tasks=["t"],
    )


def _rows(sweep_id: str) -> list[VariantRecord]:
    return [
        VariantRecord(
            sweep_id=sweep_id, quant=REFERENCE, position=0, state="quantized", path="/m.gguf", sha256="a", bytes=10
        ),
        VariantRecord(sweep_id=sweep_id, quant="Q8_0", position=1, path="", sha256="", bytes=0),
    ]


def _gone() -> Owner:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return this_process().model_copy(update={"pid": proc.pid})


def test_an_old_store_gains_the_sweep_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    new = ("sweeps", "sweep_variants", "sweep_runs")
    old_tables = [t for name, t in Base.metadata.tables.items() if name not in new]
    Base.metadata.create_all(engine, tables=old_tables)
    engine.dispose()
    assert "sweeps" not in inspect(create_engine(f"sqlite:///{path}")).get_table_names()
    old = Store(create_engine(f"sqlite:///{path}"))
    old.create_run(_run_record("r1", "x"))
    store = Store.open(f"sqlite:///{path}")
    assert set(new) <= set(inspect(store.engine).get_table_names())
    assert store.get_run("r1").status == "finished" and store.list_sweeps() == []


def test_rows_are_saved_and_linked_to_runs(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    store.start_sweep(_sweep("sw1", this_process()), _rows("sw1"))
    store.create_run(_run_record("r1", "sha256:" + "a" * 64))
    ref, q8 = store.sweep_variants("sw1")
    store.save_variant(ref.model_copy(update={"state": "evaluated", "run_ids": ["r1"]}))
    store.save_variant(ref.model_copy(update={"state": "evaluated", "run_ids": ["r1"]}))  # linked once
    assert store.sweep_variants("sw1")[0].run_ids == ["r1"]
    assert store.sweeps_of_runs(["r1", "r2"]) == {"r1": ["sw1"]}
    assert [r.id for r in store.runs_of_model("sha256:" + "a" * 64)] == ["r1"]
    with pytest.raises(StoreError, match="sw1 row Q8_0"):  # a run id that is not stored
        store.save_variant(q8.model_copy(update={"run_ids": ["nope"]}))
    assert store.get_sweep("sw").id == "sw1"  # a unique prefix
    with pytest.raises(StoreError, match="sweep 'sx' not found"):
        store.get_sweep("sx")


def test_a_sweep_whose_process_is_gone_is_interrupted_and_resumable(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    store.start_sweep(_sweep("sw1", _gone()), _rows("sw1"))
    stored = store.get_sweep("sw1")
    assert stored.status == "interrupted" and stored.error is not None and "is gone" in stored.error
    claimed = store.claim_sweep("sw1", this_process())
    assert claimed.status == "running" and store.get_sweep("sw1").status == "running"


def test_a_live_sweep_is_not_taken_over_or_started_twice(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    store.start_sweep(_sweep("sw1", this_process()), _rows("sw1"))
    other = Owner(host=this_process().host, pid=1, started=0.0)
    with pytest.raises(RunInProgressError, match="sweep sw1 of the same command is in progress elsewhere"):
        store.claim_sweep("sw1", other)
    with pytest.raises(RunInProgressError):
        store.start_sweep(_sweep("sw2", other), _rows("sw2"))  # same key
    assert [s.id for s in store.list_sweeps()] == ["sw1"]
