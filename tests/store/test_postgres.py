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


def test_a_table_made_with_the_old_64_character_identity_is_widened(postgres_url: str) -> None:
    """PostgreSQL enforces varchar lengths: a store created before the identity column was widened
    gets it widened when opened, and then keeps a 71-character local identity."""
    from datetime import datetime

    from sqlalchemy import text

    from agimeter.store.records import RunRecord
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
