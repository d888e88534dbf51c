"""Verdict parsing for every format in the shipped judge prompts (MT-Bench's ``[[rating]]`` and
``[[A]]``/``[[B]]``/``[[C]]``, Arena-Hard's 5-way ``[[A>>B]]``), as FastChat and Arena-Hard read them,
and Arena-Hard's label -> battle-score mapping (``>>`` counts 3 times), in both orders."""

from __future__ import annotations

import re

import pytest

from agimeter.scoring.judge.verdicts import (
    battle_scores,
    label_scores,
    outcome,
    parse_label,
    parse_pair_winner,
    parse_rating,
)
from agimeter.tasks.registry import resolve_task

ARENA_PATTERNS = [r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]"]


@pytest.mark.parametrize(
    ("judgment", "rating"),
    [
        ("Helpful and accurate. Rating: [[8]]", 8.0),
        ("Rating: [[7.5]]", 7.5),
        ("no double brackets, Rating: [6]", 6.0),  # FastChat's backup pattern
        ("[[3]] at first, then [[9]]", 3.0),  # re.search: the first match
        ("[2] in passing, but the verdict is [[8]]", 8.0),  # the [[ ]] pattern is tried first
        ("Rating: [[10]]", 10.0),
        ("Rating: [[1]]", 1.0),
    ],
)
def test_mt_bench_rating(judgment: str, rating: float) -> None:
    assert parse_rating(judgment) == rating


@pytest.mark.parametrize("judgment", ["I would give it an eight.", "Rating: [[eight]]", "[[0]]", "[[11]]", ""])
def test_mt_bench_no_rating(judgment: str) -> None:
    assert parse_rating(judgment) is None


@pytest.mark.parametrize(
    ("judgment", "winner"),
    [("verdict: [[A]]", "A"), ("[[B]]", "B"), ("a tie: [[C]]", "tie"), ("[[B]] or rather [[A]]", "A"), ("A", None)],
)
def test_mt_bench_pairwise_winner(judgment: str, winner: str | None) -> None:
    assert parse_pair_winner(judgment) == winner


@pytest.mark.parametrize(
    ("judgment", "label"),
    [
        ("My final verdict is tie: [[A=B]]", "A=B"),
        ("Assistant A is significantly better: [[A>>B]]", "A>>B"),
        ("[[A>B]]", "A>B"),
        ("[[B>A]]", "B>A"),
        ("[[B>>A]]", "B>>A"),
        ("lower case [[b>a]]", "B>A"),  # get_score upper-cases the answer
        ("single brackets only [A>B]", "A>B"),  # the second pattern
        ("[[A>B]] at first, final verdict [[B>>A]]", "B>>A"),  # the last match
        ("[B>A] in passing, then [[A>B]]", "A>B"),  # the first pattern that matches wins
        ("[[A]]", "A"),  # matched, but not a label of the scale (see battle_scores)
        ("no verdict at all", None),
    ],
)
def test_arena_hard_label(judgment: str, label: str | None) -> None:
    assert parse_label(judgment, ARENA_PATTERNS) == label


def test_battle_scores_follow_show_result_in_both_orders() -> None:
    # Game 1 shows the baseline as A, game 2 the candidate as A (gen_judgment.py's two rounds);
    # load_judgments: scores of game 2 as they are, then 1 - scores of game 1.
    assert battle_scores("A>>B", "A>B", weight=3) == [1.0, 0.0, 0.0, 0.0]  # baseline much better first, then candidate
    assert battle_scores("B>>A", "A>>B", weight=3) == [1.0] * 6  # the candidate wins both decisively
    assert battle_scores("A=B", "B>A", weight=3) == [0.0, 0.5]
    assert battle_scores("A>B", "B>A", weight=3) == [0.0, 0.0]  # consistent loss
    assert battle_scores("A>B", "A>B", weight=3) == [1.0, 0.0]  # position-biased judge: one each
    assert battle_scores("A", "A>B", weight=3) is None


def test_label_table_is_symmetric_and_weighted() -> None:
    table = label_scores(3)
    assert table["A>>B"] == [1.0] * 3 and table["B<<A"] == [1.0] * 3 and table["B>>A"] == [0.0] * 3
    assert table["A=B"] == table["B=A"] == [0.5]
    assert outcome([1.0, 1.0, 1.0]) == "win" and outcome([0.5]) == "tie" and outcome([0.0]) == "loss"


def test_every_verdict_format_in_the_shipped_prompts_parses() -> None:
    """The examples the built-in judge prompts themselves give parse to what they stand for."""
    mt = resolve_task("mt_bench").scoring.judge
    assert mt is not None
    for prompt in mt.prompts.values():
        example = re.search(r'"Rating: \[\[5\]\]"', prompt.system + prompt.template)  # multi-turn: in the system text
        assert example is not None, prompt.name
        assert parse_rating(example.group(0)) == 5.0
    for name in ("arena_hard_creative", "arena_hard_hard"):
        judge = resolve_task(name).scoring.judge
        assert judge is not None
        (prompt,) = judge.prompts.values()
        labels = re.findall(r"\[\[([AB<>=]+)\]\]", prompt.system)
        assert labels == ["A>>B", "A>B", "A=B", "B>A", "B>>A", "A=B"]  # the scale, then the example output
        for label in labels:
            assert parse_label(f"verdict: [[{label}]]", judge.verdict_patterns) == label
            assert label in label_scores(judge.strong_weight)
