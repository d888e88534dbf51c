"""The report's quantization panel over a constructed sweep: a plot with both panels and the
frontier, a table per sweep with the paired numbers and the caveat, in HTML and markdown; a
report of only some of the sweep's runs leaves it out."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from agimeter.report import render
from agimeter.report.data import gather
from agimeter.report.figures_sweep import sweep_figure
from agimeter.report.tables import all_tables
from agimeter.store.published_repo import PublishedSet
from agimeter.store.repository import Store
from agimeter.testing.sweeps import SWEEP_ID, build_sweep

NOTHING_PUBLISHED = PublishedSet(imports=[], models=[], prices=[], laws=[], citations={})
NOW = dt.datetime(2026, 3, 1)


def _data(tmp_path: Path, runs: str = "all") -> tuple[Store, object]:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    build_sweep(store)
    chosen = store.list_runs() if runs == "all" else [r for r in store.list_runs() if r.id != "run3"]
    return store, gather(store, chosen, NOTHING_PUBLISHED, store_url="sqlite://", model_cards=False, now=NOW)


def test_quantization_table_and_plot(tmp_path: Path) -> None:
    _, data = _data(tmp_path)
    assert [s.sweep_id for s in data.sweeps] == [SWEEP_ID]  # type: ignore[attr-defined]
    table = all_tables(data)[f"table-sweep-{SWEEP_ID}"]  # type: ignore[arg-type]
    col = {c: i for i, c in enumerate(table.columns)}
    rows = {r[0]: r for r in table.rows}
    assert list(rows) == ["F32 (reference)", "Q8_0", "Q4_0", "Q2_K"]
    assert rows["Q8_0"][col["Δ points [95% CI]"]] == "+0.0 [+0.0, +0.0]"
    assert rows["Q2_K"][col["p"]].endswith("(loss)") and not rows["Q4_0"][col["p"]].endswith("(loss)")
    assert rows["Q2_K"][col["frontier"]] == "GB, tok/s" and rows["F32 (reference)"][col["frontier"]] == ""
    assert "Smallest variant without a significant paired loss at alpha = 0.05: Q4_0" in table.caption
    assert "Not significant is not the same as equal" in table.caption

    fig = sweep_figure(data.sweeps[0])  # type: ignore[attr-defined]
    names = [t.name for t in fig.data]
    assert names.count("variants") == 2 and names.count("reference (the source file)") == 2
    frontier = [t for t in fig.data if str(t.name).startswith("frontier")]
    assert len(frontier) == 2 and list(frontier[0].x) == [300e-9, 400e-9, 600e-9]  # by file GB
    variants = next(t for t in fig.data if t.name == "variants")
    assert list(variants.text) == ["Q8_0", "Q4_0", "Q2_K"] and variants.error_y.visible


def test_html_and_markdown_show_the_panel(tmp_path: Path) -> None:
    _, data = _data(tmp_path)
    html = render(data, "html")  # type: ignore[arg-type]
    assert '<section id="quantization">' in html
    assert f'id="plot-sweep-{SWEEP_ID}"' in html and f'id="table-sweep-{SWEEP_ID}"' in html
    payload = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert payload["schema_version"] == 2 and payload["sweeps"][0]["recommended"] == "Q4_0"
    md = render(data, "md")  # type: ignore[arg-type]
    assert "## Quantization sweeps" in md and f"Quantization sweep {SWEEP_ID}" in md


def test_a_report_of_part_of_a_sweep_leaves_it_out(tmp_path: Path) -> None:
    _, data = _data(tmp_path, runs="some")
    assert data.sweeps == []  # type: ignore[attr-defined]
    html = render(data, "html")  # type: ignore[arg-type]
    assert 'data-plot="plot-sweep"' in html and "no quantization sweep" in html
    assert "*No quantization sweep in this store.*" in render(data, "md")  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_sweep_plot_draws_in_a_browser(tmp_path: Path, page: Any) -> None:
    _, data = _data(tmp_path)
    out = tmp_path / "report.html"
    out.write_text(render(data, "html"))  # type: ignore[arg-type]
    page.goto(out.as_uri())
    plot = f"plot-sweep-{SWEEP_ID}"
    page.wait_for_selector(f"#{plot} .main-svg", timeout=20_000)
    drawn = page.evaluate(
        f"() => document.getElementById('{plot}').data.map(t => [t.name, t.error_y ? t.error_y.visible : null])"
    )
    assert ["variants", True] in drawn and any(str(name).startswith("frontier") for name, _ in drawn)
    assert "Q2_K" in page.inner_text(f"#{plot}") and "capability vs decode speed" in page.inner_text(f"#{plot}")
