"""Cost per solved item: tokens and $ per correct item per task and overall, a task with no
correct item, exact API pricing, and a hosted family price on the same tokens."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.analysis.entries import all_entries
from agimeter.analysis.price_links import PricePoint, price_points
from agimeter.analysis.runs import run_cost, run_measurement, run_scores
from agimeter.analysis.solved import family_price, family_root, hosted_comparison, solved_costs
from agimeter.cost.prices import PriceRow, ProviderPrice
from agimeter.store.published import load_catalog
from agimeter.store.published_repo import PublishedSet
from agimeter.store.repository import Store
from agimeter.testing.runs import eval_run, protocol

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _run(tmp_path: Path, **config: object) -> tuple[Store, str]:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    tasks = {"humaneval": protocol("humaneval", "coding"), "mbpp": protocol("mbpp", "coding")}
    eval_run(store, "r", {"humaneval": (60, 0.5), "mbpp": (60, 0.0)}, protocols=tasks, config=config or None)
    return store, "r"


def test_per_task_and_overall_with_a_task_that_solved_nothing(tmp_path: Path) -> None:
    store, run_id = _run(tmp_path)
    run = store.get_run(run_id)
    measurement = run_measurement(run)
    assert measurement is not None
    cost = run_cost(run, measurement)
    rows = {r.task: r for r in solved_costs(run_scores(store, run), cost, run.id)}
    he, mbpp, overall = rows["humaneval"], rows["mbpp"], rows["overall"]
    assert (he.correct, he.n, he.tokens_counted) == (30, 60, 6000) and he.status == "ok"
    assert he.tokens_per_correct == pytest.approx(200.0)
    # $0.36/h for 100 s, the two tasks took equal compute time
    assert he.usd == pytest.approx(cost.usd_per_run / 2) and he.usd_per_correct == pytest.approx(cost.usd_per_run / 60)
    assert mbpp.status == "none correct" and mbpp.usd_per_correct is None and mbpp.tokens_per_correct is None
    assert mbpp.usd == pytest.approx(cost.usd_per_run / 2)  # it still cost something
    assert overall.correct == 30 and overall.usd == pytest.approx(cost.usd_per_run)
    assert overall.usd_per_correct == pytest.approx(cost.usd_per_run / 30)
    assert "$0.36/h" in overall.basis and overall.run_id == "r"
    # the entry carries the same rows, from the task's chosen run
    [entry] = [e for e in all_entries(store) if e.provenance == "measured"]
    assert [r.model_dump() for r in entry.solved] == [r.model_dump() for r in rows.values()]


def test_items_reused_from_the_cache_are_priced_by_their_own_compute_time(tmp_path: Path) -> None:
    """A resumed or re-run run that took items from the cache paid nothing for them: spreading its
    billed time would make them look free, so each item's recorded compute time is priced."""
    store, run_id = _run(tmp_path)
    run = store.get_run(run_id)
    measurement = run_measurement(run)
    assert measurement is not None
    cost = run_cost(run, measurement)
    scores = run_scores(store, run)
    fresh = {r.task: r for r in solved_costs(scores, cost, run.id)}
    reused = {r.task: r for r in solved_costs(scores, cost, run.id, reused=100)}
    for task in ("humaneval", "mbpp"):
        compute_s = next(s.compute_s for s in scores if s.task == task)
        assert compute_s > 0
        assert reused[task].usd == pytest.approx(cost.price_per_hour * compute_s / 3600)
    assert reused["humaneval"].usd_per_correct == pytest.approx(reused["humaneval"].usd / 30)
    assert "100 items reused from the cache" in reused["overall"].basis
    assert "billed time" in fresh["overall"].basis and "reused" not in fresh["overall"].basis


def test_an_api_price_gives_each_task_its_own_tokens_cost(tmp_path: Path) -> None:
    price = ProviderPrice(provider="P", model="m", date="2025-01-01", currency="USD", input_per_mtok=2.0,
                          output_per_mtok=8.0, source="test")  # fmt: skip
    api = PriceRow(price=price, usd_input=2.0, usd_output=8.0, usd_blended_3_1=3.5).model_dump(mode="json")
    store, run_id = _run(tmp_path, api_price=api)
    run = store.get_run(run_id)
    measurement = run_measurement(run)
    assert measurement is not None
    rows = {r.task: r for r in solved_costs(run_scores(store, run), run_cost(run, measurement), run.id)}
    assert rows["humaneval"].usd == pytest.approx(6000 * 2.0 / 1e6)  # 6,000 prompt tokens, no completion
    assert "API price" in rows["humaneval"].basis


