"""The store on a real PostgreSQL server (started here on loopback), through the CLI.

Needs Debian's ``postgresql`` package (CI installs it) and ``psycopg``; skipped with the reason
otherwise.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PG_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not PG_BINS:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'agimeter[postgres]')")
    bin_dir = Path(PG_BINS[-1])
    # Not under pytest's tmp dir: its root-only parents are not traversable by the server's user.
    root = Path(tempfile.mkdtemp(prefix="agimeter-pg-"))
    data = root / "data"
    data.mkdir()
    # initdb refuses to run as root: run the server as an unprivileged user when we are root.
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        shutil.chown(data, "nobody")
        root.chmod(0o755)
        as_user = ["runuser", "-u", "nobody", "--"]
    port = _free_port()
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "agimeter", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    log = root / "pg.log"
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        url = f"postgresql+psycopg://agimeter@127.0.0.1:{port}/postgres"
        deadline = time.time() + 20
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )


def test_run_resume_and_export_on_postgres(
    agimeter: Callable[..., subprocess.CompletedProcess[str]], postgres_url: str, toy_env: dict[str, Path]
) -> None:
    args = [
        "run",
        "--model",
        "fake:m",
        "--tasks",
        str(toy_env["mc"]),
        "--data-dir",
        str(toy_env["data"]),
        "--store",
        postgres_url,
        "--format",
        "json",
    ]
    first = agimeter(*args)
    assert first.returncode == 0, first.stderr
    run_id = json.loads(first.stdout)["run"]["id"]
    second = json.loads(agimeter(*args).stdout)
    assert second["measurement"]["items_cached"] == 40 and second["measurement"]["items_computed"] == 0
    rows = agimeter("export", run_id, "--store", postgres_url).stdout.splitlines()
    assert len(rows) == 40 and json.loads(rows[0])["task"] == "toy_mc"


def test_sessions_leases_and_totals_on_postgres(postgres_url: str) -> None:
    """The lease (claim, refusal, take-over, fencing) and the JSON sums of ``run_totals`` in
    PostgreSQL's SQL, not only SQLite's."""
    import socket
    from datetime import datetime

    from agimeter.errors import RunInProgressError
    from agimeter.records.items import ItemRecord
    from agimeter.records.run import RunRecord
    from agimeter.records.sessions import Owner, SessionTick
    from agimeter.runner.heartbeat import this_process
    from agimeter.store.repository import Store

    store = Store.open(postgres_url)
    me = this_process()
    now = datetime(2026, 1, 1)
    run = RunRecord(
        id="pg-lease", run_key="pg-k", status="running", created_at=now, updated_at=now,
        model="fake:m", model_identity="x", tasks=["t"],
    )  # fmt: skip
    far = Owner(host=f"not-{socket.gethostname()}", pid=1, started=0.0)
    first = store.start_run(run, far, load_s=1.0)
    for doc_id in range(3):
        item = ItemRecord(
            task="t", task_version="1", doc_id=doc_id, target=0, prediction=0, correct=True,
            metrics={"acc": 1.0}, prompt_tokens=10 + doc_id, completion_tokens=2, computed_prompt_tokens=5,
            prefill_s=0.5, decode_s=0.25, total_s=0.75, prompt_sha256="p", cache_key=f"pg-{doc_id}",
        )  # fmt: skip
        store.add_item(run.id, item, tick=SessionTick(session_id=first.id, wall_s=doc_id + 1.0))
    totals = store.run_totals(run.id)
    assert (totals.items_computed, totals.items_cached, totals.prompt_tokens, totals.completion_tokens) == (3, 0, 33, 6)
    assert totals.prefill_s == 1.5 and totals.decode_s == 0.75
    assert store.get_run(run.id).status == "running"  # another host's fresh lease holds
    with pytest.raises(RunInProgressError, match="in progress elsewhere"):
        store.claim_run(run.id, me, load_s=0.0)
    from sqlalchemy import text

    with store.engine.begin() as con:  # the far owner's lease expires
        con.execute(text("update run_sessions set heartbeat_at = '2000-01-01' where id = :id"), {"id": first.id})
    assert store.get_run(run.id).status == "interrupted"
    second = store.claim_run(run.id, me, load_s=0.0)
    assert second.number == 2
    with pytest.raises(RunInProgressError, match="taken over"):
        store.add_item(
            run.id,
            item.model_copy(update={"doc_id": 9, "cache_key": "pg-9"}),
            tick=SessionTick(session_id=first.id, wall_s=9.0),
        )
    assert [s.items_computed for s in store.run_sessions(run.id)] == [3, 0]


def test_a_table_made_with_the_old_64_character_identity_is_widened(postgres_url: str) -> None:
    """PostgreSQL enforces varchar lengths: a store created before the identity column was widened
    gets it widened when opened, and then keeps a 71-character local identity."""
    from datetime import datetime

    from sqlalchemy import text

    from agimeter.records.run import RunRecord
    from agimeter.store.repository import Store

    store = Store.open(postgres_url)
    with store.engine.begin() as conn:  # as the previous tables.py made it
        conn.execute(text("ALTER TABLE runs ALTER COLUMN model_identity TYPE VARCHAR(64)"))
    store.close()
    store = Store.open(postgres_url)
    now = datetime(2026, 1, 1)
    identity = "sha256:" + "a" * 64
    run = RunRecord(
        id="wide1", run_key="k", status="finished", created_at=now, updated_at=now, model="hf:/models/x",
        model_identity=identity, tasks=[],
    )  # fmt: skip
    store.create_run(run)
    assert store.get_run("wide1").model_identity == identity
    store.close()
