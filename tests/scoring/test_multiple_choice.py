"""Log-likelihood multiple choice: acc / acc_norm as lm-eval computes them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agimeter.scoring import predict, predict_norm
from agimeter.scoring.multiple_choice import argmax, length_normalized


def test_argmax_ties_go_to_first() -> None:
    assert argmax([-1.0, -1.0, -2.0]) == 0
    assert argmax([-3.0, -1.0, -1.0]) == 1
    with pytest.raises(ValueError):
        argmax([])


def test_acc_norm_divides_by_characters() -> None:
    lls = [-4.0, -6.0]
    choices = [" ab", " abcdef"]  # 3 and 7 characters: -1.33 vs -0.86
    assert predict(lls) == 0
    assert predict_norm(lls, choices) == 1
    assert length_normalized(lls, choices) == [-4.0 / 3, -6.0 / 7]


def test_acc_norm_tie_break_is_first() -> None:
    # -2/2 == -4/4: numpy argmax keeps the first.
    assert predict_norm([-2.0, -4.0], ["ab", "abcd"]) == 0
    assert predict_norm([-4.0, -2.0], ["abcd", "ab"]) == 0


def test_acc_norm_counts_unicode_characters_not_bytes() -> None:
    assert length_normalized([-3.0], ["héé"]) == [-1.0]


def test_empty_choice_follows_numpy() -> None:
    assert length_normalized([-1.0, 1.0], ["", ""]) == [-math.inf, math.inf]


@pytest.mark.parametrize("seed", range(20))
def test_agrees_with_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    lls = [float(x) for x in np.round(rng.normal(-5, 2, n), 1)]
    choices = ["x" * int(k) for k in rng.integers(1, 4, n)]
    assert predict(lls) == int(np.argmax(lls))
    lengths = np.array([float(len(c)) for c in choices])
    assert predict_norm(lls, choices) == int(np.argmax(np.array(lls) / lengths))
