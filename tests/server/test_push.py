"""Uploads: the token is checked before anything else, refused writes change nothing, a good
upload appears in the API at once; ``agimeter push`` against a live server."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from agimeter.cli import serve_cmd
from agimeter.store.repository import Store
from agimeter.testing.raw_rows import write_run_columns

TOKEN = "s3cret-push-token"
ClientFactory = Callable[..., TestClient]


@pytest.fixture()
def payload(fresh_store_url: str) -> dict[str, Any]:
    """A stored run and its items as ``agimeter push`` sends them, under a new id and model."""
    store = Store.open(fresh_store_url)
    run = next(r for r in store.list_runs() if r.model == "fake:alpha")
    items = store.run_items(run.id)
    store.close()
    copy = run.model_copy(update={"id": "upload0001", "model": "fake:uploaded", "model_identity": "u" * 64})
    return {"run": copy.model_dump(mode="json"), "items": [i.model_dump(mode="json") for i in items]}


def run_count(client: TestClient) -> int:
    total: int = client.get("/api/v1/runs").json()["total"]
    return total


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_json(client: TestClient, payload: dict[str, Any]) -> Any:
    """Upload with Python's JSON encoder, which writes NaN and Infinity as a careless client would."""
    headers = {**bearer(TOKEN), "Content-Type": "application/json"}
    return client.post("/api/v1/runs", content=json.dumps(payload), headers=headers)


def test_server_without_token_refuses_every_write(make_client: ClientFactory, payload: dict[str, Any]) -> None:
    client = make_client()
    before = run_count(client)
    for headers in ({}, bearer("anything"), bearer(TOKEN)):
        res = client.post("/api/v1/runs", json=payload, headers=headers)
        assert res.status_code == 403 and "uploads disabled" in res.json()["detail"]
    assert run_count(client) == before


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong-token"), bearer(TOKEN + "x"), {"Authorization": TOKEN}, {"Authorization": "Basic " + TOKEN}],
)
def test_missing_or_wrong_token_is_401(
    make_client: ClientFactory, payload: dict[str, Any], headers: dict[str, str]
) -> None:
    client = make_client(push_token=TOKEN)
    before = run_count(client)
    res = client.post("/api/v1/runs", json=payload, headers=headers)
    assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer"
    assert run_count(client) == before


def test_token_is_checked_before_the_body_is_parsed(make_client: ClientFactory) -> None:
    client = make_client(push_token=TOKEN)
    res = client.post("/api/v1/runs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 401


def test_good_upload_is_stored_and_listed_then_duplicate_is_409(
    make_client: ClientFactory, payload: dict[str, Any]
) -> None:
    client = make_client(push_token=TOKEN)
    before = run_count(client)
    assert not any(e["model"] == "fake:uploaded" for e in client.get("/api/v1/entries?limit=500").json()["items"])
    res = client.post("/api/v1/runs", json=payload, headers=bearer(TOKEN))
    assert res.status_code == 201, res.text
    assert res.json() == {"id": "upload0001", "items": len(payload["items"])}
    assert run_count(client) == before + 1
    assert any(r["id"] == "upload0001" for r in client.get("/api/v1/runs").json()["items"])
    detail = client.get("/api/v1/runs/upload0001").json()
    assert detail["items"] == len(payload["items"]) and detail["scores"]
    # The entry cache sees the new run on the next request.
    uploaded = [e for e in client.get("/api/v1/entries?limit=500").json()["items"] if e["model"] == "fake:uploaded"]
    assert len(uploaded) == 1 and uploaded[0]["runs"] == ["upload0001"]

    again = client.post("/api/v1/runs", json=payload, headers=bearer(TOKEN))
    assert again.status_code == 409 and "already stored" in again.json()["detail"]
    assert run_count(client) == before + 1


@pytest.mark.parametrize(
    "spoil",
    [
        lambda p: p.update(extra="field"),
        lambda p: p["run"].update(surprise=1),
        lambda p: p["items"][3].update(unexpected=True),
        lambda p: p["items"][0].pop("cache_key"),
        lambda p: p["run"].update(status="victorious"),
        lambda p: p["run"].update(id="x" * 40),
        lambda p: p["run"].update(id="../etc"),
        # the run's stored JSON must validate as the readers will read it
        lambda p: p["run"]["summary"]["measurement"].update(wall_s="soon"),
        lambda p: p["run"]["summary"].update(measurement=5),
        lambda p: p["run"]["summary"]["measurement"].pop("hardware"),
        lambda p: p["run"]["summary"]["measurement"].update(prompt_tokens=-1),
        lambda p: p["run"]["summary"].update(protocols=["offline_arith_mc"]),
        lambda p: p["run"]["summary"].update(populations={"offline_arith_mc": {"": "many"}}),
        lambda p: p["run"]["summary"].update(kind="perf"),
        lambda p: p["run"]["summary"].update(surprise=1),
        lambda p: p["run"]["config"].update(price_per_hour="cheap"),
        lambda p: p["run"]["model_info"].update(num_parameters="many"),
        # no NaN or infinity anywhere
        lambda p: p["items"][2]["metrics"].update(acc=math.nan),
        lambda p: p["items"][0].update(prefill_s=math.inf),
        lambda p: p["run"]["summary"]["measurement"].update(prefill_s=math.nan),
        lambda p: p["run"]["summary"]["measurement"].update(decode_tokens_per_s=-math.inf),
        lambda p: p["run"]["config"].update(price_per_hour=math.nan),
        # the store's column sizes
        lambda p: p["run"].update(model_identity="sha256:" + "f" * 194),
    ],
)
def test_bad_body_is_422_and_stores_nothing(
    make_client: ClientFactory, payload: dict[str, Any], spoil: Callable[[dict[str, Any]], None]
) -> None:
    client = make_client(push_token=TOKEN)
    before = run_count(client)
    spoil(payload)
    res = post_json(client, payload)
    assert res.status_code == 422, res.text
    assert run_count(client) == before


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (lambda p: p["run"]["summary"]["measurement"].update(wall_s="soon"), "summary.measurement.wall_s"),
        (lambda p: p["items"][2]["metrics"].update(acc=math.nan), "items.2.metrics.acc is not a finite number"),
        (lambda p: p["run"]["summary"]["measurement"].update(load_s=math.inf), "measurement.load_s is not a finite"),
    ],
)
def test_refusal_names_the_field_and_leaves_the_store_as_it_was(
    make_client: ClientFactory, payload: dict[str, Any], spoil: Callable[[dict[str, Any]], None], field: str
) -> None:
    client = make_client(push_token=TOKEN)
    entries = client.get("/api/v1/entries?limit=500").json()
    spoil(payload)
    res = post_json(client, payload)
    assert res.status_code == 422 and field in json.dumps(res.json()), res.text
    assert client.get("/api/v1/entries?limit=500").json() == entries
    assert client.get("/api/v1/health").status_code == 200 and client.get("/").status_code == 200


