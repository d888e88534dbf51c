"""Sessions and leases: who runs a run, what each session committed, and what a dead owner means."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from agimeter.errors import RunInProgressError
from agimeter.records.items import ItemRecord
from agimeter.records.run import RunRecord
from agimeter.records.sessions import Owner, SessionTick
from agimeter.runner.heartbeat import Heartbeat, this_process
from agimeter.store.lease import LEASE_TTL_S
from agimeter.store.repository import Store
from agimeter.testing.records import item_record


def _item(doc_id: int, key: str, *, prompt: int = 10, completion: int = 3) -> ItemRecord:
    return item_record(
        doc_id,
        key,
        prompt_tokens=prompt,
        completion_tokens=completion,
        computed_prompt_tokens=prompt - 4,
        prefill_s=0.5,
        decode_s=0.25,
        total_s=0.75,
    )


def _run(run_id: str, key: str = "k", status: str = "running") -> RunRecord:
    now = datetime(2026, 1, 1)
    return RunRecord(
        id=run_id,
        run_key=key,
        status=status,  # type: ignore[arg-type]
        created_at=now,
        updated_at=now,
        model="fake:m",
        model_identity="x",
        tasks=["t"],
    )


def _gone_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _set_heartbeat(path: Path, session_id: int, when: datetime) -> None:
    con = sqlite3.connect(path)
    con.execute("update run_sessions set heartbeat_at = ? where id = ?", (when.isoformat(" "), session_id))
    con.commit()
    con.close()


def test_a_live_owner_keeps_its_run(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    me = this_process()
    first = store.start_run(_run("r1"), me, load_s=1.5)
    assert first.number == 1 and first.state == "running" and first.owner == me and first.load_s == 1.5
    assert store.get_run("r1").status == "running" and store.list_runs()[0].status == "running"
    with pytest.raises(RunInProgressError, match=rf"run r1 is in progress elsewhere \(pid {me.pid} on "):
        store.claim_run("r1", Owner(host=me.host, pid=me.pid + 1, started=0.0), load_s=0.0)
    assert [s.number for s in store.run_sessions("r1")] == [1]


@pytest.mark.parametrize("how", ["pid gone", "pid reused", "other host, lease expired"])
def test_a_dead_owner_shows_interrupted_and_is_taken_over(tmp_path: Path, how: str) -> None:
    path = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{path}")
    me = this_process()
    if how == "pid gone":
        dead = Owner(host=me.host, pid=_gone_pid(), started=me.started)
    elif how == "pid reused":  # our own pid, but a process that started at another time
        dead = Owner(host=me.host, pid=me.pid, started=me.started - 3600)
    else:
        dead = Owner(host=f"not-{socket.gethostname()}", pid=me.pid, started=me.started)
    old = store.start_run(_run("r1"), dead, load_s=2.0)
    if how == "other host, lease expired":
        # Another host's process cannot be looked at: its lease holds until it expires.
        assert store.get_run("r1").status == "running"
        with pytest.raises(RunInProgressError, match="in progress elsewhere"):
            store.claim_run("r1", me, load_s=0.0)
        _set_heartbeat(path, old.id, datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=LEASE_TTL_S + 5))

    shown = store.get_run("r1")
    assert shown.status == "interrupted" and "re-run the same command" in (shown.error or "")
    assert [r.status for r in store.list_runs()] == ["interrupted"]
    assert store.find_resumable_run("k") is not None

    new = store.claim_run("r1", me, load_s=0.5)
    assert new.number == 2 and new.owner == me
    assert [(s.number, s.state) for s in store.run_sessions("r1")] == [(1, "dead"), (2, "running")]
    run = store.get_run("r1")
    assert run.status == "running" and run.error is None


def test_a_taken_over_session_can_commit_nothing(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    me = this_process()
    stale = store.start_run(_run("r1"), Owner(host=me.host, pid=_gone_pid(), started=1.0), load_s=0.0)
    store.add_item("r1", _item(0, "k0"), tick=SessionTick(session_id=stale.id, wall_s=1.0))
    store.claim_run("r1", me, load_s=0.0)
    with pytest.raises(RunInProgressError, match="taken over"):
        store.add_item("r1", _item(1, "k1"), tick=SessionTick(session_id=stale.id, wall_s=2.0))
    with pytest.raises(RunInProgressError, match="taken over"):
        store.update_run("r1", status="failed", tick=SessionTick(session_id=stale.id, wall_s=2.0, final=True))
    assert not store.heartbeat(stale.id)
    assert [i.doc_id for i in store.run_items("r1")] == [0]  # the refused commit left nothing behind
    assert store.get_run("r1").status == "running"
    assert store.run_sessions("r1")[0].wall_s == 1.0


def test_item_commits_carry_the_session_clock_and_the_totals_add_up(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    me = this_process()
    a = store.start_run(_run("a"), me, load_s=0.0)
    store.add_item("a", _item(0, "k0", prompt=10, completion=3), tick=SessionTick(session_id=a.id, wall_s=1.25))
    store.add_item("a", _item(1, "k1", prompt=20, completion=5), tick=SessionTick(session_id=a.id, wall_s=2.5))
    store.add_item("a", _item(1, "k1", prompt=20, completion=5), tick=SessionTick(session_id=a.id, wall_s=2.75))
    (session,) = store.run_sessions("a")
    assert session.wall_s == 2.75 and session.items_computed == 2  # a repeated commit is not counted twice
    totals = store.run_totals("a")
    assert (totals.items_computed, totals.items_cached) == (2, 0)
    assert (totals.prompt_tokens, totals.computed_prompt_tokens, totals.completion_tokens) == (30, 22, 8)
    assert totals.prefill_s == pytest.approx(1.0) and totals.decode_s == pytest.approx(0.5)

    # Another run that links those results counts them as cached, with none of their tokens.
    b = store.start_run(_run("b", key="other"), me, load_s=0.0)
    store.link_cached("b", list(store.cached_items(["k0", "k1"]).values()))
    store.add_item("b", _item(2, "k2", prompt=7, completion=1), tick=SessionTick(session_id=b.id, wall_s=0.5))
    totals = store.run_totals("b")
    assert (totals.items_computed, totals.items_cached) == (1, 2)
    assert (totals.prompt_tokens, totals.completion_tokens) == (7, 1)
    assert store.run_totals("nobody").items_computed == 0

    store.update_run("a", status="finished", tick=SessionTick(session_id=a.id, wall_s=3.0, final=True))
    (session,) = store.run_sessions("a")
    assert session.state == "ended" and session.wall_s == 3.0
    assert store.heartbeat(a.id) is False  # an ended session holds no lease


def test_heartbeat_refreshes_the_lease(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{path}")
    me = this_process()
    far = Owner(host=f"not-{socket.gethostname()}", pid=1, started=0.0)
    s = store.start_run(_run("r1"), far, load_s=0.0)
    _set_heartbeat(path, s.id, datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=LEASE_TTL_S + 5))
    assert store.get_run("r1").status == "interrupted"
    assert store.heartbeat(s.id) is True
    assert store.get_run("r1").status == "running"
    with pytest.raises(RunInProgressError):
        store.claim_run("r1", me, load_s=0.0)


def test_of_several_live_claimers_of_a_dead_run_one_wins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    me = this_process()
    Store.open(url).start_run(_run("r1"), Owner(host=me.host, pid=_gone_pid(), started=1.0), load_s=0.0)
    # Live owners that are not this process: sleeping children, each claiming in its own thread.
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(4)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(sleepers))

    def claim(proc: subprocess.Popen[bytes]) -> None:
        owner = Owner(host=me.host, pid=proc.pid, started=psutil.Process(proc.pid).create_time())
        store = Store.open(url)
        barrier.wait()
        try:
            store.claim_run("r1", owner, load_s=0.0)
            outcomes.append("won")
        except RunInProgressError:
            outcomes.append("refused")
        finally:
            store.close()

    try:
        threads = [threading.Thread(target=claim, args=(proc,)) for proc in sleepers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
    assert sorted(outcomes) == ["refused", "refused", "refused", "won"]
    assert [(s.number, s.state) for s in Store.open(url).run_sessions("r1")] == [(1, "dead"), (2, "running")]


def test_a_store_from_before_sessions_keeps_working(tmp_path: Path) -> None:
    """A store written before run_sessions existed: its tables gain nothing but the new table, and
    a run it left ``running`` (no owner recorded) is interrupted and can be resumed."""
    path = tmp_path / "old.db"
    store = Store.open(f"sqlite:///{path}")
    store.create_run(_run("old"))
    store.add_item("old", _item(0, "k0"))
    store.close()
    con = sqlite3.connect(path)
    con.execute("drop table run_sessions")
    con.commit()
    con.close()

    store = Store.open(f"sqlite:///{path}")
    run = store.get_run("old")
    assert run.status == "interrupted" and [i.doc_id for i in store.run_items("old")] == [0]
    session = store.claim_run("old", this_process(), load_s=0.0)
    assert session.number == 1
    assert store.run_totals("old").items_computed == 1


def test_the_heartbeat_thread_keeps_the_lease_fresh(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{path}")
    far = Owner(host=f"not-{socket.gethostname()}", pid=1, started=0.0)
    s = store.start_run(_run("r1"), far, load_s=0.0)
    _set_heartbeat(path, s.id, datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=LEASE_TTL_S + 5))
    assert store.get_run("r1").status == "interrupted"
    with Heartbeat(lambda: store.heartbeat(s.id), every_s=0.05):
        deadline = time.monotonic() + 30
        while store.get_run("r1").status != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    assert store.get_run("r1").status == "running"
    beats: list[int] = []

    def beat() -> bool:
        beats.append(1)
        return False  # the lease is lost: the thread stops beating

    with Heartbeat(beat, every_s=0.01):
        deadline = time.monotonic() + 30
        while not beats and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
    assert beats == [1]


def test_the_same_command_started_twice_at_once_runs_once(tmp_path: Path) -> None:
    """Two processes that both found nothing to resume create two runs of one run key: the later
    one is refused while the first one's owner lives."""
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        me = this_process()
        live = Owner(host=me.host, pid=sleeper.pid, started=psutil.Process(sleeper.pid).create_time())
        store.start_run(_run("first"), live, load_s=0.0)
        with pytest.raises(RunInProgressError, match=rf"run first of the same command .*\(pid {sleeper.pid} on "):
            store.start_run(_run("second"), me, load_s=0.0)
        assert [r.id for r in store.list_runs()] == ["first"]  # the refused run left nothing behind
        store.start_run(_run("other", key="another command"), me, load_s=0.0)
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its owner gone, the first run no longer stands in the way.
    store.start_run(_run("third"), me, load_s=0.0)
