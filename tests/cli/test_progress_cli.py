"""``agimeter density | pareto | trends`` on the shared published catalog (read, not imported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _args(tmp_path: Path, catalog: Path) -> list[str]:
    return ["--store", f"sqlite:///{tmp_path}/s.db", "--catalog", str(catalog), "--format", "json"]


def test_density_trend_and_pareto_as_json(tmp_path: Path, agimeter, published_catalog: Path) -> None:  # type: ignore[no-untyped-def]
    density = agimeter("density", *_args(tmp_path, published_catalog))
    assert density.returncode == 0, density.stderr
    report = json.loads(density.stdout)
    assert report["reference"]["family"] == "Qwen2.5" and report["reference"]["r2"] > 0.95
    assert {r["provenance"] for r in report["rows"]} == {"published"}  # nothing measured in this store

    # Issue 15: on the paper's five benchmarks the catalog's density frontier (reference family
    # left out) has fewer than MIN_FRONTIER_POINTS points, so there is no fit and no CI ...
    default = json.loads(agimeter("trends", "--n-boot", "300", *_args(tmp_path, published_catalog)).stdout)
    assert default["status"].startswith("insufficient:") and default["months_ci"] is None
    assert len(default["frontier"]) < default["min_frontier_points"]
    assert all(p["key"] not in {r["key"] for r in report["reference"]["points"]} for p in default["points"])
    # ... and the sensitivity set MMLU alone (more models report it) has enough
    args = _args(tmp_path, published_catalog)
    trend = json.loads(agimeter("trends", "--n-boot", "300", "--benchmarks", "mmlu", *args).stdout)
    assert trend["status"] == "ok" and trend["direction"] == "up"
    assert len(trend["frontier"]) >= trend["min_frontier_points"] and trend["band"]
    low, high = trend["months_ci"]
    assert low is not None and low <= trend["months_per_factor_2"] and (high is None or high >= low)
    assert [p["provenance"] for p in trend["frontier"]] == ["published"] * len(trend["frontier"])

    pareto = json.loads(agimeter("pareto", "--capability", "mmlu", *_args(tmp_path, published_catalog)).stdout)
    on = {p["model"] for p in pareto["points"] if p["on_frontier"]}
    assert "deepseek-ai/DeepSeek-V2" in on  # cheapest linked price with MMLU 78.5
    dominated = {p["model"]: p["dominated_by"] for p in pareto["points"] if not p["on_frontier"]}
    assert dominated and all(dominated.values())
    # the catalog was read, not imported: the store holds nothing published
    from agimeter.store.repository import Store

    assert Store.open(f"sqlite:///{tmp_path}/s.db").published().models == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trends", "--provenance", "guessed"], "--provenance must be"),
        (["pareto", "--cost", "vibes"], "--cost must be one of"),
        (["density", "--params", "half"], "--params must be"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, agimeter, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = agimeter(*args, "--store", f"sqlite:///{tmp_path}/s.db")
    assert result.returncode == 2 and message in result.stderr and result.stderr.strip().count("\n") == 0
