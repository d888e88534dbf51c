"""Verdicts out of a judge's answer, exactly as the benchmarks' own code reads them.

- MT-Bench single grading (FastChat ``fastchat/llm_judge/common.py`` @ 0e6d3e4b, ``run_judge_single``):
  the first ``[[rating]]`` (``\\[\\[(\\d+\\.?\\d*)\\]\\]``), else the first ``[rating]``; no match is no
  verdict (FastChat stores -1 and ``show_result.py`` drops it).
- MT-Bench pairwise (``run_judge_pair``, output format ``[[A]]``): ``[[A]]`` anywhere wins, then
  ``[[B]]``, then ``[[C]]`` (tie), in that order of checking.
- Arena-Hard v2 (``gen_judgment.py`` @ 196f6b82, ``get_score``): each pattern in turn (``\\[\\[([AB<>=]+)\\]\\]``,
  then ``\\[([AB<>=]+)\\]``) over the upper-cased answer, the last non-empty match of the first pattern
  that matches; the label maps to battle scores as ``show_result.py``'s ``load_judgments`` does.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Literal

# FastChat common.py, verbatim.
ONE_SCORE_PATTERN = re.compile(r"\[\[(\d+\.?\d*)\]\]")
ONE_SCORE_PATTERN_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
# MT-Bench's scale: a rating outside it is no verdict here (FastChat would average it in).
RATING_MIN, RATING_MAX = 1.0, 10.0

PairWinner = Literal["A", "B", "tie"]


def parse_rating(judgment: str) -> float | None:
    """MT-Bench's ``[[rating]]``: the rating, or None when the answer gives none on the 1-10 scale."""
    match = ONE_SCORE_PATTERN.search(judgment) or ONE_SCORE_PATTERN_BACKUP.search(judgment)
    if match is None:
        return None
    rating = float(ast.literal_eval(match.group(1)))
    return rating if RATING_MIN <= rating <= RATING_MAX else None


def parse_pair_winner(judgment: str) -> PairWinner | None:
    """MT-Bench's pairwise ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (tie), checked in FastChat's order."""
    for marker, winner in (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")):
        if marker in judgment:
            return winner  # type: ignore[return-value]
    return None


def parse_label(judgment: str, patterns: Sequence[str]) -> str | None:
    """Arena-Hard's ``get_score``: the last match of the first pattern that matches the upper-cased
    answer (``A>>B``, ``B>A``, ...), None when no pattern matches. The label may still be one that
    ``battle_scores`` does not know (``[[A]]``): that too is no verdict."""
    upper = judgment.upper()
    for pattern in patterns:
        matches = [m for m in re.findall(pattern, upper) if m != ""]
        if matches:
            return str(matches[-1]).strip("\n")
    return None


def label_scores(weight: int) -> dict[str, list[float]]:
    """``load_judgments``' label -> scores of assistant A's side; ``>>`` counts ``weight`` times."""
    return {
        "A>B": [1.0],
        "A>>B": [1.0] * weight,
        "A=B": [0.5],
        "A<<B": [0.0] * weight,
        "A<B": [0.0],
        "B>A": [0.0],
        "B>>A": [0.0] * weight,
        "B=A": [0.5],
        "B<<A": [1.0] * weight,
        "B<A": [1.0],
    }


def battle_scores(baseline_first: str, candidate_first: str, weight: int) -> list[float] | None:
    """The candidate's battle scores from both games, in ``load_judgments``' order: game 2 (the
    candidate as A) as scored, then game 1 (the baseline as A) flipped. None if a label is unknown."""
    table = label_scores(weight)
    if baseline_first not in table or candidate_first not in table:
        return None
    return table[candidate_first] + [1.0 - s for s in table[baseline_first]]


def outcome(scores: Sequence[float]) -> Literal["win", "tie", "loss"]:
    """One game's result for the candidate, whatever its strength."""
    mean = sum(scores) / len(scores)
    return "win" if mean > 0.5 else "loss" if mean < 0.5 else "tie"
