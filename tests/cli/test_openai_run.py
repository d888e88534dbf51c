"""``agimeter run --model openai:...`` end to end against the stub server: same tasks, store and
export as any backend; failures are counted, the run finishes with what succeeded, and a re-run
retries only the failed items."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.store.repository import Store

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _args(toy: dict[str, Path], url: str, *extra: str) -> list[str]:
    return [
        "run",
        "--model",
        f"openai:stub-model@{url}",
        "--tasks",
        str(toy["gen"]),
        "--data-dir",
        str(toy["data"]),
        "--store",
        f"sqlite:///{toy['store']}",
        *extra,
    ]


def test_generative_run_with_failures_then_resume(agimeter: Cli, toy_env: dict[str, Path], stub_server) -> None:
    answers = {f"What is {i} + 1?": f"The answer is {i + 1}" for i in range(0, 40, 2)}
    url = stub_server("--first-ms", "1", "--itl-ms", "1", "--fail-rate", "0.3", "--responses", json.dumps(answers))
    args = _args(toy_env, url, "--model-arg", "max_retries=0")
    first = agimeter(*args)
    assert first.returncode == 3, first.stderr  # incomplete: the table is printed, the exit says so
    assert "toy_gen" in first.stdout and "re-run the same command" in first.stdout
    store = Store.open(f"sqlite:///{toy_env['store']}")
    (run,) = store.list_runs()
    assert run.status == "incomplete"
    measurement = run.summary["measurement"]
    failed = measurement["failed_items"]
    assert 0 < failed < 40
    assert measurement["errors"] == {"server_error": failed}
    assert len(store.run_items(run.id)) == 40 - failed
    assert "re-run the same command" in (run.error or "")

    for _ in range(10):  # each pass retries only what is still missing
        again = agimeter(*args)
        status = store.get_run(run.id).status
        assert again.returncode == (0 if status == "finished" else 3), again.stderr
        if status == "finished":
            break
    run = store.get_run(run.id)
    assert run.status == "finished" and len(store.list_runs()) == 1
    items = store.run_items(run.id)
    assert len(items) == 40
    assert sum(i.correct for i in items) == 20  # the stub knows the even ones
    con = sqlite3.connect(toy_env["store"])
    assert con.execute("select count(*) from item_results").fetchone()[0] == 40
    assert con.execute("select count(*) from run_items").fetchone()[0] == 40
    assert run.summary["measurement"]["completion_tokens"] == sum(i.completion_tokens for i in items)
    # The measurement describes the run as it is now: every item computed by it, no failures left.
    measurement = run.summary["measurement"]
    assert (measurement["items_computed"], measurement["items_cached"]) == (40, 0)
    assert (measurement["errors"], measurement["failed_items"]) == ({}, 0)


def test_multiple_choice_needs_echo_and_says_which_tasks(agimeter: Cli, toy_env: dict[str, Path], stub_server) -> None:
    url = stub_server("--no-echo")
    args = _args(toy_env, url)
    args[args.index("--tasks") + 1] = f"{toy_env['mc']},{toy_env['gen']}"
    res = agimeter(*args)
    assert res.returncode != 0
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "cannot score log-likelihood" in line and "toy_mc" in line and "toy_gen" not in line.split("need it")[-1]
    assert sqlite3.connect(toy_env["store"]).execute("select count(*) from runs").fetchone()[0] == 0


def test_unreachable_server_is_one_line(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    res = agimeter(*_args(toy_env, "http://127.0.0.1:9/v1"))
    assert res.returncode != 0
    assert res.stderr.strip().startswith("error: cannot reach http://127.0.0.1:9/v1/models")


def test_silent_server_ends_the_run_incomplete_in_bounded_time(
    agimeter: Cli, toy_env: dict[str, Path], stub_server
) -> None:
    url = stub_server("--hang")  # preflight answers; no completion request ever does
    limits = ["--model-arg", "give_up_s=1", "--model-arg", "timeout_s=60", "--model-arg", "max_retries=5"]
    start = time.perf_counter()
    agimeter(*_args(toy_env, url, *limits), timeout=300)
    elapsed = time.perf_counter() - start
    (run,) = Store.open(f"sqlite:///{toy_env['store']}").list_runs()
    assert run.status == "incomplete"
    assert run.summary["measurement"]["errors"] == {"timeout": 40}
    # Without giving up, 40 requests 8 at a time would each wait out timeout_s: 5 x 60 s.
    assert elapsed < 60


def test_api_price_applied_to_the_run_tokens(
    agimeter: Cli, toy_env: dict[str, Path], stub_server, published_catalog: Path
) -> None:
    from agimeter.cost.prices import find_price, load_catalog_prices

    catalog = published_catalog
    url = stub_server("--first-ms", "1", "--itl-ms", "1")
    query = "Alibaba Cloud (DashScope)/qwen-plus"
    price = ["--api-price", query, "--catalog", str(catalog)]
    no_rate = agimeter(*_args(toy_env, url), *price)
    assert no_rate.returncode != 0 and "--usd-per-cny" in no_rate.stderr
    unknown = agimeter(*_args(toy_env, url), "--api-price", "qwen-plux", "--catalog", str(catalog))
    assert unknown.returncode != 0 and "qwen-plus" in unknown.stderr  # suggests the near miss
    res = agimeter(*_args(toy_env, url), *price, "--usd-per-cny", "0.14", "--format", "json")
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    m, cost = payload["measurement"], payload["cost"]
    # The expected figures come from the catalog entry the price table chose (the newest one), not
    # from numbers copied into this test: the catalog gains dated price points over time.
    chosen = find_price(load_catalog_prices(catalog), query, 0.14).price
    rate_in = chosen.input_per_mtok * (0.14 if chosen.currency == "CNY" else 1.0)
    rate_out = chosen.output_per_mtok * (0.14 if chosen.currency == "CNY" else 1.0)
    expected = (m["prompt_tokens"] * rate_in + m["completion_tokens"] * rate_out) / 1e6
    assert cost["api_usd_per_run"] == pytest.approx(expected)
    assert "qwen-plus" in cost["api_price"] and chosen.currency in cost["api_price"]
    assert chosen.date in cost["api_price"]  # the user sees which dated price point was applied
