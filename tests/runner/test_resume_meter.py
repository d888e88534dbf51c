"""The meter of a resumed run: counts and tokens from the committed items, wall time from each
session's clock committed with its items, errors of the latest session only."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agimeter.backends.base import GenCallback, GenRequest, GenResult, RequestError, Timing, Usage
from agimeter.backends.fake import FakeBackend
from agimeter.records.items import ItemRecord
from agimeter.records.measurement import Measurement
from agimeter.records.options import RunOptions
from agimeter.records.run import RunRecord
from agimeter.records.sessions import Owner, SessionTick
from agimeter.runner.heartbeat import this_process
from agimeter.runner.session import execute_run, prepare_tasks
from agimeter.store.repository import Store
from agimeter.testing.raw_rows import write_run_columns

TIMINGS = {"prefill_s", "decode_s", "total_s"}


class _Killed(BaseException):
    """Stands for ``kill -9``: it is no Exception, so no handler of the run sees it and nothing is
    checkpointed; the session is left as a killed process leaves it."""


class _KillingStore(Store):
    """A store whose process "dies" around the n-th item commit of this session."""

    def __init__(self, engine: Any, kill_at: int, *, before_commit: bool) -> None:
        super().__init__(engine)
        self.kill_at = kill_at
        self.before_commit = before_commit
        self.commits = 0

    def add_item(self, run_id: str, record: ItemRecord, tick: SessionTick | None = None) -> None:
        if self.before_commit and self.commits + 1 == self.kill_at:
            raise _Killed
        super().add_item(run_id, record, tick=tick)
        self.commits += 1
        if self.commits == self.kill_at:
            raise _Killed


def _dead_owner() -> Owner:
    """This host and pid, but another process start time: a process that no longer exists."""
    me = this_process()
    return Owner(host=me.host, pid=me.pid, started=me.started - 1000)


def _options(toy: dict[str, Path], *tasks: Path, **kw: Any) -> RunOptions:
    return RunOptions(model="fake:m", tasks=[str(t) for t in tasks], data_dir=str(toy["data"]), **kw)


def _items(store: Store, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(i.task, i.doc_id): i.model_dump(exclude=TIMINGS) for i in store.run_items(run_id)}


def _measurement(run: RunRecord) -> Measurement:
    assert run.summary.measurement is not None
    return run.summary.measurement


@pytest.mark.parametrize("before_commit", [False, True], ids=["killed after a commit", "killed mid-item"])
def test_a_resumed_run_meters_what_an_uninterrupted_one_does(toy_env: dict[str, Path], before_commit: bool) -> None:
    options = _options(toy_env, toy_env["mc"], toy_env["gen"])
    straight = Store.open(f"sqlite:///{toy_env['tmp'] / 'straight.db'}")
    ref_run = execute_run(options, straight, prepare_tasks(options), FakeBackend("m"), 0.25)
    ref = _measurement(ref_run)
    assert (ref.items_computed, ref.items_cached, ref.sessions, ref.load_s) == (80, 0, 1, 0.25)

    url = f"sqlite:///{toy_env['tmp'] / 'killed.db'}"
    engine = Store.open(url).engine
    for kill_at, load_s in ((7, 0.25), (43, 0.5)):  # the second kill lands in the second task
        with pytest.raises(_Killed):
            store = _KillingStore(engine, kill_at, before_commit=before_commit)
            execute_run(options, store, prepare_tasks(options), FakeBackend("m"), load_s, owner=_dead_owner())
    store = Store(engine)
    (killed,) = store.list_runs()
    assert killed.status == "interrupted"
    run = execute_run(options, store, prepare_tasks(options), FakeBackend("m"), 0.75)
    assert run.id == killed.id and run.status == "finished"

    assert _items(store, run.id) == _items(straight, ref_run.id)
    m = _measurement(run)
    assert (m.items_computed, m.items_cached) == (80, 0)
    assert (m.prompt_tokens, m.computed_prompt_tokens, m.completion_tokens) == (
        ref.prompt_tokens,
        ref.computed_prompt_tokens,
        ref.completion_tokens,
    )
    assert m.sessions == 3 and m.errors == {} and m.failed_items == 0
    assert m.load_s == 0.25  # one model load, as an uninterrupted run pays: the first session's
    sessions = store.run_sessions(run.id)
    first, second = (6, 42) if before_commit else (7, 43)
    assert [s.items_computed for s in sessions] == [first, second, 80 - first - second]
    assert [s.state for s in sessions] == ["dead", "dead", "ended"]
    assert m.wall_s == pytest.approx(sum(s.wall_s for s in sessions))
    assert all(s.wall_s > 0 for s in sessions)
    con = sqlite3.connect(toy_env["tmp"] / "killed.db")
    assert con.execute("select count(*) from item_results").fetchone()[0] == 80
    assert con.execute("select count(*) from run_items").fetchone()[0] == 80


def test_own_items_of_earlier_sessions_are_computed_other_runs_items_cached(toy_env: dict[str, Path]) -> None:
    store = Store.open(f"sqlite:///{toy_env['store']}")
    half = _options(toy_env, toy_env["mc"], limit=20)
    execute_run(half, store, prepare_tasks(half), FakeBackend("m"), 0.0)
    full = _options(toy_env, toy_env["mc"])
    with pytest.raises(_Killed):
        killing = _KillingStore(store.engine, 10, before_commit=False)
        execute_run(full, killing, prepare_tasks(full), FakeBackend("m"), 0.0, owner=_dead_owner())
    run = execute_run(full, store, prepare_tasks(full), FakeBackend("m"), 0.0)
    m = _measurement(run)
    assert (m.items_computed, m.items_cached) == (20, 20)
    mine = [i for i in store.run_items(run.id) if i.doc_id >= 20]
    assert m.prompt_tokens == sum(i.prompt_tokens for i in mine)
    assert m.computed_prompt_tokens == sum(i.computed_prompt_tokens for i in mine)
    # A re-run of a finished run is a new run: everything from the cache, nothing computed.
    again = _measurement(execute_run(full, store, prepare_tasks(full), FakeBackend("m"), 0.0))
    assert (again.items_computed, again.items_cached, again.prompt_tokens) == (0, 40, 0)


class _Flaky(FakeBackend):
    """Fails every request whose prompt holds one of ``failing`` (a mutable set)."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__("m")
        self.failing = failing

    def generate(self, requests: Sequence[GenRequest], on_result: GenCallback | None = None) -> list[GenResult]:
        results = []
        for index, req in enumerate(requests):
            if any(f in req.prompt for f in self.failing):
                error = RequestError(kind="server_error", message="HTTP 500")
                result = GenResult(text="", usage=Usage(), timing=Timing(), error=error)
            else:
                (result,) = super().generate([req])
            results.append(result)
            if on_result is not None:
                on_result(index, result)
        return results


