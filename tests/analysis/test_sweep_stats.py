"""Paired statistics of a sweep on constructed cases with known answers: identical variants give a
zero difference, retained 1 and zero divergence; planted flips give their McNemar counts and p;
the guidance names the smallest variant whose loss is not significant."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from agimeter.analysis.sweep import sweep_report
from agimeter.analysis.sweep_stats import choice_divergence, mean_of_tasks, paired_items, paired_score
from agimeter.store.repository import Store
from agimeter.store.sweep_records import SweepRecord
from agimeter.testing.sweeps import build_sweep, sweep_items


def test_identical_variant_differs_by_nothing() -> None:
    a = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    result = paired_score([(a, a.copy()), (a[:4], a[:4].copy())])
    assert (result.diff, result.diff_ci_low, result.diff_ci_high) == (0.0, 0.0, 0.0)
    assert result.p_value == 1.0
    assert (result.retained, result.retained_ci_low, result.retained_ci_high) == (1.0, 1.0, 1.0)
    items = sweep_items([bool(v) for v in a], run="r")
    assert choice_divergence(paired_items(items, sweep_items([bool(v) for v in a], run="v"))["t"]) == (0.0, 6)


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
    ref = sweep_items([True, True], run="r", lls=[[0.0, math.log(3.0)], [-1.0, -1.0]])
    var = sweep_items([True, True], run="v", lls=[[0.0, 0.0], [-1.0, -1.0]])
    mean, n = choice_divergence(paired_items(ref, var)["t"]) or (None, 0)
    assert n == 2
    assert mean == pytest.approx((0.25 * math.log(0.5) + 0.75 * math.log(1.5)) / 2)
    gen = [item.model_copy(update={"loglikelihoods": None}) for item in ref]
    assert choice_divergence(paired_items(gen, gen)["t"]) is None  # generative: no choices


def test_mean_of_tasks_weighs_tasks_equally() -> None:
    result = mean_of_tasks([np.ones(10), np.zeros(90)])
    assert result.mean == 0.5  # not 10 / 100
    assert result.ci_low < 0.5 < result.ci_high or result.ci_low == result.ci_high == 0.5
    assert mean_of_tasks([np.ones(5)]).model_dump() == {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0}


def test_items_pair_only_on_the_same_prompt() -> None:
    ref = sweep_items([True] * 4, run="r")
    var = sweep_items([True] * 4, run="v")
    var[2] = var[2].model_copy(update={"prompt_sha256": "other"})
    assert [p[0].doc_id for p in paired_items(ref, var)["t"]] == [0, 1, 3]


@pytest.fixture()
def stored_sweep(tmp_path: Path) -> tuple[Store, SweepRecord]:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    return store, build_sweep(store)


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


def test_the_level_decides_what_counts_as_a_loss(stored_sweep: tuple[Store, SweepRecord]) -> None:
    store, sweep = stored_sweep
    lenient = sweep_report(store, sweep, alpha=0.6)  # Q4_0's p = 0.5 is now "significant"
    assert lenient.alpha == 0.6 and lenient.recommended == "Q8_0"
    assert next(r for r in lenient.rows if r.label == "Q4_0").significant_loss
