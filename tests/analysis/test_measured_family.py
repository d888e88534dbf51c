"""Measured entries join density, Pareto and trends next to their published family: the release
date, family and variant come from the catalog entry of the same checkpoint (issue 14 part 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agimeter.analysis.entries import all_entries
from agimeter.analysis.pareto_report import pareto_report
from agimeter.analysis.progress import density_report, density_trend, family_density
from agimeter.report import render
from agimeter.report.data import gather
from agimeter.store.published import load_catalog
from agimeter.store.repository import Store
from agimeter.testing.runs import eval_run, protocol

CODERS = {"Qwen/Qwen2.5-Coder-0.5B-Instruct": 494_032_768, "Qwen/Qwen2.5-Coder-1.5B-Instruct": 1_543_714_304}


def _store(tmp_path: Path, catalog: Path) -> Store:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    parsed, sha = load_catalog(catalog)
    store.import_catalog(parsed, sha, catalog, "published")
    tasks = {"humaneval": protocol("humaneval", "coding"), "mbpp": protocol("mbpp", "coding")}
    for i, (hub, params) in enumerate(CODERS.items()):
        eval_run(store, f"run{i}", {"humaneval": (164, 0.4 + 0.2 * i), "mbpp": (100, 0.3 + 0.2 * i)},
                 model=f"gguf:{hub}", identity=f"sha-{i}", num_parameters=params, protocols=tasks,
                 task_sizes={"humaneval": 164, "mbpp": 500})  # fmt: skip
    return store


def test_measured_coders_take_the_catalog_facts_and_join_the_analyses(tmp_path: Path, published_catalog: Path) -> None:
    store = _store(tmp_path, published_catalog)
    entries = all_entries(store)
    published = {e.model: e for e in entries if e.provenance == "published"}
    measured = {e.model.removeprefix("gguf:"): e for e in entries if e.provenance == "measured"}
    assert set(measured) == set(CODERS)
    for hub, entry in measured.items():
        pub = published[hub]
        assert (entry.released, entry.family, entry.variant) == (pub.released, pub.family, pub.variant)
        assert entry.released_label == f"{pub.released_label} (published release of {hub})"
        assert entry.params_b == pytest.approx(CODERS[hub] / 1e9)  # measured, not the catalog's
    family = measured["Qwen/Qwen2.5-Coder-0.5B-Instruct"].family
    assert family is not None
    # density on the benchmarks they were measured on, against their family's base models
    report = density_report(entries, family=family, benchmarks=["humaneval", "mbpp"])
    assert report.reference is not None and report.reference.family == family
    rows = {r.model: r for r in report.rows if r.provenance == "measured"}
    assert len(rows) == 2 and all(r.density is not None and r.released is not None for r in rows.values())
    assert all("run run" in r.evidence for r in rows.values())
    trend = density_trend(report, n_boot=100)
    assert {p.provenance for p in trend.points} == {"measured", "published"}
    assert sum(p.provenance == "measured" for p in trend.points) == 2
    pareto = pareto_report(entries, capability="benchmark:humaneval", cost="params_b")
    assert sum(p.provenance == "measured" for p in pareto.points) == 2
    [next_to_family] = family_density(entries)
    assert {r.provenance for r in next_to_family.rows} == {"measured", "published"}
    assert next_to_family.benchmarks == ["humaneval", "mbpp"]


def test_the_report_shows_them_next_to_the_family(tmp_path: Path, published_catalog: Path) -> None:
    store = _store(tmp_path, published_catalog)
    data = gather(store, store.list_runs(), store.published(), store_url="sqlite://")
    [family] = data.family_density
    assert sum(r.provenance == "measured" for r in family.rows) == 2
    html = render(data, "html")
    assert 'id="plot-family-density"' in html and 'id="table-family-density"' in html
    assert "Qwen2.5-Coder-0.5B-Instruct" in html
