"""Paired statistics of a sweep on constructed cases with known answers: identical variants give a
zero difference, retained 1 and zero divergence; planted flips give their McNemar counts and p;
the guidance names the smallest variant whose loss is not significant."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from agimeter.analysis.sweep import sweep_report
from agimeter.analysis.sweep_stats import choice_divergence, paired_items, paired_score
from agimeter.backends.gguf_probe import SpeedProbe
from agimeter.backends.gguf_quantize import SourceInfo, Variant
from agimeter.store.records import ItemRecord, RunRecord
from agimeter.store.repository import Store
from agimeter.store.sweep_records import REFERENCE, SweepRecord, VariantRecord
from agimeter.testing.records import item_record

N = 60


def _items(correct: list[bool], *, run: str, task: str = "t", lls: list[list[float]] | None = None) -> list[ItemRecord]:
    return [
        item_record(
            i,
            f"{run}-{task}-{i}",
            task=task,
            correct=ok,
            metrics={"acc": float(ok)},
            prompt_sha256=f"{task}{i}",
            loglikelihoods=lls[i] if lls else [-1.0, -2.0],
        )
        for i, ok in enumerate(correct)
    ]


def test_identical_variant_differs_by_nothing() -> None:
    a = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    result = paired_score([(a, a.copy()), (a[:4], a[:4].copy())])
    assert (result.diff, result.diff_ci_low, result.diff_ci_high) == (0.0, 0.0, 0.0)
    assert result.p_value == 1.0
    assert (result.retained, result.retained_ci_low, result.retained_ci_high) == (1.0, 1.0, 1.0)
    items = _items([bool(v) for v in a], run="r")
    assert choice_divergence(paired_items(items, _items([bool(v) for v in a], run="v"))["t"]) == (0.0, 6)


def test_retained_is_the_ratio_of_the_means() -> None:
    a = np.array([1.0] * 10 + [0.0] * 10)
    b = np.array([1.0] * 5 + [0.0] * 15)
    result = paired_score([(a, b)])
    assert result.retained == pytest.approx(0.5)
    assert result.retained_ci_low is not None and result.retained_ci_high is not None
    assert result.retained_ci_low < 0.5 < result.retained_ci_high <= 1.0
    assert result.diff == pytest.approx(-0.25) and result.diff_ci_high < 0
    # 5 discordant pairs, all one way: the exact sign-flip p is 2 / 2**5 (estimated from 2,000 flips)
    assert result.p_value == pytest.approx(2 / 2**5, abs=0.015)
    assert paired_score([(np.zeros(4), np.ones(4))]).retained is None  # the reference scores 0


def test_choice_divergence_known_value() -> None:
    ref = _items([True, True], run="r", lls=[[0.0, math.log(3.0)], [-1.0, -1.0]])
    var = _items([True, True], run="v", lls=[[0.0, 0.0], [-1.0, -1.0]])
    mean, n = choice_divergence(paired_items(ref, var)["t"]) or (None, 0)
    assert n == 2
    assert mean == pytest.approx((0.25 * math.log(0.5) + 0.75 * math.log(1.5)) / 2)
    gen = [item.model_copy(update={"loglikelihoods": None}) for item in ref]
    assert choice_divergence(paired_items(gen, gen)["t"]) is None  # generative: no choices


def test_items_pair_only_on_the_same_prompt() -> None:
    ref = _items([True] * 4, run="r")
    var = _items([True] * 4, run="v")
    var[2] = var[2].model_copy(update={"prompt_sha256": "other"})
    assert [p[0].doc_id for p in paired_items(ref, var)["t"]] == [0, 1, 3]


# ------------------------------------------------------------------ a constructed stored sweep


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _store_run(store: Store, run_id: str, identity: str, items: list[ItemRecord]) -> None:
    now = _now()
    store.create_run(
        RunRecord(
            id=run_id,
            run_key=run_id,
            status="finished",
            created_at=now,
            updated_at=now,
            model=f"gguf:{run_id}",
            model_identity=identity,
            tasks=sorted({i.task for i in items}),
            summary={"protocols": {t: {"metrics": ["acc"], "dimension": "knowledge"} for t in ("t", "u")}},
        )
    )
    for item in items:
        store.add_item(run_id, item)


def _variant(quant: str, size: int) -> Variant:
    return Variant(
        quant=quant, path=f"/v/{quant}.gguf", sha256=quant.lower() * 4, bytes=size, source_sha256="s" * 64,
        requantized=False, seconds=1.0, reused=False, tensor_types={quant: 1},
    )  # fmt: skip


def _speed(decode: float) -> SpeedProbe:
    return SpeedProbe(
        prompt_tokens=8, gen_tokens=4, repeats=1, threads="1", prefill_tokens_per_s=100.0,
        decode_tokens_per_s=decode, prefill_runs=[100.0], decode_runs=[decode],
    )  # fmt: skip


@pytest.fixture()
def stored_sweep(tmp_path: Path) -> tuple[Store, SweepRecord]:
    """Reference right on items 0-39 of task t and 0-19 of task u; Q8_0 identical; Q4_0 loses 2 items
    of t (not significant); Q2_K loses 12 items of t (significant)."""
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    ref_t = [i < 40 for i in range(N)]
    ref_u = [i < 20 for i in range(30)]
    rows = {
        REFERENCE: (ref_t, 1000, 10.0),
        "Q8_0": (ref_t, 600, 15.0),
        "Q4_0": ([ok and i not in (0, 1) for i, ok in enumerate(ref_t)], 400, 20.0),
        "Q2_K": ([ok and i >= 12 for i, ok in enumerate(ref_t)], 300, 25.0),
    }
    now = _now()
    source = SourceInfo(
        path="/m/src.gguf", sha256="s" * 64, bytes=1000, file_type="F32", quantized=False, parameters=10,
        tensor_types={"F32": 1},
    )  # fmt: skip
    sweep = SweepRecord(
        id="swtest", sweep_key="k", status="finished", created_at=now, updated_at=now, heartbeat_at=now,
        model="gguf:/m/src.gguf", source=source, quants=["Q8_0", "Q4_0", "Q2_K"], options={"alpha": 0.05},
    )  # fmt: skip
    records = []
    for position, (quant, (correct_t, size, decode)) in enumerate(rows.items()):
        run_id = f"run{position}"
        _store_run(
            store, run_id, f"sha256:{quant}", _items(correct_t, run=run_id) + _items(ref_u, run=run_id, task="u")
        )
        records.append(
            VariantRecord(
                sweep_id="swtest",
                quant=quant,
                position=position,
                state="done",
                path=f"/v/{quant}.gguf",
                sha256=quant.lower(),
                bytes=size,
                variant=None if quant == REFERENCE else _variant(quant, size),
                run_ids=[run_id],
                speed=_speed(decode),
                peak_rss_bytes=size * 10,
            )
        )
    store.start_sweep(sweep, records)
    return store, store.get_sweep("swtest")


def test_report_of_a_constructed_sweep(stored_sweep: tuple[Store, SweepRecord]) -> None:
    store, sweep = stored_sweep
    report = sweep_report(store, sweep)
    by = {row.label: row for row in report.rows}
    assert list(by) == ["F32", "Q8_0", "Q4_0", "Q2_K"]
    ref, q8, q4, q2 = by["F32"], by["Q8_0"], by["Q4_0"], by["Q2_K"]
    assert ref.overall is None and all(t.paired is None for t in ref.tasks)

    # identical variant: delta 0, retained 1, choice KL 0, no flips
    for task in q8.tasks:
        assert task.paired is not None and task.paired.diff == 0 and task.paired.p_value == 1.0
        assert (task.paired.only_a_correct, task.paired.only_b_correct) == (0, 0)
        assert task.retained is not None and task.retained.retained == 1.0 and task.choice_kl == 0.0
    assert q8.overall is not None and q8.overall.diff == 0 and not q8.significant_loss

    # planted flips: McNemar counts and exact p
    (t4,) = [t for t in q4.tasks if t.task == "t"]
    assert t4.paired is not None and (t4.paired.only_a_correct, t4.paired.only_b_correct) == (2, 0)
    assert t4.paired.p_value == pytest.approx(binomtest(0, 2, 0.5).pvalue) == 0.5
    assert not q4.significant_loss
    (t2,) = [t for t in q2.tasks if t.task == "t"]
    assert t2.paired is not None and (t2.paired.only_a_correct, t2.paired.only_b_correct) == (12, 0)
    assert t2.paired.p_value == pytest.approx(binomtest(0, 12, 0.5).pvalue)
    assert t2.significant_loss and q2.significant_loss
    assert t2.retained is not None and t2.retained.retained == pytest.approx(28 / 40)

    # GB saved, frontiers and guidance
    assert q4.gb_saved == pytest.approx((1000 - 400) / 1e9)
    assert report.frontier_gb == ["Q2_K", "Q4_0", "Q8_0"]  # F32 is beaten by Q8_0 (same score, smaller)
    assert report.frontier_tps == ["Q2_K", "Q4_0", "Q8_0"]
    assert report.recommended == "Q4_0"
    assert report.guidance.startswith("Smallest variant without a significant paired loss at alpha = 0.05: Q4_0")
    assert "Not significant is not the same as equal" in report.guidance
