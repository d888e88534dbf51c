"""Paired comparison of two runs on the items they share.

Items are paired by (task, doc_id) and only when both runs saw the same prompt (same
``prompt_sha256``), so a different few-shot count or template never passes for a model
difference. Per task and metric: the difference B - A with a paired bootstrap 95% CI (items
resampled together, seeded), and a p-value — McNemar's exact test on the discordant pairs for 0/1
metrics, a paired sign-flip permutation test otherwise. "Significant" means p < alpha.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from agimeter.store.records import ItemRecord

COMPARE_SCHEMA_VERSION = 1


class MetricComparison(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    metric: str
    n: int  # shared items
    mean_a: float
    mean_b: float
    diff: float  # B - A
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    significant: bool
    only_a_correct: int | None = None  # discordant pairs (0/1 metrics)
    only_b_correct: int | None = None


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = COMPARE_SCHEMA_VERSION
    alpha: float
    shared_items: int
    only_in_a: int
    only_in_b: int
    prompt_mismatches: int
    rows: list[MetricComparison]


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs at 1/2."""
    from scipy.stats import binomtest

    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(only_b, n, 0.5).pvalue)


def paired_bootstrap_ci(
    a: np.ndarray, b: np.ndarray, *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile CI of mean(b - a), resampling items (pairs stay together)."""
    diffs = b - a
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def sign_flip_p(a: np.ndarray, b: np.ndarray, *, resamples: int = 5000, seed: int = 0) -> float:
    """Two-sided paired permutation test: flip the sign of each item's difference at random."""
    diffs = b - a
    observed = abs(diffs.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(resamples, len(diffs)))
    null = np.abs((signs * diffs).mean(axis=1))
    return float((1 + np.sum(null >= observed - 1e-12)) / (resamples + 1))


def compare_items(a_items: Sequence[ItemRecord], b_items: Sequence[ItemRecord], *, alpha: float = 0.05) -> Comparison:
    a_by = {(i.task, i.doc_id): i for i in a_items}
    b_by = {(i.task, i.doc_id): i for i in b_items}
    shared = sorted(set(a_by) & set(b_by))
    mismatched = [k for k in shared if a_by[k].prompt_sha256 != b_by[k].prompt_sha256]
    pairs = [k for k in shared if a_by[k].prompt_sha256 == b_by[k].prompt_sha256]
    by_task: dict[str, list[tuple[ItemRecord, ItemRecord]]] = defaultdict(list)
    for key in pairs:
        by_task[key[0]].append((a_by[key], b_by[key]))
    rows = []
    for task, items in sorted(by_task.items()):
        metrics = sorted(set(items[0][0].metrics) & set(items[0][1].metrics))
        for metric in metrics:
            a = np.array([x.metrics[metric] for x, _ in items], dtype=float)
            b = np.array([y.metrics[metric] for _, y in items], dtype=float)
            rows.append(_compare_metric(task, metric, a, b, alpha))
    return Comparison(
        alpha=alpha,
        shared_items=len(pairs),
        only_in_a=len(set(a_by) - set(b_by)),
        only_in_b=len(set(b_by) - set(a_by)),
        prompt_mismatches=len(mismatched),
        rows=rows,
    )


def _compare_metric(task: str, metric: str, a: np.ndarray, b: np.ndarray, alpha: float) -> MetricComparison:
    low, high = paired_bootstrap_ci(a, b)
    binary = bool(np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all())
    only_a = only_b = None
    if binary:
        only_a = int(np.sum((a == 1) & (b == 0)))
        only_b = int(np.sum((a == 0) & (b == 1)))
        p, test = mcnemar_exact(only_a, only_b), "McNemar exact"
    else:
        p, test = sign_flip_p(a, b), "paired sign-flip permutation"
    return MetricComparison(
        task=task,
        metric=metric,
        n=len(a),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        diff=float((b - a).mean()),
        ci_low=low,
        ci_high=high,
        p_value=p,
        test=test,
        significant=p < alpha,
        only_a_correct=only_a,
        only_b_correct=only_b,
    )
