"""Paired statistics of a variant against its reference, over the items both ran (same prompts).

- **Overall**: the unweighted mean over tasks of each task's primary metric, for the reference (A)
  and the variant (B). The difference B − A gets a paired bootstrap 95% CI (every task's items
  resampled, pairs kept together) and a two-sided sign-flip permutation p-value (each item's pair
  swapped with probability 1/2), as ``compare`` does for dimensions.
- **Capability retained**: B ÷ A (overall, and per task), with a percentile CI from the same
  paired bootstrap; undefined when the reference scores 0.
- **Choice divergence** (multiple-choice tasks): per item, KL(P‖Q) between the softmax of the
  reference's and of the variant's choice log-likelihoods, as stored: raw sums of the choice
  tokens' log-probs (the distribution ``acc`` picks from), not length-normalised; averaged over
  the paired items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from agimeter.analysis.compare import _resampled_means, _swapped_means  # package-internal helpers
from agimeter.backends.gguf_probe import token_kl
from agimeter.store.records import ItemRecord

RESAMPLES = 2000


class PairedScore(BaseModel):
    """A (variant − reference) comparison of mean scores over paired items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int
    reference: float
    variant: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    p_value: float
    retained: float | None  # variant / reference
    retained_ci_low: float | None
    retained_ci_high: float | None


class PairedMean(BaseModel):
    """A mean of task means with its bootstrap CI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    ci_low: float
    ci_high: float


def paired_score(
    tasks: Sequence[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedScore:
    """``tasks``: per task, the reference's and the variant's per-item values on the same items."""
    if not tasks or any(len(a) == 0 or len(a) != len(b) for a, b in tasks):
        raise ValueError("every task needs the same, non-zero number of paired items")
    rng = np.random.default_rng(seed)
    score_a = float(np.mean([a.mean() for a, _ in tasks]))
    score_b = float(np.mean([b.mean() for _, b in tasks]))
    boot = [_resampled_means([a, b], resamples, rng) for a, b in tasks]
    boot_a = np.mean([m[0] for m in boot], axis=0)
    boot_b = np.mean([m[1] for m in boot], axis=0)
    swapped = [_swapped_means(a, b, resamples, rng) for a, b in tasks]
    null = np.mean([s[1] for s in swapped], axis=0) - np.mean([s[0] for s in swapped], axis=0)
    diff = score_b - score_a
    p = float((1 + np.sum(np.abs(null) >= abs(diff) - 1e-12)) / (resamples + 1))
    low, high = np.percentile(boot_b - boot_a, [2.5, 97.5])
    retained = r_low = r_high = None
    if score_a > 0:
        retained = score_b / score_a
        ok = boot_a > 0
        if ok.any():
            r_low, r_high = (float(v) for v in np.percentile(boot_b[ok] / boot_a[ok], [2.5, 97.5]))
    return PairedScore(
        n=sum(len(a) for a, _ in tasks),
        reference=score_a,
        variant=score_b,
        diff=diff,
        diff_ci_low=float(low),
        diff_ci_high=float(high),
        p_value=min(1.0, p),
        retained=retained,
        retained_ci_low=r_low,
        retained_ci_high=r_high,
    )


def mean_of_tasks(tasks: Sequence[np.ndarray[Any, Any]], *, resamples: int = RESAMPLES, seed: int = 0) -> PairedMean:
    """The unweighted mean over tasks of each task's mean, with a bootstrap 95% CI (items resampled
    within each task)."""
    if not tasks or any(len(t) == 0 for t in tasks):
        raise ValueError("every task needs at least one item")
    rng = np.random.default_rng(seed)
    boot = np.mean([_resampled_means([t], resamples, rng)[0] for t in tasks], axis=0)
    low, high = np.percentile(boot, [2.5, 97.5])
    return PairedMean(mean=float(np.mean([t.mean() for t in tasks])), ci_low=float(low), ci_high=float(high))


def paired_items(
    reference: Sequence[ItemRecord], variant: Sequence[ItemRecord]
) -> dict[str, list[tuple[ItemRecord, ItemRecord]]]:
    """Items of both runs with the same task, doc id and prompt, per task (as ``compare`` pairs them)."""
    by_ref = {(i.task, i.doc_id): i for i in reference}
    out: dict[str, list[tuple[ItemRecord, ItemRecord]]] = defaultdict(list)
    for item in sorted(variant, key=lambda i: (i.task, i.doc_id)):
        ref = by_ref.get((item.task, item.doc_id))
        if ref is not None and ref.prompt_sha256 == item.prompt_sha256:
            out[item.task].append((ref, item))
    return dict(out)


def choice_divergence(pairs: Sequence[tuple[ItemRecord, ItemRecord]]) -> tuple[float, int] | None:
    """Mean KL(P_ref‖Q_variant) over the choices' softmax of raw log-likelihoods, and the items it
    covers; None when no pair has comparable log-likelihoods (a generative task)."""
    values = []
    for ref, var in pairs:
        if ref.loglikelihoods and var.loglikelihoods and len(ref.loglikelihoods) == len(var.loglikelihoods):
            values.append(float(token_kl(np.array([ref.loglikelihoods]), np.array([var.loglikelihoods]))[0]))
    return (float(np.mean(values)), len(values)) if values else None


__all__ = ["PairedMean", "PairedScore", "choice_divergence", "mean_of_tasks", "paired_items", "paired_score"]