def test_body_size_is_capped(make_client: ClientFactory, payload: dict[str, Any]) -> None:
    client = make_client(push_token=TOKEN, max_upload_bytes=10_000)
    before = run_count(client)
    body = json.dumps(payload).encode()
    assert len(body) > 10_000
    res = client.post("/api/v1/runs", content=body, headers={**bearer(TOKEN), "Content-Type": "application/json"})
    assert res.status_code == 413
    chunked = client.post(
        "/api/v1/runs", content=iter([body[:6000], body[6000:]]), headers={**bearer(TOKEN), "Content-Type": "x"}
    )
    assert chunked.status_code == 413
    assert run_count(client) == before


# agimeter push --------------------------------------------------------------------------------
@pytest.fixture()
def live_server(fresh_store_url: str) -> Iterator[Callable[[str | None], str]]:
    """Start ``agimeter serve``'s app under uvicorn on a free port; returns its base URL."""
    import uvicorn

    from agimeter.server import create_app

    servers: list[tuple[uvicorn.Server, threading.Thread, socket.socket]] = []

    def start(token: str | None) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(create_app(fresh_store_url, push_token=token), log_level="error", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        servers.append((server, thread, sock))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread, sock in servers:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture()
def local_run(tmp_path: Any, payload: dict[str, Any]) -> tuple[str, str]:
    """A local store holding one run (the payload's) to push: (store URL, run id)."""
    from agimeter.records.items import ItemRecord
    from agimeter.records.run import RunRecord

    url = f"sqlite:///{tmp_path / 'local.db'}"
    store = Store.open(url)
    run = RunRecord.model_validate(payload["run"])
    store.import_run(run, [ItemRecord.model_validate(i) for i in payload["items"]])
    store.close()
    return url, run.id


def test_push_uploads_then_reports_duplicates(
    live_server: Callable[[str | None], str], local_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store_url, run_id = local_run
    base = live_server(TOKEN)
    monkeypatch.setenv("AGIMETER_PUSH_TOKEN", TOKEN)
    serve_cmd.push(run_id[:6], to=base + "/", store=store_url)
    listed = httpx.get(base + "/api/v1/runs", timeout=10).json()["items"]
    assert any(r["id"] == run_id for r in listed)
    with pytest.raises(serve_cmd.PushError, match="already on the server"):
        serve_cmd.push(run_id, to=base, store=store_url)


def test_push_of_a_local_hf_identity(
    live_server: Callable[[str | None], str], local_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local ``hf:<dir>`` (or ``gguf:``) run's identity is "sha256:" + 64 hex digits: 71 characters."""
    from agimeter.records.run import RunRecord

    store_url, run_id = local_run
    store = Store.open(store_url)
    run = store.get_run(run_id)
    items = store.run_items(run_id)
    identity = "sha256:" + "9" * 64
    long = run.model_copy(update={"id": "longident1", "model": "hf:/models/local-ckpt", "model_identity": identity})
    assert store.import_run(RunRecord.model_validate(long.model_dump()), items)
    store.close()
    base = live_server(TOKEN)
    monkeypatch.setenv("AGIMETER_PUSH_TOKEN", TOKEN)
    serve_cmd.push("longident1", to=base, store=store_url)
    pushed = httpx.get(base + "/api/v1/runs/longident1", timeout=30).json()
    assert pushed["run"]["model_identity"] == identity and pushed["scores"]
    entries = httpx.get(base + "/api/v1/entries", params={"limit": 500}, timeout=30).json()["items"]
    assert any(e["model"] == "hf:/models/local-ckpt" for e in entries)


@pytest.mark.parametrize(
    ("server_token", "client_token", "needle"),
    [(TOKEN, "wrong", "refused the token"), (None, TOKEN, "does not accept uploads")],
)
def test_push_refusals_are_one_line(
    live_server: Callable[[str | None], str],
    local_run: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    server_token: str | None,
    client_token: str,
    needle: str,
) -> None:
    store_url, run_id = local_run
    base = live_server(server_token)
    monkeypatch.setenv("AGIMETER_PUSH_TOKEN", client_token)
    with pytest.raises(serve_cmd.PushError, match=needle) as err:
        serve_cmd.push(run_id, to=base, store=store_url)
    assert "\n" not in str(err.value)


def test_push_checks_the_run_as_the_server_would_before_sending(
    local_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store_url, run_id = local_run
    store = Store.open(store_url)
    summary = store.get_run(run_id).summary.model_dump(mode="json")
    write_run_columns(store, run_id, summary={**summary, "measurement": {**summary["measurement"], "wall_s": math.nan}})
    store.close()
    monkeypatch.setenv("AGIMETER_PUSH_TOKEN", TOKEN)
    # the unreachable server is never contacted: the run is refused here first
    with pytest.raises(serve_cmd.PushError) as err:
        serve_cmd.push(run_id, to="http://127.0.0.1:9", store=store_url, timeout=2)
    assert str(err.value) == f"run {run_id} cannot be uploaded: run.summary.measurement.wall_s is not a finite number"


def test_push_without_token_or_server(local_run: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from agimeter.errors import ConfigError

    store_url, run_id = local_run
    monkeypatch.delenv("AGIMETER_PUSH_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="AGIMETER_PUSH_TOKEN"):
        serve_cmd.push(run_id, to="http://127.0.0.1:9", store=store_url)
    monkeypatch.setenv("AGIMETER_PUSH_TOKEN", TOKEN)
    with pytest.raises(serve_cmd.PushError, match="cannot reach"):
        serve_cmd.push(run_id, to="http://127.0.0.1:9", store=store_url, timeout=2)
    with pytest.raises(ConfigError, match="--to"):
        serve_cmd.push(run_id, to="ftp://example.org", store=store_url)


def test_serve_takes_the_token_from_the_environment(fresh_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    monkeypatch.setenv("MY_PUSH_TOKEN", TOKEN)
    serve_cmd.serve(store=fresh_store_url, host="127.0.0.1", port=8123, push_token_env="MY_PUSH_TOKEN")
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    with TestClient(seen["app"]) as client:
        assert client.get("/api/v1/health").json()["uploads_enabled"] is True
    monkeypatch.delenv("MY_PUSH_TOKEN")
    serve_cmd.serve(store=fresh_store_url, push_token_env="MY_PUSH_TOKEN")
    with TestClient(seen["app"]) as client:
        assert client.get("/api/v1/health").json()["uploads_enabled"] is False


def test_entry_cache_follows_the_store(fresh_store_url: str, payload: dict[str, Any]) -> None:
    from agimeter.records.items import ItemRecord
    from agimeter.records.run import RunRecord
    from agimeter.server.cache import EntryCache

    store = Store.open(fresh_store_url)
    cache = EntryCache(store)
    first = cache.entries()
    assert cache.entries() is first  # unchanged store: no recomputation
    run = RunRecord.model_validate(payload["run"])
    store.import_run(run, [ItemRecord.model_validate(i) for i in payload["items"]])  # not through the server
    second = cache.entries()
    assert second is not first and len(second) == len(first) + 1
    store.update_run(run.id, status="failed")  # a status change moves updated_at
    assert len(cache.entries()) == len(first)
    store.close()
