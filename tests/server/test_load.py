"""The leaderboard under load (issue 13): ``agimeter serve`` as a real process on loopback, 200
clients hammering ``/api/v1/compare`` for 10 s (in their own process) while a probe here times
``/api/v1/health``. Health must answer within 1 s at p99, and every compare answer must be 200,
or 429/503 with ``Retry-After``.

The store holds two measured models on 12 tasks of 300 items in 4 dimensions, so that one
comparison (paired tests and the per-dimension bootstrap) costs about a second of CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from agimeter.runner.hardware import detect_hardware
from agimeter.runner.meter import Measurement
from agimeter.store.records import ItemRecord, RunRecord
from agimeter.store.repository import Store
from agimeter.testing.records import item_record

pytestmark = pytest.mark.slow

CLIENTS = 200
SECONDS = 10.0
HEALTH_P99_S = 1.0  # the bound
PROBE_EVERY_S = 0.05
TASKS = 12
ITEMS = 300
DIMENSIONS = ("knowledge", "reasoning", "math", "coding")


def _run(model: str, skill: float, seed: int) -> tuple[RunRecord, list[ItemRecord]]:
    rng = np.random.default_rng(seed)
    identity = hashlib.sha256(model.encode()).hexdigest()
    items, protocols = [], {}
    for t in range(TASKS):
        task = f"heavy_{t:02d}"
        protocols[task] = {
            "task": task,
            "version": "1",
            "dimension": DIMENSIONS[t % len(DIMENSIONS)],
            "counts_toward_dimension": True,  # a user task joins its dimension only when it says so
            "metrics": ["acc"],
            "output_type": "multiple_choice",
            "fewshot": {"num_fewshot": 0},
        }
        for doc in range(ITEMS):
            correct = bool(rng.random() < skill)
            items.append(
                item_record(
                    doc,
                    hashlib.sha256(f"{identity}/{task}/{doc}".encode()).hexdigest(),
                    task=task,
                    prediction=0 if correct else 1,
                    correct=correct,
                    metrics={"acc": float(correct)},
                    chance={"acc": 0.25},
                    prompt_sha256=hashlib.sha256(f"{task}/{doc}".encode()).hexdigest(),
                )
            )
    measurement = Measurement(
        wall_s=10.0,
        load_s=1.0,
        items_computed=len(items),
        items_cached=0,
        items_per_s=len(items) / 10.0,
        prompt_tokens=20 * len(items),
        computed_prompt_tokens=20 * len(items),
        completion_tokens=len(items),
        prefill_s=0.01 * len(items),
        decode_s=0.0,
        prefill_tokens_per_s=2000.0,
        decode_tokens_per_s=None,
        peak_rss_bytes=10**9,
        cuda_max_allocated_bytes=None,
        hardware=detect_hardware(),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    run = RunRecord(
        id=f"heavy{seed:04d}",
        run_key=identity,
        status="finished",
        created_at=now,
        updated_at=now,
        model=model,
        model_identity=identity,
        tasks=list(protocols),
        config={"profile": "laptop-cpu", "price_per_hour": 0.05},
        model_info={"backend": "fake", "name": model, "identity": identity, "dtype": "float32"},
        summary={"measurement": measurement.model_dump(mode="json"), "protocols": protocols},
    )
    return run, items


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def heavy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """(base URL, compare paths) of ``agimeter serve`` over the heavy store."""
    path = tmp_path_factory.mktemp("load") / "store.db"
    url = f"sqlite:///{path}"
    store = Store.open(url)
    for seed, (model, skill) in enumerate((("fake:heavy-a", 0.55), ("fake:heavy-b", 0.6))):
        assert store.import_run(*_run(model, skill, seed))
    store.close()
    port = _free_port()
    log = path.with_name("serve.log")  # a file, not a pipe: a full pipe would stall the server
    with log.open("w") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "agimeter.cli.app", "serve", "--store", url, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "AGIMETER_PUSH_TOKEN": ""},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                entries = httpx.get(base + "/api/v1/entries", params={"provenance": "measured"}, timeout=30).json()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"agimeter serve did not start: {log.read_text()}") from None
                time.sleep(0.2)
        a, b = (e["key"] for e in entries["items"])
        yield base, [f"/api/v1/compare?a={a}&b={b}", f"/api/v1/compare?a={b}&b={a}"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a server still busy with work it should have refused
            proc.kill()
            proc.wait(timeout=30)


def _measure(base: str, paths: list[str]) -> tuple[dict[str, object], list[float]]:
    """Start the load in another process, probe health here; (load result, health latencies)."""
    load = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agimeter.testing.compare_load",
            base,
            *paths,
            "--clients",
            str(CLIENTS),
            "--seconds",
            str(SECONDS),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as probe:
        time.sleep(1.0)  # let the clients start
        end = time.monotonic() + SECONDS - 1.5
        while time.monotonic() < end:
            sent = time.perf_counter()
            try:
                ok = probe.get("/api/v1/health").status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - sent if ok else 30.0)
            time.sleep(PROBE_EVERY_S)
    out, err = load.communicate(timeout=120)
    assert load.returncode == 0, err
    return json.loads(out), latencies


def test_health_stays_responsive_while_compare_is_hammered(heavy_server: tuple[str, list[str]]) -> None:
    base, paths = heavy_server
    for attempt in (1, 2):  # one retry of the whole measurement on a busy machine
        load, latencies = _measure(base, paths)
        p50, p99 = (float(np.percentile(latencies, q)) for q in (50, 99))
        print(
            f"\nattempt {attempt}: health p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms over "
            f"{len(latencies)} probes; compare {json.dumps(load)}"
        )
        if p99 < HEALTH_P99_S:
            break
    assert p99 < HEALTH_P99_S, f"health p99 {p99:.2f} s under load"
    statuses = {int(code): n for code, n in load["statuses"].items()}  # type: ignore[attr-defined]
    assert statuses.get(200, 0) > 0, load
    assert set(statuses) <= {200, 429, 503}, load
    assert load["refusals_without_retry_after"] == 0 and load["transport_errors"] == {}, load


def test_the_heavy_pair_is_compared_item_by_item(heavy_server: tuple[str, list[str]]) -> None:
    """The comparison the load asks for is the expensive one: every item paired, every dimension."""
    base, paths = heavy_server
    view = httpx.get(base + paths[0], timeout=60).json()
    assert view["paired"]["shared_items"] == TASKS * ITEMS and len(view["paired"]["dimensions"]) == len(DIMENSIONS)
