"""A stored run's JSON read through typed records (``records.run.load_run``, as the store reads
rows): every reader's field validated, no NaN anywhere, and the first problem named in one line."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest

from agimeter.analysis.runs import check_run, run_cost, run_items, run_measurement
from agimeter.backends.hardware import detect_hardware
from agimeter.errors import AgimeterError
from agimeter.records.checks import first_non_finite
from agimeter.records.measurement import Measurement
from agimeter.records.run import BadRunError, RunRecord, load_run
from agimeter.records.summary import EvalSummary, PerfSummary
from agimeter.store.repository import Store
from agimeter.testing.records import item_record


def _measurement(**changes: Any) -> dict[str, Any]:
    m = Measurement(
        wall_s=10.0, load_s=1.0, items_computed=4, items_cached=0, items_per_s=0.4, prompt_tokens=40,
        computed_prompt_tokens=40, completion_tokens=4, prefill_s=1.0, decode_s=0.5, prefill_tokens_per_s=40.0,
        decode_tokens_per_s=8.0, peak_rss_bytes=10**9, cuda_max_allocated_bytes=None, hardware=detect_hardware(),
    ).model_dump(mode="json")  # fmt: skip
    return {**m, **changes}


CONFIG = {"model": "fake:x", "tasks": ["t"], "profile": "laptop-cpu", "price_per_hour": 0.36, "price_is_example": True}


def _raw(summary: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A stored run row: header columns and the JSON parts as the store keeps them."""
    now = datetime(2026, 1, 1)
    base: dict[str, Any] = {
        "id": "r1", "run_key": "k", "status": "finished", "created_at": now, "updated_at": now,
        "model": "fake:x", "model_identity": "i", "tasks": ["t"],
        "config": CONFIG,
        "model_info": {"backend": "fake", "name": "x", "identity": "i", "num_parameters": 10},
        "summary": {
            "measurement": _measurement(),
            "protocols": {"t": {"dimension": "knowledge", "metrics": ["acc"], "fewshot": {"num_fewshot": 0}}},
            "chat_template": {"t": False},
            "populations": {"t": {"a": 10, "b": 20}},
        }
        if summary is None
        else summary,
    }  # fmt: skip
    return {**base, **fields}


def _run(summary: dict[str, Any] | None = None, **fields: Any) -> RunRecord:
    return load_run(_raw(summary, **fields))


def test_first_non_finite_names_the_path() -> None:
    assert first_non_finite({"a": [1.0, {"b": 2}], "c": "nan"}) is None
    assert first_non_finite({"a": [1.0, {"b": math.nan}]}) == "a.1.b"
    assert first_non_finite([0.0, -math.inf]) == "1"
    assert first_non_finite(math.inf) == "value"


def test_a_good_run_reads_typed() -> None:
    facts = check_run(_run())
    assert isinstance(facts.summary, EvalSummary) and facts.summary.populations == {"t": {"a": 10, "b": 20}}
    assert facts.summary.protocols["t"].metrics == ["acc"] and facts.config.price_per_hour == 0.36
    assert facts.model_info is not None and facts.model_info.num_parameters == 10
    measurement = run_measurement(_run())
    assert measurement is not None and measurement.wall_s == 10.0
    assert run_cost(_run(), measurement).price_per_hour == 0.36
    # a run just created has an empty summary and may have no model info
    assert check_run(_run({}, model_info={})).model_info is None


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (lambda s: s["measurement"].update(wall_s="soon"), "summary.measurement.wall_s"),
        (lambda s: s.update(measurement=[1, 2]), "summary.measurement"),
        (lambda s: s["measurement"].update(decode_s=math.nan), "summary.measurement.decode_s is not a finite number"),
        (lambda s: s["measurement"].update(prompt_tokens=-1), "summary.measurement.prompt_tokens"),
        (lambda s: s["measurement"].pop("hardware"), "summary.measurement.hardware"),
        (lambda s: s.update(protocols={"t": "acc"}), "summary.protocols.t"),
        (lambda s: s["protocols"]["t"].update(metrics="acc"), "summary.protocols.t.metrics"),
        (lambda s: s["protocols"]["t"].update(fewshot={"num_fewshot": -2}), "summary.protocols.t.fewshot.num_fewshot"),
        (lambda s: s.update(populations={"t": {"a": "ten"}}), "summary.populations.t.a"),
        (lambda s: s.update(sequential={"t": {"reached": True}}), "summary.sequential.t"),
        (lambda s: s.update(chat_template={"t": "sometimes"}), "summary.chat_template.t"),
        # the summary is tagged with its kind (run record v2): an unknown kind is refused
        (lambda s: s.update(kind="evaluation"), "summary.kind"),
        (lambda s: s.update(kind="perf"), "summary.perf"),
    ],
)
def test_a_malformed_summary_is_one_line_naming_the_field(spoil: Any, field: str) -> None:
    raw = _raw()
    spoil(raw["summary"])
    run = load_run(raw)
    assert run.problem is not None and run.summary == EvalSummary()  # listed, but with nothing to read
    with pytest.raises(BadRunError) as err:
        check_run(run)
    message = str(err.value)
    assert message.startswith(f"run r1: {field}") and "\n" not in message, message
    assert isinstance(err.value, AgimeterError) and err.value.exit_code == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"summary": {"kind": "perf", "perf": {"points": []}}}, "summary.perf"),
        ({"config": {**CONFIG, "price_per_hour": -1.0}}, "config.price_per_hour"),
        ({"config": {**CONFIG, "price_per_hour": math.inf}}, "config.price_per_hour is not a finite number"),
        ({"config": {**CONFIG, "api_price": {"usd_input": 1}}}, "config.api_price"),
        ({"config": {**CONFIG, "colour": "blue"}}, "config.colour"),
        ({"config": {"price_per_hour": 0.36}}, "config.model"),
        ({"model_info": {"backend": "hf", "name": "x", "identity": "i", "num_parameters": "many"}}, "model_info"),
    ],
)
def test_perf_config_and_model_info_are_checked_too(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRunError, match=f"^run r1: {field}"):
        check_run(_run(**fields))


def test_a_perf_summary_is_a_perf_result() -> None:
    with pytest.raises(BadRunError, match=r"summary\.perf\.schema_version|summary\.perf\.options"):
        check_run(_run({"kind": "perf", "perf": {"schema_version": "two"}}))
    assert PerfSummary.model_fields["perf"].annotation is not None


def test_an_item_with_a_nan_metric_makes_the_run_unreadable(tmp_path: Any) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    store.create_run(_run())
    item = item_record(3, "c", metrics={"acc": math.nan})
    store.add_item("r1", item)
    with pytest.raises(BadRunError, match=r"^run r1: item t/3: metrics\.acc is not a finite number$"):
        run_items(store, store.get_run("r1"))
