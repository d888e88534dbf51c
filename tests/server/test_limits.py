"""Bounded work for anonymous clients, in process: a comparison is computed once per store state and
pair, concurrent requests share it, work beyond the small queue is refused at once with 503 and
Retry-After, past the in-flight cap every route but health is refused, and health never waits.

The comparison is slowed down (a sleep in its worker thread) so that requests overlap for sure."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agimeter.server import compare as compare_module
from agimeter.server import create_app
from agimeter.server.compare import CompareLimits

SLOW_S = 0.6


@pytest.fixture()
def slow_compare(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Each comparison sleeps SLOW_S in its worker thread (or until the event is set)."""
    release = threading.Event()
    real = compare_module.compare_entries

    def slow(*args: Any, **kwargs: Any) -> Any:
        release.wait(SLOW_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_module, "compare_entries", slow)
    yield release
    release.set()


def _measured_keys(app: FastAPI) -> tuple[str, str]:
    entries = app.state.agimeter.cache.entries()
    alpha = next(e.key for e in entries if e.model == "fake:alpha")
    beta = next(e.key for e in entries if e.model == "fake:beta")
    return alpha, beta


async def under_way(app: FastAPI) -> None:
    """Until a comparison is being computed (bounded: the test fails after 30 s)."""
    for _ in range(3000):
        if app.state.agimeter.compares.in_progress:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no comparison started")


def _run(app: FastAPI, requests: Callable[[httpx.AsyncClient], Any]) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            return await requests(client)

    return asyncio.run(main())


def test_a_comparison_is_computed_once_per_store_state(fresh_store_url: str) -> None:
    from fastapi.testclient import TestClient

    app = create_app(fresh_store_url, push_token="t")
    a, b = _measured_keys(app)
    compares = app.state.agimeter.compares
    with TestClient(app) as client:
        first = client.get("/api/v1/compare", params={"a": a, "b": b})
        again = client.get("/api/v1/compare", params={"a": a, "b": b})
        assert first.status_code == again.status_code == 200 and first.json() == again.json()
        assert compares.computed == 1
        assert client.get("/compare", params={"a": a, "b": b}).status_code == 200  # the page shares it
        assert compares.computed == 1
        client.get("/api/v1/compare", params={"a": b, "b": a})
        assert compares.computed == 2
        # an upload is a new store state: computed again
        store = app.state.agimeter.store
        run = next(r for r in store.list_runs() if r.model == "fake:alpha")
        copy = run.model_copy(update={"id": "upload0002", "model": "fake:other", "model_identity": "o" * 64})
        body = {
            "run": copy.model_dump(mode="json"),
            "items": [i.model_dump(mode="json") for i in store.run_items(run.id)],
        }
        assert client.post("/api/v1/runs", json=body, headers={"Authorization": "Bearer t"}).status_code == 201
        assert client.get("/api/v1/compare", params={"a": a, "b": b}).status_code == 200
        assert compares.computed == 3


def test_concurrent_requests_share_one_computation_and_overflow_is_503(
    fresh_store_url: str, slow_compare: threading.Event
) -> None:
    app = create_app(fresh_store_url, compare_limits=CompareLimits(max_running=1, max_waiting=0))
    a, b = _measured_keys(app)

    async def requests(client: httpx.AsyncClient) -> list[httpx.Response]:
        same = [client.get("/api/v1/compare", params={"a": a, "b": b}) for _ in range(5)]
        first = asyncio.gather(*same)
        await under_way(app)
        other = await client.get("/api/v1/compare", params={"a": b, "b": a})
        return [*await first, other]

    *shared, other = _run(app, requests)
    assert [r.status_code for r in shared] == [200] * 5
    assert len({r.content for r in shared}) == 1 and app.state.agimeter.compares.computed == 1
    assert other.status_code == 503 and int(other.headers["retry-after"]) >= 1
    assert "retry later" in other.json()["detail"]


def test_a_wait_past_the_bound_is_503_not_a_hang(fresh_store_url: str, slow_compare: threading.Event) -> None:
    limits = CompareLimits(max_running=1, max_waiting=1, max_wait_s=SLOW_S / 4)
    app = create_app(fresh_store_url, compare_limits=limits)
    a, b = _measured_keys(app)

    async def requests(client: httpx.AsyncClient) -> list[httpx.Response]:
        return list(await asyncio.gather(client.get("/api/v1/compare", params={"a": a, "b": b})))

    [late] = _run(app, requests)
    assert late.status_code == 503 and "retry-after" in late.headers


def test_past_the_in_flight_cap_everything_but_health_is_refused(
    fresh_store_url: str, slow_compare: threading.Event
) -> None:
    app = create_app(fresh_store_url, max_in_flight=1)
    a, b = _measured_keys(app)

    async def requests(client: httpx.AsyncClient) -> dict[str, Any]:
        finished: list[str] = []
        busy = asyncio.ensure_future(client.get("/api/v1/compare", params={"a": a, "b": b}))
        busy.add_done_callback(lambda _: finished.append("compare"))
        await under_way(app)
        refused = [await client.get(path) for path in ("/", "/api/v1/entries", f"/models/{a}")]
        health = await client.get("/api/v1/health")
        finished.append("health")
        return {"refused": refused, "health": health, "slow": await busy, "finished": finished}

    got = _run(app, requests)
    assert [r.status_code for r in got["refused"]] == [503, 503, 503]
    assert all(r.headers["retry-after"] == "1" for r in got["refused"])
    assert got["health"].status_code == 200 and got["health"].json()["entries"] > 0
    assert got["finished"] == ["health", "compare"] and got["slow"].status_code == 200  # health did not wait
