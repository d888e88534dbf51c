"""Multiple-choice items scored on one backend under a task's protocol, and two backends compared
on the same items (``hf:`` and ``gguf:`` of one GGUF): used by the real-model tests and
``benchmarks/stack_gap.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agimeter.backends.base import Backend, LoglikRequest
from agimeter.scoring import score_item
from agimeter.tasks.item import Item
from agimeter.tasks.task import Task


def score_choices(backend: Backend, task: Task, items: Sequence[Item]) -> tuple[list[bool], list[list[float]]]:
    """(correct per item, log-likelihood of each choice per item), in one ``loglikelihood`` call."""
    requests = [LoglikRequest(context=i.context, continuation=c) for i in items for c in i.continuations]
    results = iter(backend.loglikelihood(requests))
    correct, logliks = [], []
    for item in items:
        outs = [next(results) for _ in item.continuations]
        lls = [r.logprob for r in outs]
        scored = score_item(task.spec, item, loglikelihoods=lls, is_greedy=[r.is_greedy for r in outs])
        correct.append(scored.correct)
        logliks.append(lls)
    return correct, logliks


@dataclass(frozen=True)
class StackGap:
    """Per item: whether both pick the same choice, and |delta log-likelihood| per choice."""

    same: list[bool]
    diffs: list[list[float]]

    def summary(self) -> dict[str, float]:
        flat = [d for item in self.diffs for d in item]
        return {
            "same_choice": sum(self.same) / len(self.same),
            "mean_abs_loglik_diff": sum(flat) / len(flat),
            "max_abs_loglik_diff": max(flat),
        }


def stack_gap(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> StackGap:
    """Compare two backends' choice log-likelihoods on the same items."""
    same = [list(x).index(max(x)) == list(y).index(max(y)) for x, y in zip(a, b, strict=True)]
    diffs = [[abs(p - q) for p, q in zip(x, y, strict=True)] for x, y in zip(a, b, strict=True)]
    return StackGap(same, diffs)
