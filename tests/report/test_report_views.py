"""The report over a constructed store: which run each number comes from and its n, rank within
coverage, both token bases, and measured models compared item by item with a paired CI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from agimeter.report import render
from agimeter.report.data import gather
from agimeter.report.tables import all_tables
from agimeter.store.published_repo import PublishedSet
from agimeter.store.repository import Store
from agimeter.testing.runs import eval_run, protocol

NOTHING_PUBLISHED = PublishedSet(imports=[], models=[], prices=[], laws=[], citations={})
NOW = dt.datetime(2026, 3, 1)


def _store(tmp_path: Path) -> Store:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    tasks = {"mmlu": protocol("mmlu", "knowledge"), "arc_challenge": protocol("arc_challenge", "reasoning")}
    eval_run(store, "a-full", {"mmlu": (60, 0.5), "arc_challenge": (60, 0.5)}, protocols=tasks,
             created=dt.datetime(2026, 1, 1))  # fmt: skip
    eval_run(store, "a-smoke", {"mmlu": (1, 1.0)}, protocols=tasks, created=dt.datetime(2026, 2, 1))
    eval_run(store, "b-full", {"mmlu": (60, 0.8), "arc_challenge": (60, 0.3)}, protocols=tasks,
             identity="sha-b", model="hf:org/B-1B")  # fmt: skip
    eval_run(store, "c-one", {"arc_challenge": (60, 0.9)}, protocols=tasks, identity="sha-c", model="hf:org/C-1B")
    return store


def test_tables_say_where_each_number_comes_from(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = gather(store, store.list_runs(), NOTHING_PUBLISHED, store_url="sqlite://", model_cards=False, now=NOW)
    tables = all_tables(data)
    board = tables["table-leaderboard"]
    col = {c: i for i, c in enumerate(board.columns)}
    rows = {r[col["model"]]: r for r in board.rows}
    a = rows["hf:org/M-1B"]
    assert a[col["from (run: task n)"]] == "run a-full: arc_challenge n=60, mmlu n=60"
    assert a[col["coverage"]] == "2/8 dimensions" and rows["hf:org/C-1B"][col["coverage"]] == "1/8 dimensions"
    # A and B share a coverage and are ranked together; C (reasoning only) is ranked alone
    assert {rows[m][col["rank (same coverage)"]] for m in ("hf:org/M-1B", "hf:org/B-1B")} == {"1 of 2", "2 of 2"}
    assert rows["hf:org/C-1B"][col["rank (same coverage)"]] == "1 of 1"
    assert a[col["$ / 1M (lm-eval tokens)"]] != "–" and a[col["$ / 1M (computed tokens)"]] != "–"
    assert a[col["price kind"]] == "self-hosted"
    runs = {r[0]: r for r in tables["table-runs"].rows}
    assert runs["a-full"][-1] == "arc_challenge, mmlu" and runs["a-smoke"][-1].startswith("–")


def test_measured_pairs_are_compared_with_a_paired_ci(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = gather(store, store.list_runs(), NOTHING_PUBLISHED, store_url="sqlite://", model_cards=False, now=NOW)
    pairs = {(c.a_model, c.b_model): c.comparison for c in data.comparisons}
    ab = pairs[("hf:org/M-1B", "hf:org/B-1B")]
    assert ab.shared_items == 120  # the chosen runs' items, not the smoke run's
    knowledge = next(d for d in ab.dimensions if d.dimension == "knowledge")
    assert knowledge.ci_low < knowledge.diff < knowledge.ci_high and knowledge.n == 60
    rows = all_tables(data)["table-compare"].rows
    assert any(r[2] == "dimension knowledge" and r[7].startswith("[") for r in rows)
    html = render(data, "html")
    assert '<section id="compare">' in html and 'id="table-compare"' in html
    assert "Measured models compared (paired)" in render(data, "md")
