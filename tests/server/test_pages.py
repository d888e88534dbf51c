"""The HTML pages, server-rendered: the leaderboard's sort links and filters, model pages with
measured and published numbers side by side, the comparison page, and HTML error pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient


class Rows(HTMLParser):
    """Row keys, header columns and cell texts of ``table#leaderboard``."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []
        self.provenance: list[str] = []
        self.headers: dict[str, dict[str, str]] = {}
        self.cells: dict[str, dict[str, str]] = {}
        self._th: str | None = None
        self._td: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-key" in a:
            self.keys.append(a["data-key"])
            self.provenance.append(a["data-provenance"])
            self.cells[a["data-key"]] = {}
        elif tag == "th" and "data-col" in a:
            self._th = a["data-col"]
            self.headers[self._th] = {"aria-sort": a.get("aria-sort", "")}
        elif tag == "a" and self._th is not None:
            self.headers[self._th]["href"] = a["href"]
        elif tag == "td" and "data-col" in a and self.keys:
            self._td = a["data-col"]
            self.cells[self.keys[-1]][self._td] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._th = None
        if tag == "td":
            self._td = None

    def handle_data(self, data: str) -> None:
        if self._td is not None:
            self.cells[self.keys[-1]][self._td] += data.strip()


def parse(html: str) -> Rows:
    rows = Rows()
    rows.feed(html)
    return rows


def api_keys(client: TestClient, **params: Any) -> list[str]:
    items = client.get("/api/v1/entries", params={"limit": 500, **params}).json()["items"]
    return [e["key"] for e in items]


def test_leaderboard_lists_every_entry_in_the_api_order(client: TestClient) -> None:
    res = client.get("/")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    page = parse(res.text)
    assert page.keys == api_keys(client)
    assert {"model", "provenance", "params", "overall", "cost", "ttft", "memory", "backend", "hardware"} <= set(
        page.headers
    )
    assert {"reasoning", "math"} <= set(page.headers) and "released" in page.headers
    assert page.headers["overall"]["aria-sort"] == "descending"
    assert set(page.provenance) == {"measured", "published"}
    assert 'id="leaderboard"' in res.text and 'class="badge badge-measured"' in res.text


def test_sorting_by_header_links(client: TestClient) -> None:
    page = parse(client.get("/").text)
    href = page.headers["params"]["href"]
    assert "sort=params" in href and "order=desc" in href
    by_params = parse(client.get("/" + href).text)
    assert by_params.keys == api_keys(client, sort="params", order="desc")
    assert by_params.headers["params"]["aria-sort"] == "descending"
    flipped = by_params.headers["params"]["href"]
    assert "order=asc" in flipped
    ascending = parse(client.get("/" + flipped).text)
    assert ascending.keys == api_keys(client, sort="params", order="asc") != by_params.keys
    # Rows without a parameter count come last in both orders.
    for rows in (ascending, by_params):
        blanks = [rows.cells[k]["params"] == "—" for k in rows.keys]
        assert blanks == sorted(blanks)
    assert parse(client.get("/?sort=model").text).headers["model"]["href"].endswith("order=desc")


def test_filters_and_empty_form_fields(client: TestClient) -> None:
    blank = client.get("/?q=&provenance=&dimension=&backend=&hardware=")
    assert blank.status_code == 200 and parse(blank.text).keys == api_keys(client)
    measured = parse(client.get("/?provenance=measured").text)
    assert measured.keys and set(measured.provenance) == {"measured"}
    fake = parse(client.get("/?backend=fake&q=alpha").text)
    assert [fake.cells[k]["model"] for k in fake.keys] == ["fake:alpha"]
    math = parse(client.get("/?dimension=math").text)
    dims = {"knowledge", "reasoning", "coding", "multilingual", "instruction_following"}
    assert "math" in math.headers and not dims & set(math.headers)
    assert math.keys == api_keys(client, dimension="math")
    none = client.get("/?q=no-such-model-anywhere")
    assert parse(none.text).keys == [] and 'id="no-rows"' in none.text
    form = client.get("/?provenance=published&sort=params&order=asc").text
    assert '<option value="published" selected>' in form and 'name="sort" value="params"' in form


@pytest.mark.parametrize("query", ["sort=bogus", "order=sideways", "provenance=rumoured", "dimension=charisma"])
def test_bad_parameters_give_an_html_422(client: TestClient, query: str) -> None:
    res = client.get(f"/?{query}")
    assert res.status_code == 422 and res.headers["content-type"].startswith("text/html")
    assert 'id="error-detail"' in res.text


