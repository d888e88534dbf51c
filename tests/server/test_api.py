"""The JSON API over a store with measured and published entries: sorting, filters, pagination,
errors, runs and comparisons."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def entries(client: TestClient, **params: Any) -> dict[str, Any]:
    res = client.get("/api/v1/entries", params={"limit": 500, **params})
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def keys(page: dict[str, Any]) -> list[str]:
    return [e["key"] for e in page["items"]]


def test_health_counts_runs_and_entries(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["runs"] >= 5
    assert body["published_models"] >= 40 and body["entries"] > body["published_models"]
    assert body["uploads_enabled"] is False


def _coverage_groups(items: list[dict[str, Any]]) -> list[list[float]]:
    """Consecutive runs of entries with the same coverage: their overall values."""
    groups: list[tuple[list[str], list[float]]] = []
    for e in items:
        if e["overall"] is None:
            continue
        if not groups or groups[-1][0] != sorted(e["coverage"]):
            groups.append((sorted(e["coverage"]), []))
        groups[-1][1].append(e["overall"])
    assert len({",".join(c) for c, _ in groups}) == len(groups)  # each coverage in one block
    assert [len(c) for c, _ in groups] == sorted((len(c) for c, _ in groups), reverse=True)  # widest first
    return [values for _, values in groups]


def test_default_sort_is_overall_descending_with_missing_last(client: TestClient) -> None:
    """Issue 15: overall ranks only within one coverage (the same dimensions behind the index); it
    used to be one descending list over entries averaging different dimensions."""
    page = entries(client)
    assert page["sort"] == "overall" and page["order"] == "desc" and page["total"] == len(page["items"])
    values = [e["overall"] for e in page["items"]]
    present = [v for v in values if v is not None]
    groups = _coverage_groups(page["items"])
    assert len(groups) > 1 and all(g == sorted(g, reverse=True) for g in groups)
    assert values == present + [None] * (len(values) - len(present))
    for e in page["items"]:
        assert (e["rank"] is None) == (e["overall"] is None)
    first = next(e for e in page["items"] if e["overall"] is not None)
    assert first["rank"] == 1 and first["rank_among"] == len(groups[0])


@pytest.mark.parametrize("column", ["params", "overall", "released", "cost", "memory", "reasoning"])
def test_sort_order_changes_the_order_and_keeps_missing_values_last(client: TestClient, column: str) -> None:
    field = {"params": "params_b", "memory": "memory_gb"}.get(column, column)

    def value(e: dict[str, Any]) -> Any:
        if column == "cost":
            return e["cost"]["usd_per_1m_blended"] if e["cost"] else None
        if column == "reasoning":
            return e["dimensions"].get("reasoning")
        return e[field]

    asc = entries(client, sort=column, order="asc")["items"]
    desc = entries(client, sort=column, order="desc")["items"]
    asc_values = [value(e) for e in asc if value(e) is not None]
    desc_values = [value(e) for e in desc if value(e) is not None]
    assert len(set(asc_values)) > 1, f"test data should vary in {column}"
    if column == "overall":  # a ranking within each coverage group (issue 15)
        assert all(g == sorted(g) for g in _coverage_groups(asc))
        assert all(g == sorted(g, reverse=True) for g in _coverage_groups(desc))
    else:
        assert asc_values == sorted(asc_values) and desc_values == sorted(desc_values, reverse=True)
    assert [value(e) for e in asc[len(asc_values) :]] == [None] * (len(asc) - len(asc_values))
    assert [value(e) for e in desc[len(desc_values) :]] == [None] * (len(desc) - len(desc_values))
    assert keys({"items": asc}) != keys({"items": desc})


def test_sort_by_model_name(client: TestClient) -> None:
    names = [e["model"].lower() for e in entries(client, sort="model")["items"]]
    assert names == sorted(names)
    assert [e["model"].lower() for e in entries(client, sort="model", order="desc")["items"]] == names[::-1]


def test_filters(client: TestClient) -> None:
    measured = entries(client, provenance="measured")["items"]
    assert measured and all(e["provenance"] == "measured" for e in measured)
    published = entries(client, provenance="published")["items"]
    assert published and all(e["provenance"] == "published" for e in published)
    assert len(measured) + len(published) == entries(client)["total"]
    fake = entries(client, backend="FAKE")["items"]  # case-insensitive
    assert fake and all(e["backend"] == "fake" for e in fake)
    hardware = measured[0]["hardware"]
    assert all(hardware[:6].lower() in e["hardware"].lower() for e in entries(client, hardware=hardware[:6])["items"])
    math_page = entries(client, dimension="math")
    assert math_page["sort"] == "math" and all("math" in e["dimensions"] for e in math_page["items"])
    qwen = entries(client, q="QWEN2.5")["items"]
    assert qwen and all("qwen2.5" in e["model"].lower() for e in qwen)
    assert entries(client, q="no-such-model-anywhere")["total"] == 0


def test_pagination(client: TestClient) -> None:
    everything = keys(entries(client))
    page = client.get("/api/v1/entries", params={"limit": 3, "offset": 2}).json()
    assert page["limit"] == 3 and page["offset"] == 2 and page["total"] == len(everything)
    assert keys(page) == everything[2:5]
    assert client.get("/api/v1/entries", params={"offset": len(everything) + 10}).json()["items"] == []
    assert len(client.get("/api/v1/entries").json()["items"]) == min(50, len(everything))


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"offset": -1},
        {"sort": "bogus"},
        {"order": "up"},
        {"provenance": "rumoured"},
        {"dimension": "charisma"},
        {"q": "x" * 201},
    ],
)
def test_invalid_query_parameters_are_422_json(client: TestClient, params: dict[str, Any]) -> None:
    res = client.get("/api/v1/entries", params=params)
    assert res.status_code == 422
    assert res.headers["content-type"].startswith("application/json")
    assert isinstance(res.json()["detail"], list)


def test_entry_by_key_and_404(client: TestClient) -> None:
    first = entries(client)["items"][0]
    assert client.get(f"/api/v1/entries/{first['key']}").json() == first
    missing = client.get("/api/v1/entries/p-no-such-model")
    assert missing.status_code == 404 and "p-no-such-model" in missing.json()["detail"]
    assert client.get("/api/v1/entries/NOT_A_KEY").status_code == 422
    assert client.get("/api/v1/nothing-here").status_code == 404


def test_runs_list_and_detail(client: TestClient) -> None:
    page = client.get("/api/v1/runs").json()
    assert page["total"] == len(page["items"]) >= 5
    created = [r["created_at"] for r in page["items"]]
    assert created == sorted(created, reverse=True)
    (perf,) = client.get("/api/v1/runs", params={"kind": "perf"}).json()["items"]
    assert perf["tasks"] == ["perf"]
    evals = client.get("/api/v1/runs", params={"kind": "eval", "limit": 1, "offset": 1}).json()
    assert evals["total"] == page["total"] - 1 and len(evals["items"]) == 1

    alpha = next(r for r in page["items"] if r["model"] == "fake:alpha")
    detail = client.get(f"/api/v1/runs/{alpha['id']}").json()
    assert detail["kind"] == "eval" and detail["run"]["id"] == alpha["id"] and detail["items"] > 0
    assert {s["task"] for s in detail["scores"]} == set(alpha["tasks"])
    perf_detail = client.get(f"/api/v1/runs/{perf['id']}").json()
    assert perf_detail["kind"] == "perf" and perf_detail["scores"] == []
    assert "perf" in perf_detail["run"]["summary"]
    assert client.get("/api/v1/runs/zzzzzzzz").status_code == 404
    assert client.get("/api/v1/runs", params={"status": "exploded"}).status_code == 422


def _key(client: TestClient, model: str) -> str:
    return str(next(e["key"] for e in entries(client)["items"] if e["model"] == model))


def test_compare_two_measured_entries_has_a_paired_test(client: TestClient) -> None:
    a, b = _key(client, "fake:alpha"), _key(client, "fake:beta")
    view = client.get("/api/v1/compare", params={"a": a, "b": b}).json()
    assert view["a"]["key"] == a and view["b"]["key"] == b
    assert {r["name"] for r in view["dimensions"]} >= {"math", "reasoning"}
    for row in view["benchmarks"] + view["dimensions"] + [view["overall"], view["cost"]]:
        if row["a"] is not None and row["b"] is not None:
            assert row["diff"] == pytest.approx(row["b"] - row["a"])
    assert view["paired"] is not None and view["paired"]["shared_items"] > 0


def test_compare_measured_with_published(client: TestClient, qwen_keys: tuple[str, str]) -> None:
    measured, published = qwen_keys
    view = client.get("/api/v1/compare", params={"a": published, "b": measured}).json()
    arc = next(r for r in view["benchmarks"] if r["name"] == "arc_challenge")
    assert arc["a"] == pytest.approx(43.7) and arc["b"] is not None
    assert "A: published" in arc["note"] and "B: measured" in arc["note"]
    assert view["paired"] is None


def test_compare_errors(client: TestClient) -> None:
    a = _key(client, "fake:alpha")
    assert client.get("/api/v1/compare", params={"a": a, "b": "m-nope"}).status_code == 404
    assert client.get("/api/v1/compare", params={"a": a}).status_code == 422


def test_openapi_schema_is_precise(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/v1/entries", "/api/v1/entries/{key}", "/api/v1/runs", "/api/v1/runs/{run_id}"} <= set(paths)
    assert {"/api/v1/compare", "/api/v1/health"} <= set(paths)
    assert "/" not in paths and "/models/{key}" not in paths
    params = {p["name"]: p for p in paths["/api/v1/entries"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 500 and params["limit"]["schema"]["minimum"] == 1
    sort_schema = params["sort"]["schema"]["anyOf"][0]
    assert {"overall", "params", "knowledge"} <= set(sort_schema["enum"])
    post = paths["/api/v1/runs"]["post"]
    assert {"201", "401", "403", "409", "422"} <= set(post["responses"])
    assert post["security"] == [{"HTTPBearer": []}]
