"""The built-in scorers, one file each; importing this package registers them."""

from agimeter.scoring.scorers import (
    code_exec,
    exact_match,
    ifeval,
    judge_pairwise,
    judge_single,
    math_equiv,
    multiple_choice,
    refusal,
)

__all__ = [
    "code_exec",
    "exact_match",
    "ifeval",
    "judge_pairwise",
    "judge_single",
    "math_equiv",
    "multiple_choice",
    "refusal",
]
