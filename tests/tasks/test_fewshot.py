"""Few-shot samplers against lm-eval's own ContextSampler / FirstNSampler."""

from __future__ import annotations

import random

import pytest

from agimeter.errors import ConfigError
from agimeter.tasks.fewshot import FewShotSelector, first_n, random_sample

samplers = pytest.importorskip("lm_eval.api.samplers")


def _pool(n: int, duplicates: int = 0) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = [{"q": f"q{i}", "a": i} for i in range(n)]
    return docs + [dict(docs[0]) for _ in range(duplicates)]


@pytest.mark.parametrize(("pool_size", "shots", "duplicates"), [(50, 5, 0), (30, 25, 0), (12, 3, 4), (6, 5, 0)])
def test_random_sampler_matches_lm_eval_sequence(pool_size: int, shots: int, duplicates: int) -> None:
    pool = _pool(pool_size, duplicates)
    theirs = samplers.ContextSampler(list(pool), rnd=1234)
    ours = FewShotSelector(sampler="random", n=shots, seed=1234, pool_by_group={None: pool}, exclude_eval_doc=True)
    for doc in pool:  # one draw per evaluated doc, in document order
        expected = list(theirs.sample(n=shots, eval_doc=doc))
        got = ours.select(doc, None)
        assert got == expected
        assert doc not in got


def test_random_sampler_without_exclusion_matches_lm_eval() -> None:
    pool = _pool(40)
    theirs = samplers.ContextSampler(list(pool), rnd=7)
    rnd = random.Random(7)
    for _ in range(10):
        assert random_sample(rnd, pool, 4, None) == list(theirs.sample(n=4))


def test_first_n_matches_lm_eval() -> None:
    pool = _pool(8)
    theirs = samplers.FirstNSampler(list(pool), rnd=1234)
    assert first_n(pool, 5, None) == list(theirs.sample(n=5))
    assert first_n(pool, 5, pool[1]) == list(theirs.sample(n=5, eval_doc=pool[1]))
    with pytest.raises(ConfigError, match="exceeds the 8 few-shot exemplars"):
        first_n(pool, 9, None)


def test_groups_have_their_own_rng() -> None:
    pool_a, pool_b = _pool(20), [{"q": f"b{i}"} for i in range(20)]
    sel = FewShotSelector(
        sampler="random", n=3, seed=1, pool_by_group={"a": pool_a, "b": pool_b}, exclude_eval_doc=False
    )
    first_b = sel.select(pool_b[0], "b")
    sel.select(pool_a[0], "a")
    fresh = FewShotSelector(sampler="random", n=3, seed=1, pool_by_group={"b": pool_b}, exclude_eval_doc=False)
    assert first_b == fresh.select(pool_b[0], "b")
    with pytest.raises(ConfigError, match="no few-shot exemplars for group 'c'"):
        sel.select({}, "c")
