"""The decode_tps Pareto axis (higher is better): frontier order and dominance on hand-made
entries, and measured entries taking their decode speed from a sweep's speed probe."""

from __future__ import annotations

from pathlib import Path

from agimeter.analysis.entries import ModelEntry, measured_entries
from agimeter.analysis.progress import pareto_report
from agimeter.store.repository import Store
from agimeter.testing.sweeps import ROWS, build_sweep


def _entry(key: str, **fields: object) -> ModelEntry:
    return ModelEntry.model_validate({"key": key, "model": key, "provenance": "measured", **fields})


def test_faster_is_better_on_decode_tps() -> None:
    entries = [
        _entry("fast", overall=20.0, decode_tokens_per_s=30.0),
        _entry("slow", overall=40.0, decode_tokens_per_s=10.0),
        _entry("slow-and-worse", overall=35.0, decode_tokens_per_s=8.0),
        _entry("unmeasured", overall=90.0),
    ]
    report = pareto_report(entries, cost="decode_tps")
    assert report.frontier == ["fast", "slow"]  # fastest first
    assert [p.key for p in report.points] == ["fast", "slow", "slow-and-worse"]
    assert report.points[2].dominated_by == ["slow"] and not report.points[2].on_frontier
    assert [(n.key, n.reason) for n in report.not_placed] == [("unmeasured", "no measured decode speed")]
    assert report.cost_label.startswith("decode tokens/s")


def test_measured_entries_take_the_sweep_probe(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    build_sweep(store)
    by_model = {e.model: e for e in measured_entries(store)}
    assert by_model["gguf:/v/Q2_K.gguf"].decode_tokens_per_s == ROWS["Q2_K"][2]
    assert by_model["gguf:/m/src.gguf"].decode_basis == "speed probe of sweep swtest"
    assert {m: e.decode_tokens_per_s for m, e in by_model.items()} == {
        "gguf:/m/src.gguf": 10.0,
        "gguf:/v/Q8_0.gguf": 15.0,
        "gguf:/v/Q4_0.gguf": 20.0,
        "gguf:/v/Q2_K.gguf": 25.0,
    }
