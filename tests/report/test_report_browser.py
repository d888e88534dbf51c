"""The HTML report in a real headless Chromium: every plot draws, offline, with the data in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_report_renders_plots_offline(report_store: str, cli: Any, tmp_path: Path, page: Any) -> None:
    out = tmp_path / "report.html"
    res = cli("report", "--out", str(out), "--store", report_store)
    assert res.returncode == 0, res.stderr
    page.goto(out.as_uri())
    page.wait_for_selector("#plot-radar .main-svg", timeout=20_000)
    for plot in (
        "plot-radar",
        "plot-pareto-cost",
        "plot-density-trend",
        "plot-latency-percentiles",
        "plot-latency-cdf",
    ):
        # plotly draws an <svg class="main-svg"> with at least one trace in it
        assert page.locator(f"#{plot} .main-svg").count() >= 1, plot
        assert page.locator(f"#{plot} .trace, #{plot} .scatterlayer .trace, #{plot} .barlayer").count() >= 1, plot
    # the measured model and a published reference are named in the drawn legend/labels
    assert "fake:Qwen/Qwen2.5-0.5B" in page.inner_text("#leaderboard")
    assert page.locator("#table-leaderboard tr.published").count() > 10
    assert page.locator("#table-leaderboard tr.measured").count() >= 1
    title = page.inner_text("#plot-density-trend")
    assert "doubles every" in title and "months" in title  # a sensitivity fit (the default one is too thin)
    # uncertainty is drawn, not only written: the radar's CI band and the trend's bootstrap band
    # are filled traces in the figures' data
    bands = page.evaluate(
        """() => Object.fromEntries(['plot-radar', 'plot-density-trend'].map(id => [id,
               document.getElementById(id).data.filter(t => t.fill === 'toself').map(t => t.name)]))"""
    )
    assert any(name.endswith("95% CI") and "fake:Qwen/Qwen2.5-0.5B" in name for name in bands["plot-radar"]), bands
    assert any(name.endswith("95% CI band") for name in bands["plot-density-trend"]), bands
    assert "mmlu" in page.inner_text("#plot-price-trend")  # the price plot names its threshold
    # plotly.js was inlined and ran (nothing was fetched: the page fixture fails on outside requests)
    assert page.evaluate("() => typeof window.Plotly === 'object' && !!window.Plotly.newPlot")
