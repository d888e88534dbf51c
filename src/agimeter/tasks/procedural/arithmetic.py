"""Arithmetic expressions: one operation on small numbers up to multi-digit, multi-operation."""

from __future__ import annotations

import random

from agimeter.tasks.procedural._registry import Problem, generator, pick_distractors

_WRONG_OP = {"+": "-", "-": "+", "*": "+"}


def _apply(a: int, op: str, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b


def _level1(rng: random.Random) -> tuple[str, int, list[int]]:
    # a ± b with a one digit (or up to 20 for addition); no negative results.
    op = rng.choice("+-")
    if op == "+":
        a, b = rng.randint(1, 20), rng.randint(1, 9)
    else:
        a = rng.randint(2, 18)
        b = rng.randint(1, min(9, a))
    answer = _apply(a, op, b)
    return f"{a} {op} {b}", answer, [_apply(a, _WRONG_OP[op], b)]


def _level2(rng: random.Random) -> tuple[str, int, list[int]]:
    # Two-digit ± two-digit, or one-digit x two-digit.
    if rng.random() < 0.5:
        a, b = rng.randint(2, 9), rng.randint(11, 30)
        if rng.random() < 0.5:
            a, b = b, a
        answer = a * b
        return f"{a} * {b}", answer, [a + b, answer + min(a, b), answer - max(a, b)]
    op = rng.choice("+-")
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    if op == "-" and b > a:
        a, b = b, a
    answer = _apply(a, op, b)
    carry_slip = answer - 10 if op == "+" else answer + 10  # forgot the carry / borrow
    return f"{a} {op} {b}", answer, [_apply(a, _WRONG_OP[op], b), carry_slip]


def _level3(rng: random.Random) -> tuple[str, int, list[int]]:
    # Three operations mixing precedence, e.g. "37 + 4 * 12 - 58" or "(23 + 19) * 3 - 41".
    while True:
        a, b, c, d = rng.randint(10, 99), rng.randint(2, 12), rng.randint(2, 19), rng.randint(10, 99)
        shape = rng.randrange(3)
        if shape == 0:
            expr = f"{a} + {b} * {c} - {d}"
            answer = a + b * c - d
            mistakes = [(a + b) * c - d, a + b + c - d, a + b * c + d]
        elif shape == 1:
            expr = f"({a} + {d}) * {b} - {c}"
            answer = (a + d) * b - c
            mistakes = [a + d * b - c, (a + d) * b + c, (a + d) * (b - 1) - c]
        else:
            expr = f"{a} * {b} - {d} + {c}"
            answer = a * b - d + c
            mistakes = [a * b - (d + c), a * b + d - c, a * (b - d) + c]
        if answer >= 0:
            return expr, answer, mistakes


@generator("arithmetic")
def arithmetic(rng: random.Random, level: int) -> Problem:
    """``What is <expr>?`` with the integer value as answer."""
    expr, answer, mistakes = (_level1, _level2, _level3)[level - 1](rng)
    return Problem(
        question=f"What is {expr}?",
        answer=str(answer),
        distractors=pick_distractors(rng, answer, mistakes),
        kind="expression",
        extra={"expression": expr},
    )
