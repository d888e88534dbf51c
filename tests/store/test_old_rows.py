"""Rows of every shape an older agimeter stored still load, as records of the current version.

Each shape below is what the code wrote at the commit named beside it (``git show COMMIT:PATH``):
the run record v1 (an untagged evaluation summary, ``{}`` while a run starts), measurement v1
(bf46b1c^: no failures), v2 (ac79bb0^: failures, no sessions) and v3, a perf result v1 (f56ca24^:
no latency quantiles) with options from before ``--warmup`` (4e13aad^), a config from before
``include_paths``/``target_ci``/the judge, a hand-made run with no config or model info, and
items v1 (ef79572^: no chance, weights, details, samples) and v2 (341465d^: no turns, no judge).
The same rows go through the upload check (``server.schemas``), which uses the same loader."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agimeter.analysis.runs import perf_result, run_cost, run_items, run_measurement, run_scores
from agimeter.records.items import ITEM_SCHEMA_VERSION
from agimeter.records.measurement import MEASUREMENT_SCHEMA_VERSION
from agimeter.records.options import PerfOptions, RunOptions
from agimeter.records.perf import PERF_SCHEMA_VERSION
from agimeter.records.run import RUN_SCHEMA_VERSION, typed_parts
from agimeter.records.summary import EvalSummary, PerfSummary
from agimeter.store.repository import Store
from agimeter.store.tables import ItemRow, RunItemRow
from agimeter.testing.raw_rows import insert_run_row

WHEN = datetime(2026, 11, 1, 12, 0)
HARDWARE = {
    "cpu_model": "x86",
    "cpu_cores_logical": 2,
    "cpu_cores_physical": 1,
    "ram_bytes": 8 << 30,
    "os": "Linux",
    "python": "3.11.9",
}
MEASUREMENT_V1 = {
    "schema_version": 1,
    "wall_s": 12.5,
    "load_s": 2.0,
    "items_computed": 2,
    "items_cached": 0,
    "items_per_s": 0.16,
    "prompt_tokens": 300,
    "computed_prompt_tokens": 280,
    "completion_tokens": 4,
    "prefill_s": 1.5,
    "decode_s": 0.5,
    "prefill_tokens_per_s": 186.7,
    "decode_tokens_per_s": 8.0,
    "peak_rss_bytes": 1 << 30,
    "cuda_max_allocated_bytes": None,
    "hardware": HARDWARE,
}
MEASUREMENT_V2 = {**MEASUREMENT_V1, "schema_version": 2, "errors": {"timeout": 1}, "failed_items": 1}
MEASUREMENT_V3 = {**MEASUREMENT_V2, "schema_version": 3, "sessions": 2}
PROTOCOL = {
    "task": "t",
    "version": "1",
    "dimension": "knowledge",
    "output_type": "multiple_choice",
    "metrics": ["acc"],
    "fewshot": {"num_fewshot": 0},
    "prompt": {"description": "", "doc_to_text": "{{q}}", "chat": False},
    "protocol_hash": "h" * 16,
}
# The first RunOptions (no include_paths, target_ci, api_price or judge fields).
CONFIG_V1 = {
    "model": "hf:org/m",
    "tasks": ["t"],
    "data_dir": None,
    "limit": None,
    "sample": None,
    "seed": 1234,
    "num_fewshot": None,
    "batch_size": None,
    "dtype": "auto",
    "device": "auto",
    "chat": "auto",
    "profile": "laptop-cpu",
    "price_per_hour": 0.36,
    "price_is_example": True,
    "backend_options": {},
}
MODEL_INFO = {"backend": "hf", "name": "org/m", "identity": "sha-m", "dtype": "float32", "device": "cpu"}
DIST = {"n": 4, "mean": 10.0, "p50": 9.0, "p90": 12.0, "p95": 13.0, "p99": 14.0, "max": 15.0}
POINT_V1 = {
    "mode": "concurrency",
    "level": 1.0,
    "requests": 4,
    "succeeded": 4,
    "errors": {},
    "wall_s": 2.0,
    "request_per_s": 2.0,
    "output_tokens_per_s": 64.0,
    "input_tokens_per_s": 256.0,
    "goodput_per_s": None,
    "slo_ok": None,
    "ttft": DIST,
    "tpot": DIST,
    "itl": DIST,
    "e2e": DIST,
    "input_tokens": 512,
    "output_tokens": 128,
    "output_tokens_counted_client_side": False,
    "prefill_time_share": 0.25,
    "overhead": {"loop_lag_ms": None, "dispatch_lag_ms": None, "parse_us_per_request": None},
}
# PerfOptions before --warmup (4e13aad^): those runs did no warm-up.
PERF_OPTIONS_V0 = {
    "model": "gguf:tiny",
    "mode": "concurrency",
    "levels": [1.0],
    "requests": 4,
    "duration_s": None,
    "max_concurrency": None,
    "input_tokens": 128,
    "output_tokens": 32,
    "prompts_from": None,
    "data_dir": None,
    "tokenizer": None,
    "ignore_eos": True,
    "slo": None,
    "seed": 0,
    "profile": "laptop-cpu",
    "price_per_hour": 0.36,
    "price_is_example": True,
    "backend_options": {},
}
PERF_V1 = {
    "schema_version": 1,
    "options": PERF_OPTIONS_V0,
    "slo_s": {},
    "input_lengths_exact": True,
    "points": [POINT_V1],
    "cost": None,
    "client_hardware": HARDWARE,
}


def _row(run_id: str, summary: Any, config: Any = CONFIG_V1, model_info: Any = MODEL_INFO) -> dict[str, Any]:
    return {
        "id": run_id,
        "schema_version": 1,
        "run_key": "k-" + run_id,
        "status": "finished",
        "created_at": WHEN,
        "updated_at": WHEN,
        "model": "hf:org/m",
        "model_identity": "sha-m",
        "tasks": ["t"],
        "config": copy.deepcopy(config),
        "model_info": copy.deepcopy(model_info),
        "summary": copy.deepcopy(summary),
        "error": None,
    }


EVAL_SHAPES = {
    "run v1, starting (summary {})": _row("starting", {}),
    "run v1, measurement v1": _row("m1", {"measurement": MEASUREMENT_V1, "protocols": {"t": PROTOCOL}}),
    "run v1, measurement v2": _row(
        "m2", {"measurement": MEASUREMENT_V2, "protocols": {"t": PROTOCOL}, "chat_template": {"t": False}}
    ),
    "run v1, measurement v3, sizes and populations": _row(
        "m3",
        {
            "measurement": MEASUREMENT_V3,
            "protocols": {"t": PROTOCOL},
            "task_sizes": {"t": 10},
            "populations": {"t": {"a": 6, "b": 4}},
        },
    ),
    "hand-made: no config, no model info": _row("bare", {}, config={}, model_info={}),
}


def _store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.parametrize("shape", list(EVAL_SHAPES))
def test_old_evaluation_rows_load_as_current_records(tmp_path: Path, shape: str) -> None:
    row = EVAL_SHAPES[shape]
    store = _store(tmp_path)
    insert_run_row(store, row)
    run = store.get_run(row["id"])
    assert run.problem is None, run.problem
    assert run.schema_version == RUN_SCHEMA_VERSION and isinstance(run.summary, EvalSummary)
    assert isinstance(run.config, RunOptions) and run.config.model == "hf:org/m" and run.config.tasks == ["t"]
    raw = row["summary"].get("measurement")
    measurement = run_measurement(run)
    if raw is None:
        assert measurement is None
        return
    assert measurement is not None and measurement.schema_version == MEASUREMENT_SCHEMA_VERSION
    assert measurement.wall_s == raw["wall_s"] and measurement.hardware.cpu_model == "x86"
    assert measurement.errors == raw.get("errors", {}) and measurement.failed_items == raw.get("failed_items", 0)
    assert measurement.sessions == raw.get("sessions")  # v1/v2 did not count sessions: None, not a guess
    assert run.summary.protocols["t"].dimension == "knowledge" and run.summary.protocols["t"].shots == 0
    # the protocol is kept exactly as written (its hash covers it)
    assert run.summary.protocols["t"].model_dump(mode="json") == PROTOCOL
    assert run_cost(run, measurement).usd_per_run > 0  # priced from the old config's price per hour
    assert run.model_info is not None and run.model_info.identity == "sha-m"


def test_a_hand_made_run_gets_the_default_config(tmp_path: Path) -> None:
    store = _store(tmp_path)
    insert_run_row(store, EVAL_SHAPES["hand-made: no config, no model info"])
    run = store.get_run("bare")
    assert run.problem is None and run.model_info is None
    assert run.config == RunOptions(model="hf:org/m", tasks=["t"])


def test_an_old_perf_row_loads_with_its_warmup_said(tmp_path: Path) -> None:
    store = _store(tmp_path)
    insert_run_row(store, _row("perf1", {"kind": "perf", "perf": PERF_V1}, config=PERF_OPTIONS_V0))
    run = store.get_run("perf1")
    assert run.problem is None and run.is_perf and isinstance(run.summary, PerfSummary)
    assert isinstance(run.config, PerfOptions) and run.config.warmup == 0  # before --warmup: none was done
    result = perf_result(run)
    assert result.schema_version == PERF_SCHEMA_VERSION and result.options.warmup == 0
    point = result.points[0]
    assert point.quantiles_ms is None and point.ttft is not None and point.ttft.p50 == 9.0


ITEM_V1 = {
    "schema_version": 1,
    "task": "t",
    "task_version": "1",
    "doc_id": 0,
    "subtask": None,
    "target": 1,
    "prediction": 1,
    "correct": True,
    "metrics": {"acc": 1.0},
    "loglikelihoods": [-2.0, -0.5],
    "is_greedy": [False, True],
    "generation": None,
    "prompt_tokens": 150,
    "completion_tokens": 2,
    "computed_prompt_tokens": 140,
    "prefill_s": 0.75,
    "decode_s": 0.25,
    "total_s": 1.0,
    "prompt_sha256": "p" * 64,
    "cache_key": "c0",
}
ITEM_V2 = {
    **ITEM_V1,
    "schema_version": 2,
    "doc_id": 1,
    "correct": False,
    "prediction": 0,
    "metrics": {"acc": 0.0},
    "chance": {"acc": 0.5},
    "weights": {},
    "details": None,
    "generations": None,
    "cache_key": "c1",
}


def test_old_items_load_and_score(tmp_path: Path) -> None:
    store = _store(tmp_path)
    insert_run_row(store, EVAL_SHAPES["run v1, measurement v2"])
    with store._session() as s, s.begin():
        for item in (ITEM_V1, ITEM_V2):
            key = str(item["cache_key"])
            s.add(ItemRow(cache_key=key, schema_version=item["schema_version"], task="t", doc_id=item["doc_id"],
                          created_at=WHEN, record=item))  # fmt: skip
            s.add(RunItemRow(run_id="m2", task="t", doc_id=item["doc_id"], cache_key=key))
    run = store.get_run("m2")
    items = run_items(store, run)
    assert [i.schema_version for i in items] == [ITEM_SCHEMA_VERSION] * 2
    first, second = sorted(items, key=lambda i: i.doc_id)
    assert first.chance == {} and first.weights == {} and first.details is None and first.generations is None
    assert second.chance == {"acc": 0.5}
    assert all(i.turns is None and i.judge_prompt_tokens == 0 and i.judge_s == 0.0 for i in items)
    (score,) = run_scores(store, run)
    assert score.n == 2 and score.metrics["acc"].mean == pytest.approx(0.5) and score.dimension == "knowledge"
    assert store.cached_items(["c0", "c1"]).keys() == {"c0", "c1"}  # old items still serve the cache


@pytest.mark.parametrize("shape", list(EVAL_SHAPES))
def test_uploads_of_old_shapes_validate_like_stored_rows(shape: str) -> None:
    """The server checks an upload's parts with the store's own loader: what loads, uploads."""
    row = EVAL_SHAPES[shape]
    parts = typed_parts(row)
    assert isinstance(parts["summary"], EvalSummary) and isinstance(parts["config"], RunOptions)


def test_a_row_of_an_unknown_kind_is_refused_naming_the_field(tmp_path: Path) -> None:
    store = _store(tmp_path)
    insert_run_row(store, _row("odd", {"kind": "benchmark"}))
    run = store.get_run("odd")
    assert run.problem is not None and "summary.kind" in run.problem and "odd" in run.problem
