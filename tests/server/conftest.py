"""A store with real-looking data for the server tests, built once per session (~3 s).

- the published catalog (the ``published_catalog`` fixture);
- two fake models on the offline suite (different hash log-likelihoods, so different scores);
- a fake model on ARC-Challenge and HellaSwag, re-imported as ``hf:Qwen/Qwen2.5-0.5B`` so that it
  meets its published entry (needs the benchmark data: ``data_dir_if_present``);
- a model served by the stub OpenAI server: an evaluation run and a ``perf`` sweep (latency, cost).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agimeter.store.repository import Store
from agimeter.testing.stub_server import start_process

TOKEN = "s3cret-push-token"
QWEN = "hf:Qwen/Qwen2.5-0.5B"


def _evaluate(store: Store, model: str, tasks: list[str], limit: int, data_dir: Path | None = None) -> str:
    from agimeter.runner.session import RunOptions, execute_run, load_backend, prepare_tasks

    options = RunOptions(
        model=model,
        tasks=tasks,
        limit=limit,
        data_dir=str(data_dir) if data_dir else None,
        profile="laptop-cpu",
        price_per_hour=0.05,
    )
    prepared = prepare_tasks(options)
    backend, load_s = load_backend(options)
    try:
        return execute_run(options, store, prepared, backend, load_s).id
    finally:
        backend.close()


def _perf(store: Store, model: str) -> str:
    from agimeter.backends.registry import create_backend
    from agimeter.perf.session import PerfOptions, run_perf, store_perf

    options = PerfOptions(model=model, levels=[1, 2], requests=6, output_tokens=4, input_tokens=16, price_per_hour=0.1)
    backend = create_backend(model)
    try:
        return store_perf(store, run_perf(options, backend), backend).id
    finally:
        backend.close()


def _as_hf_checkpoint(store: Store, run_id: str, model: str) -> str:
    """The same run and items, stored as if an ``hf:`` backend had measured ``model``."""
    run = store.get_run(run_id)
    items = store.run_items(run_id)
    copy = run.model_copy(
        update={
            "id": run.id[::-1],
            "model": model,
            "model_identity": "q" * 64,
            "model_info": {**run.model_info, "backend": "hf", "num_parameters": 494_032_768, "dtype": "bfloat16"},
        }
    )
    assert store.import_run(copy, items)
    return copy.id


@pytest.fixture(scope="session")
def built_store(
    tmp_path_factory: pytest.TempPathFactory, published_catalog: Path, data_dir_if_present: Path | None
) -> Path:
    from agimeter.store.published import load_catalog
    from agimeter.tasks.suites import expand_task_list

    path = tmp_path_factory.mktemp("server-store") / "store.db"
    store = Store.open(f"sqlite:///{path}")
    catalog, sha = load_catalog(published_catalog)
    store.import_catalog(catalog, sha, published_catalog, "published")
    offline = expand_task_list("offline")
    # 50 items a task: the default minimum (analysis.selection) below which a score is not ranked
    _evaluate(store, "fake:alpha", offline, limit=50)
    beta = _evaluate(store, "fake:beta", offline, limit=50)
    # Peak RSS is process-wide: runs made in one test process can share it. Give one run its own
    # value so that sorting by memory has something to order.
    run = store.get_run(beta)
    measurement = dict(run.summary["measurement"])
    measurement["peak_rss_bytes"] = int(measurement["peak_rss_bytes"]) * 3
    store.update_run(beta, summary={**run.summary, "measurement": measurement}, status=run.status)
    if data_dir_if_present is not None:
        run_id = _evaluate(store, "fake:qwen", ["arc_challenge", "hellaswag"], limit=16, data_dir=data_dir_if_present)
        _as_hf_checkpoint(store, run_id, QWEN)
    proc, url = start_process("--first-ms", "5", "--itl-ms", "1")
    try:
        served = f"openai:stub-model@{url}"
        _evaluate(store, served, [t for t in offline if t.endswith("_gen")], limit=6)
        _perf(store, served)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    store.close()  # checkpoints the WAL, so the file can be copied
    return path


@pytest.fixture(scope="session")
def store_url(built_store: Path) -> str:
    """The shared store: read-only tests only."""
    return f"sqlite:///{built_store}"


@pytest.fixture()
def fresh_store_url(built_store: Path, tmp_path: Path) -> str:
    """A private copy of the store, for tests that write."""
    copy = tmp_path / "store.db"
    shutil.copy(built_store, copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="session")
def client(store_url: str) -> Iterator[TestClient]:
    from agimeter.server import create_app

    with TestClient(create_app(store_url)) as test_client:
        yield test_client


ClientFactory = Callable[..., TestClient]


@pytest.fixture()
def make_client(fresh_store_url: str) -> Iterator[ClientFactory]:
    """``make_client(push_token=...)``: a client over a private store copy."""
    from agimeter.server import create_app

    clients: list[TestClient] = []

    def make(**kwargs: object) -> TestClient:
        test_client = TestClient(create_app(fresh_store_url, **kwargs))  # type: ignore[arg-type]
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        test_client.close()


@pytest.fixture(scope="session")
def qwen_keys(client: TestClient, data_dir: Path) -> tuple[str, str]:
    """(measured key, published key) of the checkpoint stored both ways (needs the benchmark data)."""
    items = client.get("/api/v1/entries", params={"limit": 500, "q": "qwen2.5-0.5b"}).json()["items"]
    measured = next(e["key"] for e in items if e["model"] == QWEN)
    published = next(e["key"] for e in items if e["model"] == QWEN.removeprefix("hf:"))
    return measured, published