def _price(model: str, date: dt.date, usd_in: float, usd_out: float) -> PricePoint:
    return PricePoint(date=date, provider="Alibaba", model=model, linked_model=None, usd_per_1m_input=usd_in,
                      usd_per_1m_output=usd_out, usd_per_1m_blended=(3 * usd_in + usd_out) / 4, source="s")  # fmt: skip


def test_hosted_family_price_is_the_newest_cheapest_of_the_family(tmp_path: Path) -> None:
    assert family_root("Qwen2.5-Coder") == family_root("hf:Qwen/Qwen2.5-Coder-0.5B-Instruct") == "qwen"
    prices = [
        _price("qwen-max", dt.date(2025, 6, 1), 1.6, 6.4),
        _price("qwen-turbo", dt.date(2025, 6, 1), 0.05, 0.2),
        _price("qwen-turbo", dt.date(2024, 6, 1), 0.01, 0.01),  # older
        _price("llama-3", dt.date(2026, 1, 1), 0.001, 0.001),  # another family
    ]
    chosen = family_price(prices, "Qwen2.5-Coder")
    assert chosen is not None and (chosen.model, chosen.date) == ("qwen-turbo", dt.date(2025, 6, 1))
    store, run_id = _run(tmp_path)
    run = store.get_run(run_id)
    rows = solved_costs(run_scores(store, run), None, run.id)
    hosted = {h.task: h for h in hosted_comparison(rows, "Qwen2.5-Coder", prices)}
    assert hosted["humaneval"].usd == pytest.approx(6000 * chosen.usd_per_1m_input / 1e6)  # type: ignore[operator]
    assert hosted["humaneval"].usd_per_correct == pytest.approx(hosted["humaneval"].usd / 30)
    assert hosted["mbpp"].status == "none correct" and hosted["mbpp"].usd_per_correct is None
    assert "comparison of different things" in hosted["overall"].caveat
    assert hosted_comparison(rows, "SmolLM2", prices) == []


def test_the_catalog_entry_chosen_for_qwen_is_shown_with_its_date(
    tmp_path: Path, agimeter: Cli, published_catalog: Path
) -> None:
    parsed, sha = load_catalog(published_catalog)
    prices = price_points(PublishedSet.from_catalog(parsed, sha, published_catalog, "published"))
    chosen = family_price(prices, "Qwen2.5-Coder")
    assert chosen is not None and chosen.model.lower().startswith("qwen")
    assert chosen.date == max(p.date for p in prices if p.model.lower().startswith("qwen"))
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    eval_run(store, "q", {"humaneval": (60, 0.5)}, model="hf:Qwen/Qwen2.5-Coder-0.5B-Instruct",
             protocols={"humaneval": protocol("humaneval", "coding")})  # fmt: skip
    store.close()
    env = ["--store", f"sqlite:///{tmp_path}/s.db"]
    shown = agimeter("show", "q", "--format", "json", *env, "--config", str(_config(tmp_path, published_catalog)))
    assert shown.returncode == 0, shown.stderr
    payload = json.loads(shown.stdout)
    assert {r["task"] for r in payload["solved"]} == {"humaneval", "overall"}
    [hosted] = [h for h in payload["hosted_comparison"] if h["task"] == "humaneval"]
    assert hosted["price"]["date"] == chosen.date.isoformat() and hosted["price"]["model"] == chosen.model
    expected = 6000 * chosen.usd_per_1m_input / 1e6 / 30  # type: ignore[operator]
    assert hosted["usd_per_correct"] == pytest.approx(expected)
    table = agimeter("show", "q", *env, "--config", str(_config(tmp_path, published_catalog)))
    assert "cost per solved item" in table.stdout and "comparison of different things" in table.stdout
    assert chosen.date.isoformat() in table.stdout


def _config(tmp_path: Path, catalog: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"catalog: {catalog}\n")
    return path
