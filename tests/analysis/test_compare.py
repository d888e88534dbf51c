"""Paired comparison: McNemar on discordant pairs, paired bootstrap CI, pairing rules, CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from agimeter.analysis.compare import compare_items, mcnemar_exact, paired_bootstrap_ci, sign_flip_p
from agimeter.records.items import ItemRecord
from agimeter.records.protocol import TaskProtocol

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _item(doc: int, correct: bool, *, task: str = "t", prompt: str = "p", score: float | None = None) -> ItemRecord:
    value = float(correct) if score is None else score
    return ItemRecord(
        task=task, task_version="1", doc_id=doc, target=1, prediction=1, correct=correct, metrics={"acc": value},
        prompt_tokens=1, completion_tokens=0, computed_prompt_tokens=1, prefill_s=0.0, decode_s=0.0, total_s=0.0,
        prompt_sha256=f"{prompt}{doc}", cache_key=f"{task}{doc}{correct}{prompt}",
    )  # fmt: skip


def test_mcnemar_matches_an_exact_binomial_test() -> None:
    assert mcnemar_exact(3, 15) == pytest.approx(binomtest(15, 18, 0.5).pvalue)
    assert mcnemar_exact(0, 0) == 1.0


def test_clear_improvement_is_significant_and_ties_are_not() -> None:
    # B fixes 30 items A got wrong and breaks 5: 200 shared items.
    a = [_item(i, i >= 40) for i in range(200)]
    b = [_item(i, (i >= 40 and i not in range(40, 45)) or i < 30) for i in range(200)]
    (row,) = compare_items(a, b).rows
    assert (row.only_a_correct, row.only_b_correct) == (5, 30)
    assert row.diff == pytest.approx(25 / 200)
    assert row.ci_low < 25 / 200 < row.ci_high and row.ci_low > 0
    assert row.significant and row.p_value == pytest.approx(binomtest(30, 35, 0.5).pvalue)
    same = compare_items(a, a).rows[0]
    assert same.diff == 0 and same.p_value == 1.0 and not same.significant


def test_pairs_only_items_with_the_same_prompt() -> None:
    a = [_item(i, True) for i in range(10)]
    b = [_item(i, False, prompt="other" if i < 3 else "p") for i in range(12)]
    result = compare_items(a, b)
    assert result.shared_items == 7 and result.prompt_mismatches == 3 and result.only_in_b == 2
    assert result.rows[0].n == 7


def test_bootstrap_and_permutation_on_continuous_scores() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0.5, 0.1, 300)
    b = a + 0.05 + rng.normal(0, 0.02, 300)
    low, high = paired_bootstrap_ci(a, b)
    assert low < 0.05 < high and high - low < 0.01
    assert sign_flip_p(a, b) < 0.01
    assert sign_flip_p(a, a + rng.normal(0, 0.02, 300)) > 0.01
    items_a = [_item(i, True, score=float(x)) for i, x in enumerate(a)]
    items_b = [_item(i, True, score=float(x)) for i, x in enumerate(b)]
    assert compare_items(items_a, items_b).rows[0].test == "paired sign-flip permutation"


def test_compare_cli(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    store = f"sqlite:///{toy_env['store']}"
    for model in ("fake:a", "fake:b"):
        res = agimeter("run", "--model", model, "--tasks", str(toy_env["mc"]), "--data-dir", str(toy_env["data"]),
                       "--store", store, "--format", "json")  # fmt: skip
        assert res.returncode == 0, res.stderr
    runs = agimeter("runs", "--store", store).stdout
    ids = [line.split()[1] for line in runs.splitlines() if "fake:" in line]
    out = agimeter("compare", ids[1], ids[0], "--store", store, "--format", "json")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    assert payload["shared_items"] == 40 and {r["metric"] for r in payload["rows"]} == {"acc", "acc_norm"}
    table = agimeter("compare", ids[1], ids[0], "--store", store)
    assert "McNemar exact" in table.stdout and "significant" in table.stdout


def test_per_dimension_difference_is_normalised_and_tested() -> None:
    protocols = {
        "k1": TaskProtocol(dimension="knowledge", metrics=["acc"]),
        "k2": TaskProtocol(dimension="knowledge", metrics=["acc"]),
        "m": TaskProtocol(dimension="math", metrics=["acc"]),
    }
    a, b = [], []
    for task in ("k1", "k2", "m"):
        for i in range(200):
            a.append(_item(i, i % 2 == 0, task=task))
            # knowledge: B also gets 60 of A's misses right (+30 points); math: same as A
            b.append(_item(i, i % 2 == 0 or (task != "m" and i < 120), task=task))
    result = compare_items(a, b, protocols=protocols)
    know, math_dim = result.dimensions
    assert know.dimension == "knowledge" and know.tasks == ["k1", "k2"] and know.n == 400
    assert know.score_a == pytest.approx(50.0) and know.diff == pytest.approx(30.0)
    assert know.ci_low > 0 and know.significant
    assert math_dim.diff == 0 and not math_dim.significant and math_dim.p_value == 1.0
    assert compare_items(a, b).dimensions == []  # no protocols, no dimensions
