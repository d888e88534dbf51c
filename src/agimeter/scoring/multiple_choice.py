"""Log-likelihood multiple-choice metrics, as lm-eval 0.4.13's ``process_results``."""

from __future__ import annotations

import math
from collections.abc import Sequence


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value; ties go to the first (``numpy.argmax``). NaN wins, as in numpy."""
    if not values:
        raise ValueError("argmax of an empty sequence")
    best = 0
    for i, v in enumerate(values):
        if math.isnan(values[best]):
            break
        if math.isnan(v) or v > values[best]:
            best = i
    return best


def length_normalized(loglikelihoods: Sequence[float], choice_texts: Sequence[str]) -> list[float]:
    """ll / len(choice) in characters (lm-eval's acc_norm), numpy's x/0 semantics for empty choices."""
    if len(loglikelihoods) != len(choice_texts):
        raise ValueError(f"{len(loglikelihoods)} log-likelihoods for {len(choice_texts)} choices")
    out = []
    for ll, text in zip(loglikelihoods, choice_texts, strict=True):
        n = len(text)
        if n:
            out.append(ll / n)
        else:
            out.append(math.nan if ll == 0 else math.copysign(math.inf, ll))
    return out


def predict(loglikelihoods: Sequence[float]) -> int:
    """lm-eval ``acc`` prediction: argmax of the raw log-likelihoods."""
    return argmax(loglikelihoods)


def predict_norm(loglikelihoods: Sequence[float], choice_texts: Sequence[str]) -> int:
    """lm-eval ``acc_norm`` prediction: argmax of log-likelihood per character of the choice."""
    return argmax(length_normalized(loglikelihoods, choice_texts))


def mc2(loglikelihoods: Sequence[float], num_true: int) -> float:
    """TruthfulQA MC2 (lm-eval ``mc2``): probability mass of the true answers (the first
    ``num_true`` choices) normalised over all choices."""
    if not 0 < num_true < len(loglikelihoods):
        raise ValueError(f"num_true must be in 1..{len(loglikelihoods) - 1}, got {num_true}")
    top = max(loglikelihoods)
    probs = [math.exp(ll - top) for ll in loglikelihoods]
    return math.fsum(probs[:num_true]) / math.fsum(probs)