def test_model_page_of_a_measured_checkpoint_shows_published_numbers_beside(
    client: TestClient, qwen_keys: tuple[str, str]
) -> None:
    measured, published = qwen_keys
    html = client.get(f"/models/{measured}").text
    assert 'id="model-provenance">measured<' in html
    assert 'id="measured-vs-published"' in html and f'data-other="{published}"' in html
    row = re.search(r'<tr data-benchmark="arc_challenge">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = dict(re.findall(r'data-col="(\w+)">([^<]*)<', row.group(1)))
    assert cells["published"] == "43.7" and cells["measured"] != "—" and cells["diff"].startswith(("-", "+"))
    assert "published protocol: 25-shot acc" in row.group(1)
    assert 'class="badge badge-published">published<' in html and 'class="badge badge-measured">measured<' in html
    assert 'id="dimensions"' in html and 'id="scores"' in html and 'id="runs"' in html
    assert "measured evaluation, run" in html  # the cost basis
    # And the other way round: the published entry links back to the measurement.
    other = client.get(f"/models/{published}").text
    assert 'id="model-provenance">published<' in other and f'data-other="{measured}"' in other


def test_model_page_with_latency_and_serving_cost(client: TestClient) -> None:
    items = client.get("/api/v1/entries", params={"limit": 500, "provenance": "measured"}).json()["items"]
    served = next(e for e in items if e["latency"])
    html = client.get(f"/models/{served['key']}").text
    assert 'id="latency"' in html and html.count("<tr data-level=") == len(served["latency"])
    assert "measured serving, perf run" in html
    plain = next(e for e in items if not e["latency"])
    assert 'id="latency-none"' in client.get(f"/models/{plain['key']}").text


def test_unknown_model_is_an_html_404(client: TestClient) -> None:
    res = client.get("/models/m-no-such-model")
    assert res.status_code == 404 and "text/html" in res.headers["content-type"]
    assert 'id="error-title"' in res.text and "m-no-such-model" in res.text


def test_compare_page(client: TestClient) -> None:
    keys = {e["model"]: e["key"] for e in client.get("/api/v1/entries?limit=500").json()["items"]}
    a, b = keys["fake:alpha"], keys["Qwen/Qwen2.5-7B"]
    html = client.get("/compare", params={"a": a, "b": b}).text
    assert f'data-a="{a}"' in html and f'data-b="{b}"' in html
    for table in ("compare-dimensions", "compare-benchmarks", "compare-cost-latency"):
        assert f'id="{table}"' in html
    assert '<tr data-row="overall">' in html and '<tr data-row="mmlu">' in html
    measured_pair = client.get("/compare", params={"a": a, "b": keys["fake:beta"]}).text
    assert 'id="compare-paired"' in measured_pair
    empty = client.get("/compare")
    assert empty.status_code == 200 and 'id="compare-form"' in empty.text and 'id="compare"' not in empty.text
    assert client.get("/compare", params={"a": a, "b": "p-nope"}).status_code == 404


def test_pages_fetch_nothing_from_the_internet(client: TestClient) -> None:
    for path in ("/", "/compare", "/models/" + api_keys(client)[0]):
        html = client.get(path).text
        assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//', html), path
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN


def test_compare_page_shows_the_paired_ci_and_coverage(client: TestClient) -> None:
    keys = {e["model"]: e["key"] for e in client.get("/api/v1/entries?limit=500").json()["items"]}
    html = client.get("/compare", params={"a": keys["fake:alpha"], "b": keys["fake:beta"]}).text
    row = re.search(r'<tr data-row="math">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = dict(re.findall(r'data-col="([\w-]+)">([^<]*)<', row.group(1)))
    assert cells["paired-ci"].startswith("[") and int(cells["paired-n"]) > 0
    overall = re.search(r'<tr data-row="overall">(.*?)</tr>', html, re.S)
    assert overall is not None and "both over" in overall.group(1)
    published = client.get("/compare", params={"a": keys["fake:alpha"], "b": keys["Qwen/Qwen2.5-7B"]}).text
    assert 'data-col="paired-ci"' not in published and "not comparable" in published


def test_leaderboard_and_model_page_say_where_numbers_come_from(client: TestClient) -> None:
    page = parse(client.get("/").text)
    assert {"rank", "coverage"} <= set(page.headers)
    alpha = next(e for e in client.get("/api/v1/entries?limit=500").json()["items"] if e["model"] == "fake:alpha")
    assert page.cells[alpha["key"]]["coverage"] == f"{len(alpha['coverage'])}/8 dimensions"
    assert page.cells[alpha["key"]]["rank"] == f"{alpha['rank']} of {alpha['rank_among']}"
    html = client.get(f"/models/{alpha['key']}").text
    assert all(f'<a href="/api/v1/runs/{s["run_id"]}">' in html for s in alpha["scores"])
    assert 'data-col="from"' in html and "n=50" in html
    assert f"over {len(alpha['coverage'])}/8 dimensions" in html
