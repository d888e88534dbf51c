"""Few-shot exemplar selection, mirroring lm_eval/api/samplers.py (0.4.13)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Literal

from agimeter.errors import ConfigError

Record = dict[str, Any]


def first_n(pool: Sequence[Record], n: int, eval_doc: Record | None) -> list[Record]:
    """``FirstNSampler``: the first ``n`` pool docs (minus docs equal to ``eval_doc`` if given)."""
    if eval_doc is not None:
        pool = [x for x in pool if x != eval_doc]
    if n > len(pool):
        raise ConfigError(f"num_fewshot={n} exceeds the {len(pool)} few-shot exemplars available")
    return list(pool[:n])


def random_sample(rnd: random.Random, pool: Sequence[Record], n: int, eval_doc: Record | None) -> list[Record]:
    """``ContextSampler.sample``: ``rnd.sample(pool, n)``; with an eval doc, draw ``n + 1``, drop
    docs equal to it and keep ``n`` (resampling from the filtered pool if duplicates removed more)."""
    if n == 0:
        return []
    if not pool:
        raise ConfigError("no documents available for few-shot sampling")
    want = n if eval_doc is None else n + 1
    if want > len(pool):
        raise ConfigError(f"num_fewshot={n} exceeds the {len(pool)} few-shot exemplars available")
    drawn = rnd.sample(pool, want)
    res = drawn if eval_doc is None else [x for x in drawn if x != eval_doc][:n]
    if len(res) < n:
        filtered = [x for x in pool if x != eval_doc]
        res = rnd.sample(filtered, n)
    return res


class FewShotSelector:
    """Selects exemplars per eval doc, in document order, with one seeded RNG per group.

    lm-eval draws from a single ``random.Random(seed)`` per task, once per evaluated doc in
    document order; MMLU-style groups are separate lm-eval tasks, hence one RNG per group.
    Draws for doc ``i`` therefore depend on the docs before it, so callers must visit docs in
    order (``select_upto``) even when only a subset is evaluated.
    """

    def __init__(
        self,
        *,
        sampler: Literal["first_n", "random"],
        n: int,
        seed: int,
        pool_by_group: dict[str | None, list[Record]],
        exclude_eval_doc: bool,
    ) -> None:
        self.sampler = sampler
        self.n = n
        self.seed = seed
        self.pool_by_group = pool_by_group
        self.exclude_eval_doc = exclude_eval_doc
        self._rngs: dict[str | None, random.Random] = {}

    def _pool(self, group: str | None) -> list[Record]:
        pool = self.pool_by_group.get(group)
        if pool is None:
            raise ConfigError(f"no few-shot exemplars for group {group!r}")
        return pool

    def select(self, doc: Record, group: str | None) -> list[Record]:
        """Exemplars for ``doc`` (advances the group's RNG for the random sampler)."""
        if self.n == 0:
            return []
        pool = self._pool(group)
        eval_doc = doc if self.exclude_eval_doc else None
        if self.sampler == "first_n":
            return first_n(pool, self.n, eval_doc)
        rnd = self._rngs.setdefault(group, random.Random(self.seed))
        return random_sample(rnd, pool, self.n, eval_doc)
