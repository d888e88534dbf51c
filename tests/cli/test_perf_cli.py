"""``agimeter perf`` end to end against the stub: JSON output, stored and shown like any run."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.timing  # the TTFT bound: retried once on a busy machine, both attempts reported
def test_perf_sweep_is_stored_and_shown(agimeter: Cli, stub_server, tmp_path: Path) -> None:
    url = stub_server("--first-ms", "10", "--itl-ms", "2")
    store = f"sqlite:///{tmp_path / 's.db'}"
    res = agimeter(
        "perf", "--model", f"openai:stub-model@{url}", "-c", "1,4", "-n", "20", "--output-tokens", "4",
        "--input-tokens", "16", "--slo", "ttft=500ms", "--price-per-hour", "2", "--store", store, "--format", "json",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    points = payload["points"]
    assert [p["level"] for p in points] == [1, 4]
    assert all(p["succeeded"] == 20 and p["output_tokens"] == 80 for p in points)
    # 4 clients overlap their waits (a busy CI machine gets a margin; structure, not speed)
    assert points[1]["request_per_s"] > 1.5 * points[0]["request_per_s"]
    assert all(10.0 <= p["ttft"]["p50"] < 200.0 for p in points)
    assert payload["cost"]["price_per_hour"] == 2.0 and payload["cost"]["usd_per_1m_output"] > 0
    assert payload["slo_s"] == {"ttft": 0.5}
    # One unmeasured warm-up request per point reached the server; none of them was counted.
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats") as resp:
        assert json.load(resp)["streams"] == 2 * 20 + 2

    shown = agimeter("show", payload["run_id"], "--store", store)
    assert shown.returncode == 0, shown.stderr
    for needle in ("TTFT", "ITL", "goodput", "$ / 1M blended (3:1)", "c=4"):
        assert needle in shown.stdout
    listed = agimeter("runs", "--store", store)
    assert payload["run_id"] in listed.stdout and "perf" in listed.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-c", "2"], "--requests and/or --duration"),
        (["-c", "2", "--rate", "3", "-n", "5"], "not both"),
        (["-c", "2", "-n", "5", "--slo", "fast=1s"], "--slo"),
        (["-c", "0", "-n", "5"], "positive"),
    ],
)
def test_perf_bad_input_is_one_line(agimeter: Cli, stub_server, tmp_path: Path, args: list[str], needle: str) -> None:
    url = stub_server()
    res = agimeter("perf", "--model", f"openai:stub-model@{url}", *args, "--store", f"sqlite:///{tmp_path / 's.db'}")
    assert res.returncode != 0
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
