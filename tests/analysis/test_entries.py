"""Leaderboard entries from stored runs and the published catalog; measured vs published rows."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from agimeter.analysis.entries import all_entries, measured_entries
from agimeter.analysis.side_by_side import alias_card_entries, hub_id, side_by_side
from agimeter.backends.hardware import detect_hardware
from agimeter.records.items import ItemRecord
from agimeter.records.measurement import Measurement
from agimeter.records.run import RunRecord
from agimeter.store.published import load_catalog
from agimeter.store.repository import Store
from agimeter.testing.catalog import MINI_CATALOG as MINI
from agimeter.testing.catalog import write_catalog as _write
from agimeter.testing.raw_rows import write_run_columns


def _item(task: str, doc_id: int, correct: bool) -> ItemRecord:
    return ItemRecord(
        task=task, task_version="1", doc_id=doc_id, target=0, prediction=0 if correct else 1, correct=correct,
        metrics={"acc": float(correct)}, chance={"acc": 0.25}, prompt_tokens=100, completion_tokens=0,
        computed_prompt_tokens=100, prefill_s=0.01, decode_s=0.0, total_s=0.01, prompt_sha256="p",
        cache_key=f"{task}-{doc_id}",
    )  # fmt: skip


def _measurement() -> Measurement:
    return Measurement(
        wall_s=100.0, load_s=0.0, items_computed=40, items_cached=0, items_per_s=0.4, prompt_tokens=4000,
        computed_prompt_tokens=4000, completion_tokens=0, prefill_s=90.0, decode_s=0.0, prefill_tokens_per_s=44.0,
        decode_tokens_per_s=None, peak_rss_bytes=1_500_000_000, cuda_max_allocated_bytes=None,
        hardware=detect_hardware(),
    )  # fmt: skip


def _store_with_run(tmp_path: Path, model: str = "hf:smollm2-135m-instruct") -> Store:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    run = RunRecord(
        id="r1", run_key="k", status="finished", created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1),
        model=model, model_identity="sha-abc", tasks=["hellaswag"],
        config={"model": model, "tasks": ["hellaswag"], "price_per_hour": 0.36, "profile": "laptop-cpu",
                "price_is_example": False},
        model_info={"backend": "hf", "name": model, "identity": "sha-abc", "num_parameters": 134_515_008},
        summary={
            "protocols": {
                "hellaswag": {
                    "dimension": "reasoning",
                    "metrics": ["acc"],
                    "fewshot": {"num_fewshot": 0},
                    "version": "1",
                }
            },
            "measurement": _measurement().model_dump(mode="json"),
        },
    )  # fmt: skip
    store.create_run(run)
    for i in range(40):
        store.add_item("r1", _item("hellaswag", i, correct=i % 5 < 2))  # 40 %
    return store


def test_measured_entry_carries_scores_dimensions_cost_and_memory(tmp_path: Path) -> None:
    store = _store_with_run(tmp_path)
    [entry] = measured_entries(store)
    assert entry.provenance == "measured" and entry.params_b is not None and abs(entry.params_b - 0.1345) < 1e-3
    [score] = entry.scores
    assert (score.name, score.benchmark, score.value, score.n, score.shots) == ("hellaswag", "hellaswag", 40.0, 40, 0)
    assert score.ci_low is not None and score.ci_low < 40.0 < (score.ci_high or 0)
    assert abs(entry.dimensions["reasoning"] - 20.0) < 1e-9  # (40 - 25) / 75
    assert entry.memory_gb == 1.5
    assert entry.cost is not None and entry.cost.provenance == "measured"
    # $0.36/h for 100 s over 4,000 tokens
    assert abs((entry.cost.usd_per_1m_blended or 0) - 0.01 / 4000 * 1e6) < 1e-9


def test_published_and_measured_never_mix(tmp_path: Path) -> None:
    store = _store_with_run(tmp_path)
    path = _write(tmp_path, MINI)
    catalog, sha = load_catalog(path)
    store.import_catalog(catalog, sha, path, "pub")
    entries = all_entries(store)
    kinds = {e.key: e.provenance for e in entries}
    assert kinds["p-pub-org-a-1b"] == "published"
    assert sum(k == "measured" for k in kinds.values()) == 1
    for e in entries:
        assert all(s.provenance == e.provenance for s in e.scores)
    published_a = next(e for e in entries if e.model == "org/A-1B")
    assert published_a.scores[0].source == "A report <https://example.org/r>"
    assert published_a.dimensions == {"knowledge": 20.0}  # (40 - 25) / 75


def test_side_by_side_lists_protocol_differences(tmp_path: Path) -> None:
    store = _store_with_run(tmp_path)
    [measured] = measured_entries(store)
    assert hub_id(measured.model) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    rows = side_by_side(measured, alias_card_entries())
    [row] = [r for r in rows if r.benchmark == "hellaswag"]
    assert row.published.value == 40.9 and row.measured.value == 40.0
    assert abs(row.difference + 0.9) < 1e-9 and row.within_ci is True
    assert any("measured on 40 items" in d for d in row.protocol_differences)
    assert any(d.startswith("published protocol:") for d in row.protocol_differences)
    # the alias's 4-bit weights are named in the measured protocol, so in every comparison
    assert "weights: Q4_1 GGUF; published numbers are for the bf16 weights" in row.measured.protocol
    # a model with no published counterpart has no rows
    other = _store_with_run(tmp_path / "o", model="hf:/some/local/dir")
    assert side_by_side(measured_entries(other)[0], alias_card_entries()) == []


def test_measured_entry_takes_the_release_date_of_its_published_checkpoint(tmp_path: Path) -> None:
    store = _store_with_run(tmp_path, model="hf:org/A-1B")
    path = _write(tmp_path, MINI)
    catalog, sha = load_catalog(path)
    store.import_catalog(catalog, sha, path, "pub")
    measured = next(e for e in all_entries(store) if e.provenance == "measured")
    assert measured.released is not None and measured.released.isoformat() == "2024-01-10"
    assert measured.released_label == "2024-01-10 (published release of org/A-1B)"
    # no counterpart, no date
    other = _store_with_run(tmp_path / "o", model="hf:/local/dir")
    assert next(e for e in all_entries(other) if e.provenance == "measured").released is None


def test_a_run_whose_stored_summary_does_not_validate_is_left_out(tmp_path: Path, caplog: Any) -> None:
    store = _store_with_run(tmp_path)
    good = store.get_run("r1")
    store.create_run(good.model_copy(update={"id": "r2", "model_identity": "sha-bad"}))
    summary = good.summary.model_dump(mode="json")
    write_run_columns(store, "r2", summary={**summary, "measurement": {**summary["measurement"], "wall_s": "soon"}})
    with caplog.at_level("WARNING"):
        entries = measured_entries(store)
    assert [e.runs for e in entries] == [["r1"]]
    assert "run r2: summary.measurement.wall_s" in caplog.text and "left out" in caplog.text


def test_entries_carry_no_non_finite_number(tmp_path: Path) -> None:
    """A task whose items have no value for any metric has no score (it was a NaN score before)."""
    store = _store_with_run(tmp_path)
    empty = _item("arc_easy", 0, correct=False).model_copy(update={"metrics": {}, "cache_key": "no-metric"})
    store.add_item("r1", empty)
    [entry] = measured_entries(store)
    assert [s.name for s in entry.scores] == ["hellaswag"]
    numbers = [s.value for s in entry.scores] + list(entry.dimensions.values()) + [entry.overall or 0.0]
    assert all(math.isfinite(v) for v in numbers)
