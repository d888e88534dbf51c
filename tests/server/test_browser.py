"""The leaderboard in a real headless Chromium, served by ``agimeter serve`` (uvicorn)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow
TOKEN = "browser-test-token"


@pytest.fixture()
def served(fresh_store_url: str) -> Iterator[str]:
    """``agimeter serve`` on a free port over a private copy of the test store."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AGIMETER_PUSH_TOKEN": TOKEN, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agimeter.cli.app", "serve", "--store", fresh_store_url, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"agimeter serve did not start: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stderr is not None:
        proc.stderr.close()


def _column(page: Any, col: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#leaderboard tbody td[data-col={col}]").all_inner_texts()]


def test_sort_by_a_column_and_open_a_model_page(served: str, page: Any, data_dir_if_present: Path | None) -> None:
    page.goto(served + "/")
    rows = page.locator("#leaderboard tbody tr[data-key]")
    assert rows.count() > 40
    assert page.locator(".badge-measured").count() >= 3 and page.locator(".badge-published").count() > 40

    page.click("th[data-col=params] a[data-sort-link=params]")
    page.wait_for_url("**sort=params**")
    order = page.get_attribute("#leaderboard", "data-order")
    values = [float(v) for v in _column(page, "params") if v not in ("", "-", "—")]
    assert len(values) > 20
    assert values == sorted(values, reverse=order == "desc")
    # clicking again flips the order
    page.click("th[data-col=params] a[data-sort-link=params]")
    page.wait_for_function(f"document.querySelector('#leaderboard').dataset.order !== '{order}'")
    flipped = [float(v) for v in _column(page, "params") if v not in ("", "-", "—")]
    assert flipped == sorted(flipped, reverse=order != "desc")

    # filter to measured entries through the form, then open the measured Qwen2.5-0.5B page
    page.goto(served + "/?provenance=measured")
    assert {p for p in page.locator("#leaderboard tbody tr").evaluate_all("r => r.map(x => x.dataset.provenance)")} == {
        "measured"
    }
    link = page.locator("#leaderboard tbody tr[data-key] a.model-link", has_text="Qwen2.5-0.5B")
    if data_dir_if_present is None:
        pytest.skip("benchmark data absent: no measured Qwen2.5-0.5B in the store (set AGIMETER_DATA_DIR)")
    assert link.count() > 0, "the measured Qwen2.5-0.5B is missing from the leaderboard"
    link.first.click()
    page.wait_for_selector("#model-name")
    assert "Qwen/Qwen2.5-0.5B" in page.inner_text("#model-name")
    assert page.inner_text("#model-provenance").strip().lower().startswith("measured")
    side = page.locator("table#measured-vs-published tr[data-benchmark=arc_challenge]")
    assert side.count() == 1
    assert side.locator("td[data-col=published]").inner_text().strip().startswith("43.7")  # Qwen2.5 report
    assert "shots" in page.inner_text("ul.differences") or "protocol" in page.inner_text("ul.differences")


def test_unauthenticated_writes_are_refused(served: str, page: Any) -> None:
    page.goto(served + "/")
    before = httpx.get(f"{served}/api/v1/runs", params={"limit": 1}).json()["total"]
    body = '{"run": {}, "items": []}'
    statuses = page.evaluate(
        """async (body) => {
            const post = (headers) => fetch('/api/v1/runs', {method: 'POST', headers, body}).then(r => r.status);
            return [await post({'Content-Type': 'application/json'}),
                    await post({'Content-Type': 'application/json', 'Authorization': 'Bearer wrong'})];
        }""",
        body,
    )
    assert statuses == [401, 401]
    after = httpx.get(f"{served}/api/v1/runs", params={"limit": 1}).json()["total"]
    assert after == before
    # read-only everywhere else: no other method is accepted on the leaderboard's data
    assert httpx.delete(f"{served}/api/v1/runs").status_code == 405
