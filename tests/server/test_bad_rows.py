"""One malformed row in the store (written directly, as an old version or a bug could) is isolated:
the leaderboard, health, model pages, entries, ``show``, ``report`` and ``density`` keep working
for everything else, and the bad run itself is named in one line."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agimeter.store.repository import Store
from agimeter.testing.raw_rows import write_run_columns

ClientFactory = Callable[..., TestClient]
BROKEN = "broken0001"


def _measurement(summary: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**summary, "measurement": {**summary["measurement"], **changes}}


SPOILERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "measurement field of the wrong type": lambda s: _measurement(s, wall_s="soon"),
    "measurement not a mapping": lambda s: {**s, "measurement": 5},
    "NaN in the measurement": lambda s: _measurement(s, prefill_s=math.nan),
    "negative token count": lambda s: _measurement(s, prompt_tokens=-3),
    "protocols not a mapping": lambda s: {**s, "protocols": ["offline_arith_mc"]},
    "broken perf block": lambda s: {"kind": "perf", "perf": {"points": "many"}},
    "unknown summary key": lambda s: {**s, "surprise": True},
}


def insert_broken_run(store_url: str, spoil: Callable[[dict[str, Any]], dict[str, Any]], nan_item: bool = False) -> str:
    """A copy of fake:alpha's run as model fake:broken with a spoilt summary (or a NaN item metric)."""
    store = Store.open(store_url)
    run = next(r for r in store.list_runs() if r.model == "fake:alpha")
    items = store.run_items(run.id)
    if nan_item:
        items = [
            i.model_copy(update={"cache_key": "n" + i.cache_key[1:], "metrics": {k: math.nan for k in i.metrics}})
            for i in items
        ]
    copy = run.model_copy(update={"id": BROKEN, "model": "fake:broken", "model_identity": "b" * 64})
    assert store.import_run(copy, items)
    write_run_columns(store, BROKEN, summary=spoil(run.summary.model_dump(mode="json")))
    store.close()
    return BROKEN


def models(client: TestClient) -> set[str]:
    return {e["model"] for e in client.get("/api/v1/entries", params={"limit": 500}).json()["items"]}


@pytest.mark.parametrize("case", [*SPOILERS, "NaN item metric"])
def test_every_surface_of_the_server_survives_one_bad_run(
    make_client: ClientFactory, fresh_store_url: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = make_client().get("/api/v1/health").json()
    insert_broken_run(fresh_store_url, SPOILERS.get(case, lambda s: s), nan_item=case == "NaN item metric")
    with make_client() as client, caplog.at_level("WARNING"):
        health = client.get("/api/v1/health")
        assert health.status_code == 200
        assert health.json()["runs"] == before["runs"] + 1 and health.json()["entries"] == before["entries"]
        assert f"run {BROKEN}:" in caplog.text and "left out" in caplog.text
        listed = models(client)
        assert "fake:broken" not in listed and {"fake:alpha", "fake:beta"} <= listed
        page = client.get("/")
        assert page.status_code == 200 and "fake:alpha" in page.text and "fake:broken" not in page.text
        alpha = next(
            e
            for e in client.get("/api/v1/entries", params={"q": "alpha"}).json()["items"]
            if e["model"] == "fake:alpha"
        )
        assert client.get(f"/models/{alpha['key']}").status_code == 200
        detail = client.get(f"/api/v1/runs/{BROKEN}")
        assert detail.status_code == 200 and detail.json()["scores"] == []
        problem = detail.json()["problem"]
        assert problem.startswith(f"run {BROKEN}: ") and "\n" not in problem
        assert any(r["id"] == BROKEN for r in client.get("/api/v1/runs").json()["items"])


def test_the_problem_names_the_field(make_client: ClientFactory, fresh_store_url: str) -> None:
    insert_broken_run(fresh_store_url, SPOILERS["measurement field of the wrong type"])
    problem = make_client().get(f"/api/v1/runs/{BROKEN}").json()["problem"]
    assert problem.startswith(f"run {BROKEN}: summary.measurement.wall_s: ")


def test_cli_show_report_and_density_survive_one_bad_run(
    agimeter: Callable[..., Any], fresh_store_url: str, tmp_path: Path
) -> None:
    insert_broken_run(fresh_store_url, SPOILERS["measurement field of the wrong type"])
    store = Store.open(fresh_store_url)
    good = next(r.id for r in store.list_runs() if r.model == "fake:alpha")
    store.close()
    bad = agimeter("show", BROKEN, "--store", fresh_store_url)
    assert bad.returncode == 2, bad.stderr
    message = bad.stderr.strip()
    assert len(message.splitlines()) == 1 and f"run {BROKEN}: summary.measurement.wall_s" in message
    shown = agimeter("show", good, "--store", fresh_store_url, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    out = tmp_path / "report.md"
    report = agimeter("report", "--store", fresh_store_url, "--format", "md", "--out", str(out))
    assert report.returncode == 0, report.stderr
    text = out.read_text()
    assert "fake:alpha" in text and f"run {BROKEN}: summary.measurement.wall_s" in text
    density = agimeter("density", "--store", fresh_store_url, "--format", "json", "--provenance", "measured")
    assert density.returncode == 0, density.stderr
    assert "fake:broken" not in density.stdout and "fake:alpha" in density.stdout