def test_errors_describe_the_latest_session_not_a_sum(toy_env: dict[str, Path]) -> None:
    store = Store.open(f"sqlite:///{toy_env['store']}")
    options = _options(toy_env, toy_env["gen"])
    failing = {f"What is {i} + 1?" for i in range(0, 40, 4)}
    first = execute_run(options, store, prepare_tasks(options), _Flaky(failing), 0.0)
    assert first.status == "incomplete"
    m = _measurement(first)
    assert (m.errors, m.failed_items, m.items_computed) == ({"server_error": 10}, 10, 30)

    failing = {f"What is {i} + 1?" for i in (0, 4, 8)}
    second = execute_run(options, store, prepare_tasks(options), _Flaky(failing), 0.0)
    m = _measurement(second)
    assert second.status == "incomplete" and second.id == first.id
    assert (m.errors, m.failed_items, m.items_computed, m.items_cached) == ({"server_error": 3}, 3, 37, 0)

    third = execute_run(options, store, prepare_tasks(options), _Flaky(set()), 0.0)
    m = _measurement(third)
    assert third.status == "finished" and third.error is None
    assert (m.errors, m.failed_items, m.items_computed, m.items_cached, m.sessions) == ({}, 0, 40, 0, 3)
    assert m.completion_tokens == sum(i.completion_tokens for i in store.run_items(third.id))


V2_MEASUREMENT: dict[str, Any] = {
    "schema_version": 2,
    "wall_s": 100.0,
    "load_s": 7.0,
    "items_computed": 20,
    "items_cached": 0,
    "items_per_s": 0.2,
    "prompt_tokens": 1000,
    "computed_prompt_tokens": 800,
    "completion_tokens": 0,
    "prefill_s": 50.0,
    "decode_s": 0.0,
    "prefill_tokens_per_s": 16.0,
    "decode_tokens_per_s": None,
    "peak_rss_bytes": 1,
    "cuda_max_allocated_bytes": None,
    "hardware": {
        "cpu_model": "x",
        "cpu_cores_logical": 2,
        "cpu_cores_physical": 1,
        "ram_bytes": 1,
        "gpu": None,
        "os": "Linux",
        "python": "3.11.2",
        "torch": None,
    },
    "errors": {"server_error": 2},
    "failed_items": 0,
}


def test_a_v2_measurement_loads_and_an_old_interrupted_run_resumes(toy_env: dict[str, Path]) -> None:
    old = Measurement.model_validate(V2_MEASUREMENT)
    assert old.schema_version == 2 and old.sessions is None and old.wall_s == 100.0

    path = toy_env["store"]
    store = Store.open(f"sqlite:///{path}")
    options = _options(toy_env, toy_env["mc"])
    run = execute_run(options, store, prepare_tasks(options), FakeBackend("m"), 0.0)
    # Make it what an older agimeter left after a kill: half the items, a v2 measurement, no sessions.
    con = sqlite3.connect(path)
    con.execute("delete from run_sessions")
    con.execute("delete from run_items where doc_id >= 20")
    con.execute("delete from item_results where doc_id >= 20")
    con.commit()
    con.close()
    summary = {**run.summary.model_dump(mode="json"), "measurement": V2_MEASUREMENT}
    summary.pop("kind")  # an older agimeter's summary was not tagged (run record v1)
    write_run_columns(store, run.id, status="running", summary=summary, schema_version=1)
    assert store.get_run(run.id).status == "interrupted"  # no owner recorded: nobody is running it

    resumed = execute_run(options, store, prepare_tasks(options), FakeBackend("m"), 3.0)
    assert resumed.id == run.id and resumed.status == "finished"
    m = _measurement(resumed)
    assert m.schema_version == 3 and (m.items_computed, m.items_cached) == (40, 0)
    assert m.prompt_tokens == sum(i.prompt_tokens for i in store.run_items(run.id))
    assert m.wall_s > 100.0 and m.load_s == 7.0  # the old sessions' clock and load carry over
    assert m.sessions == 2 and m.errors == {}
