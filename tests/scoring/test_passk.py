from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from agimeter.scoring.passk import mean_pass_at_k, pass_at_k


def brute_force(n: int, c: int, k: int) -> float:
    """The share of all k-subsets of the n samples (the first c correct) with a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_matches_enumeration_over_all_subsets(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12), (n, c, k)


def test_known_values() -> None:
    assert pass_at_k(10, 1, 1) == pytest.approx(0.1)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # C(3,2)/C(5,2)
    assert pass_at_k(200, 0, 100) == 0.0
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(10, 8, 3) == 1.0  # n - c < k: every draw of 3 holds a correct one
    for n, c in [(20, 7), (200, 13), (1000, 1)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n)


def test_large_n_is_stable_and_exact() -> None:
    for n, c, k in [(200, 37, 100), (200, 1, 10), (1000, 500, 10), (2000, 3, 1000)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12)
    assert 0 < pass_at_k(10**6, 1, 1) < 1e-5


def test_monotone_in_k_and_c() -> None:
    n = 50
    for c in range(n + 1):
        values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        assert values == sorted(values)
    assert [pass_at_k(n, c, 5) for c in range(n + 1)] == sorted(pass_at_k(n, c, 5) for c in range(n + 1))


@pytest.mark.parametrize(("n", "c", "k"), [(5, 2, 6), (5, 6, 1), (5, -1, 1), (5, 2, 0), (0, 0, 1), (3, 1, -2)])
def test_bad_arguments_raise(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_over_problems() -> None:
    assert mean_pass_at_k([(10, 1), (10, 0), (10, 10)], 1) == pytest.approx((0.1 + 0 + 1) / 3)
    assert mean_pass_at_k([(4, 2)], 2) == pytest.approx(brute_force(4, 2, 2))
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)
    with pytest.raises(ValueError):
        mean_pass_at_k([(3, 1)], 4)
