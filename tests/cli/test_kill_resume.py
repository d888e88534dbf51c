"""``kill -9`` a run at random points, resume it, and compare with a run that was never
interrupted: nothing lost, nothing duplicated, the same results and the same meter totals.

Kill points are chosen by a seeded generator, by how many items the store holds (not by a clock),
so the test does the same on a loaded machine as on an idle one; only how long it takes varies."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.testing.records import sqlite_count

Cli = Callable[..., subprocess.CompletedProcess[str]]

LIMIT = 30  # items per task of the offline suite: 6 tasks, 180 items
ITEMS = 6 * LIMIT
TIMING_FIELDS = {"prefill_s", "decode_s", "total_s"}


def _run_args(store: Path) -> list[str]:
    return [
        "run",
        "--model",
        "fake:killed",
        "--model-arg",
        "delay_s=0.02",
        "--tasks",
        "offline",
        "--limit",
        str(LIMIT),
        "--price-per-hour",
        "3600",  # $ per run = billed seconds
        "--store",
        f"sqlite:///{store}",
    ]


def _popen(store: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "agimeter.cli.app", *_run_args(store)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def _wait_for_items(proc: subprocess.Popen[bytes], store: Path, target: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if sqlite_count(store, "select count(*) from run_items") >= target:
            return
        time.sleep(0.02)
    assert proc.poll() is not None or time.monotonic() < deadline, f"no {target} items within {timeout} s"


def _export(agimeter: Cli, store: Path, run_id: str) -> dict[tuple[str, int], dict[str, object]]:
    res = agimeter("export", run_id, "--store", f"sqlite:///{store}")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    return {(r["task"], r["doc_id"]): {k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows}


def _run_id(store: Path) -> str:
    con = sqlite3.connect(store)
    try:
        (run_id,) = con.execute("select id from runs").fetchone()
        return str(run_id)
    finally:
        con.close()


def _show(agimeter: Cli, store: Path) -> dict[str, object]:
    res = agimeter("show", _run_id(store), "--format", "json", "--store", f"sqlite:///{store}")
    assert res.returncode == 0, res.stderr
    payload: dict[str, object] = json.loads(res.stdout)
    return payload


def _pause_outside_a_write(proc: subprocess.Popen[bytes], store: Path) -> None:
    """SIGSTOP ``proc`` at a moment it holds no write lock on the store (else resume and retry)."""
    for _ in range(200):
        proc.send_signal(signal.SIGSTOP)
        con = sqlite3.connect(store, timeout=0)
        try:
            con.execute("begin immediate")
            con.rollback()
            return
        except sqlite3.OperationalError:  # the owner was stopped inside a write: let it finish
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        finally:
            con.close()
    raise AssertionError("the owner never paused outside a write")


def _runs(agimeter: Cli, store: Path) -> str:
    res = agimeter("runs", "--store", f"sqlite:///{store}")
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.slow
def test_kill_9_twenty_times_then_resume_equals_an_uninterrupted_run(agimeter: Cli, tmp_path: Path) -> None:
    straight = tmp_path / "straight.db"
    clean = agimeter(*_run_args(straight), "--format", "json")
    assert clean.returncode == 0, clean.stderr
    reference = json.loads(clean.stdout)

    killed = tmp_path / "killed.db"
    rng = random.Random(20261213)
    # 17 kills at seeded item counts (the last items take longer than the jitter, so no session
    # finishes the run), and 3 early in the run at seeded times after the start, when far more
    # work is left than the start-up takes.
    targets = sorted(rng.sample(range(1, ITEMS - 3), 17))
    kills = 0
    for i in range(20):
        proc = _popen(killed)
        if i in (2, 7, 12):
            # Anywhere from start-up (imports, claiming the run) into the first items.
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            _wait_for_items(proc, killed, targets.pop(0))
            time.sleep(rng.uniform(0.0, 0.05))  # computing, committing, or between two items
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills == 20
    assert sqlite_count(killed, "select count(*) from run_items") < ITEMS

    final = agimeter(*_run_args(killed), "--format", "json")
    assert final.returncode == 0, final.stderr
    resumed = json.loads(final.stdout)
    assert resumed["run"]["status"] == "finished"

    # 0 lost, 0 duplicated.
    for store in (straight, killed):
        assert sqlite_count(store, "select count(*) from runs") == 1
        assert sqlite_count(store, "select count(*) from item_results") == ITEMS
        assert sqlite_count(store, "select count(*) from run_items") == ITEMS
        assert sqlite_count(store, "select count(*) from (select distinct task, doc_id from run_items)") == ITEMS
    # A kill during start-up (before the process claimed the run) leaves no session behind.
    sessions = sqlite_count(killed, "select count(*) from run_sessions")
    assert kills // 2 < sessions <= kills + 1
    # Each session committed only what was missing: the per-session counts add up to the items.
    assert sqlite_count(killed, "select sum(items_computed) from run_sessions") == ITEMS

    # The same results, item by item (timings aside).
    assert _export(agimeter, killed, resumed["run"]["id"]) == _export(agimeter, straight, reference["run"]["id"])

    # The same meter totals: counts and tokens exactly.
    m, ref = resumed["measurement"], reference["measurement"]
    assert m["items_computed"] == ref["items_computed"] == ITEMS
    assert m["items_cached"] == ref["items_cached"] == 0
    for key in ("prompt_tokens", "computed_prompt_tokens", "completion_tokens"):
        assert m[key] == ref[key], key
    assert m["sessions"] == sessions and ref["sessions"] == 1
    assert m["errors"] == {} and m["failed_items"] == 0

    # $ = billed seconds here (3600 $/h). Each session commits its clock with every item, so a kill
    # loses only the time since the last commit: the partial work on the item in flight, which is
    # not billed (the next session does that item again and bills it once). What a resumed run
    # bills beyond an uninterrupted one is each session's start of its tasks (render the prompts,
    # look the stored items up, link them): here about one item's time per session. Allow two
    # items' time per session above and one below. Beyond that only the machine's load differs
    # between runs made at different times (the same run took 8.4 s on an idle and 13.8 s on a busy
    # 2-core machine), so the uninterrupted run is made again after the kills, and the resumed $
    # must lie between the two, widened by 10 %.
    after = agimeter(*_run_args(tmp_path / "straight-after.db"), "--format", "json")
    assert after.returncode == 0, after.stderr
    refs = [reference["cost"]["usd_per_run"], json.loads(after.stdout)["cost"]["usd_per_run"]]
    usd = resumed["cost"]["usd_per_run"]
    per_item = max(refs) / ITEMS
    low, high = 0.9 * min(refs) - sessions * per_item, 1.1 * max(refs) + 2 * sessions * per_item
    counts = {k: (m[k], ref[k]) for k in ("items_computed", "items_cached", "prompt_tokens", "completion_tokens")}
    print(f"kills={kills} sessions={sessions} resumed vs uninterrupted {counts}")
    print(f"$ resumed={usd:.4f} uninterrupted={refs} allowed=[{low:.4f}, {high:.4f}]")
    assert low <= usd <= high, (usd, refs, low, high)
    assert resumed["cost"]["usd_per_1m_tokens"] == pytest.approx(
        usd / (m["prompt_tokens"] + m["completion_tokens"]) * 1e6
    )


def test_killed_run_is_interrupted_and_a_live_one_is_not_taken(agimeter: Cli, tmp_path: Path) -> None:
    store = tmp_path / "k.db"
    proc = _popen(store)
    try:
        _wait_for_items(proc, store, 5)
        # The owner is paused (alive, holding its lease) so that it cannot finish the run while the
        # slow checks below start their own processes on a busy machine.
        _pause_outside_a_write(proc, store)
        # While the owner lives, a second process refuses to run the same run.
        second = agimeter(*_run_args(store))
        assert second.returncode == 2, second.stderr
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "in progress elsewhere" in lines[0] and f"pid {proc.pid}" in lines[0], lines
        assert "running" in _runs(agimeter, store) and _show(agimeter, store)["run"]["status"] == "running"  # type: ignore[index]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    listed = _runs(agimeter, store)
    assert "interrupted" in listed and "running" not in listed
    run = _show(agimeter, store)["run"]
    assert isinstance(run, dict) and run["status"] == "interrupted"
    assert "re-run the same command" in str(run["error"])
    # The store itself still says running: only its owner's death makes it interrupted.
    assert sqlite3.connect(store).execute("select status from runs").fetchone()[0] == "running"

    resumed = agimeter(*_run_args(store), "--format", "json")
    assert resumed.returncode == 0, resumed.stderr
    payload = json.loads(resumed.stdout)
    assert payload["run"]["status"] == "finished" and payload["run"]["id"] == run["id"]
    assert payload["measurement"]["items_computed"] == ITEMS
