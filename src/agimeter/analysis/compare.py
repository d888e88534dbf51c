"""Paired comparison of two runs on the items they share.

Items are paired by (task, doc_id) and only when both runs saw the same prompt (same
``prompt_sha256``), so a different few-shot count or template never passes for a model
difference. Per task and metric: the difference B - A with a paired bootstrap 95% CI (items
resampled together, seeded), and a p-value — McNemar's exact test on the discordant pairs for 0/1
metrics, a paired sign-flip permutation test otherwise. "Significant" means p < alpha.

Per dimension: the difference of the normalised dimension scores (each task's primary metric
rescaled to chance 0 / perfect 100, tasks averaged), with a CI from a bootstrap that resamples
items within every task of the dimension at once, and a sign-flip permutation p-value of the
same statistic (each item's difference flips sign independently).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from agimeter.records.items import ItemRecord
from agimeter.records.protocol import TaskProtocol

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


class DimensionComparison(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dimension: str
    tasks: list[str]
    n: int
    score_a: float  # normalised, 0-100
    score_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = COMPARE_SCHEMA_VERSION
    alpha: float
    shared_items: int
    only_in_a: int
    only_in_b: int
    prompt_mismatches: int
    rows: list[MetricComparison]
    dimensions: list[DimensionComparison] = []


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs at 1/2."""
    from scipy.stats import binomtest

    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(only_b, n, 0.5).pvalue)


# Random draws are made in blocks of at most this many numbers (16 MB of float64), so a
# comparison's memory stays bounded however many items a task has.
BLOCK_ELEMENTS = 2_000_000


def _blocks(resamples: int, n: int) -> Iterator[int]:
    """Row counts of the blocks that make up ``resamples`` rows of ``n`` draws each."""
    rows = max(1, BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, resamples, rows):
        yield min(rows, resamples - start)


def _resampled_means(values: Sequence[np.ndarray], resamples: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per resample, the mean of each array over the same items drawn with replacement (pairs stay together)."""
    n = len(values[0])
    out: list[list[np.ndarray]] = [[] for _ in values]
    for rows in _blocks(resamples, n):
        picks = rng.integers(0, n, size=(rows, n))
        for means, v in zip(out, values, strict=True):
            means.append(v[picks].mean(axis=1))
    return [np.concatenate(m) for m in out]


def _swapped_means(
    a: np.ndarray, b: np.ndarray, resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per resample, the means of the two sides after each pair is swapped with probability 1/2."""
    side_a: list[np.ndarray] = []
    side_b: list[np.ndarray] = []
    for rows in _blocks(resamples, len(a)):
        swap = rng.random((rows, len(a))) < 0.5
        side_a.append(np.where(swap, b, a).mean(axis=1))
        side_b.append(np.where(swap, a, b).mean(axis=1))
    return np.concatenate(side_a), np.concatenate(side_b)


def paired_bootstrap_ci(
    a: np.ndarray, b: np.ndarray, *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile CI of mean(b - a), resampling items (pairs stay together)."""
    (means,) = _resampled_means([b - a], resamples, np.random.default_rng(seed))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def sign_flip_p(a: np.ndarray, b: np.ndarray, *, resamples: int = 5000, seed: int = 0) -> float:
    """Two-sided paired permutation test: flip the sign of each item's difference at random."""
    diffs = b - a
    observed = abs(diffs.mean())
    rng = np.random.default_rng(seed)
    null = np.concatenate(
        [
            np.abs((rng.choice((-1.0, 1.0), size=(rows, len(diffs))) * diffs).mean(axis=1))
            for rows in _blocks(resamples, len(diffs))
        ]
    )
    return float((1 + np.sum(null >= observed - 1e-12)) / (resamples + 1))


def compare_items(
    a_items: Sequence[ItemRecord],
    b_items: Sequence[ItemRecord],
    *,
    alpha: float = 0.05,
    protocols: Mapping[str, TaskProtocol] | None = None,
) -> Comparison:
    """``protocols`` (a run's, per task) give dimensions and primary metrics for the
    per-dimension rows; without them only per-task rows are made."""
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
        dimensions=_compare_dimensions(by_task, protocols or {}, alpha),
    )


def _compare_dimensions(
    by_task: Mapping[str, list[tuple[ItemRecord, ItemRecord]]],
    protocols: Mapping[str, TaskProtocol],
    alpha: float,
    resamples: int = 2000,
    seed: int = 0,
) -> list[DimensionComparison]:
    groups: dict[str, list[tuple[str, np.ndarray, np.ndarray, float]]] = defaultdict(list)
    for task, items in sorted(by_task.items()):
        protocol = protocols.get(task) or TaskProtocol()
        dimension, metrics = protocol.dimension, protocol.metrics
        if not dimension or not metrics or metrics[0] not in items[0][0].metrics:
            continue
        metric = str(metrics[0])
        a = np.array([x.metrics[metric] for x, _ in items], dtype=float)
        b = np.array([y.metrics[metric] for _, y in items], dtype=float)
        chance = float(np.mean([x.chance.get(metric, 0.0) for x, _ in items]))
        scale = 100 / (1 - chance)
        groups[str(dimension)].append((task, a * scale, b * scale, chance * scale))
    rng = np.random.default_rng(seed)
    out = []
    for dimension, tasks in sorted(groups.items()):
        chances = [t[3] for t in tasks]

        def score(values: list[np.ndarray], chances: list[float] = chances) -> np.ndarray:
            """Mean over tasks of (normalised mean - normalised chance), clipped at 0; ``values`` holds
            each task's means (one per resample, or a single one)."""
            return np.asarray(np.mean([np.maximum(0.0, v - c) for v, c in zip(values, chances, strict=True)], axis=0))

        score_a = float(score([np.asarray(t[1].mean()) for t in tasks]))
        score_b = float(score([np.asarray(t[2].mean()) for t in tasks]))
        # every task's items resampled (and, for the null, swapped) independently, all resamples at once
        boot_means = [_resampled_means([t[1], t[2]], resamples, rng) for t in tasks]
        boot = score([m[1] for m in boot_means]) - score([m[0] for m in boot_means])
        swapped = [_swapped_means(t[1], t[2], resamples, rng) for t in tasks]
        null = score([s[0] for s in swapped]) - score([s[1] for s in swapped])
        diff = score_b - score_a
        p = float((1 + np.sum(np.abs(null) >= abs(diff) - 1e-9)) / (resamples + 1))
        low, high = np.percentile(boot, [2.5, 97.5])
        out.append(
            DimensionComparison(
                dimension=dimension,
                tasks=[t[0] for t in tasks],
                n=sum(len(t[1]) for t in tasks),
                score_a=score_a,
                score_b=score_b,
                diff=diff,
                ci_low=float(low),
                ci_high=float(high),
                p_value=p,
                significant=p < alpha,
            )
        )
    return out


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
