"""Judged figures: the win rate's bootstrap interval against hand-computed cases, style control,
the judge's biases, MT-Bench per turn and category, and the subtask-dimension split."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agimeter.analysis.dimensions import capability_map
from agimeter.analysis.judged import (
    PairwiseFigures,
    SingleFigures,
    bootstrap_mean_ci,
    judged_figures,
    style_controlled,
    style_features,
)
from agimeter.analysis.summary import summarize
from agimeter.scoring.judge.records import GameJudgement, PairwiseDetails, SingleDetails, TurnJudgement
from agimeter.scoring.judge.style import Style
from agimeter.scoring.judge.verdicts import battle_scores
from agimeter.store.records import ItemRecord


def _item(task: str, doc_id: int, details: dict[str, object], metrics: dict[str, float], **extra: object) -> ItemRecord:
    fields: dict[str, object] = dict(
        task=task,
        task_version="1",
        doc_id=doc_id,
        target="",
        prediction=None,
        correct=False,
        metrics=metrics,
        details=details,
        prompt_tokens=10,
        completion_tokens=5,
        computed_prompt_tokens=10,
        prefill_s=0.0,
        decode_s=0.0,
        total_s=0.0,
        prompt_sha256="x",
        cache_key=f"{task}-{doc_id}",
    )
    fields.update(extra)
    return ItemRecord.model_validate(fields)


def _style(tokens: int, headers: int = 0) -> Style:
    return Style(token_len=tokens, header_count=headers, list_count=0, bold_count=0)


def _pairwise(doc_id: int, first: str, second: str, tokens: int = 100, baseline_tokens: int = 100) -> ItemRecord:
    battles = battle_scores(first, second, 3)
    assert battles is not None
    details = PairwiseDetails(
        judge="j",
        category="creative_writing",
        games=[
            GameJudgement(order="baseline_first", prompt="creative_writing", judgment="...", verdict=first),
            GameJudgement(order="candidate_first", prompt="creative_writing", judgment="...", verdict=second),
        ],
        battles=battles,
        candidate_style=_style(tokens),
        baseline_style=_style(baseline_tokens),
    )
    return _item(
        "arena", doc_id, details.model_dump(mode="json"), {"win_rate": sum(battles) / len(battles)},
        weights={"win_rate": float(len(battles))}, chance={"win_rate": 0.0},
    )  # fmt: skip


def test_bootstrap_of_identical_battles_is_a_point() -> None:
    assert bootstrap_mean_ci([0.5] * 10) == (0.5, 0.5)


def test_bootstrap_ci_matches_the_normal_approximation_by_hand() -> None:
    # 100 wins in 400 battles: resampled means ~ N(0.25, sqrt(0.25 * 0.75 / 400) = 0.02165), so the
    # 5th and 95th percentiles are 0.25 -/+ 1.645 * 0.02165 = 0.2144 and 0.2856.
    low, high = bootstrap_mean_ci([1.0] * 100 + [0.0] * 300, rounds=20000, seed=3)
    assert low == pytest.approx(0.2144, abs=0.004)
    assert high == pytest.approx(0.2856, abs=0.004)


def test_win_rate_is_the_mean_over_battles_with_weight_three() -> None:
    # item 0: baseline first A>>B (candidate 0 x3), candidate first A>B (1): battles 1,0,0,0
    # item 1: both orders say the candidate is better: B>A (1) and A>B (1)
    # item 2: a tie both ways: 0.5, 0.5                     -> (1 + 2 + 1) / 8 = 0.5
    rows = [_pairwise(0, "A>>B", "A>B"), _pairwise(1, "B>A", "A>B"), _pairwise(2, "A=B", "A=B")]
    (fig,) = judged_figures(rows)
    assert isinstance(fig, PairwiseFigures)
    assert fig.battles == 8 and fig.win_rate == pytest.approx(0.5)
    (score,) = summarize(rows, {"arena": {"metrics": ["win_rate"]}})
    assert score.metrics["win_rate"].mean == pytest.approx(0.5)  # weighted: the same mean as the battles
    # Swap: item 0's games disagree (loss, then win); items 1 and 2 agree.
    assert fig.swap_inconsistency == pytest.approx(1 / 3)
    assert (fig.wins, fig.ties, fig.losses) == (3, 2, 1)
    # Decisive games: A>>B (A won), A>B (A won), B>A (B won), A>B (A won): 3 of 4 for the first position.
    assert fig.first_position_wins == pytest.approx(0.75)


def test_style_control_removes_a_pure_length_effect() -> None:
    """A judge whose only preference is length (P(win) = sigmoid(8 x relative length difference)),
    facing a candidate that is mostly longer: the raw win rate is well above 50%, the style-controlled
    one (same style as the baseline) is near 50%, and the length coefficient takes the effect."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(300):
        tokens = int(rng.integers(150, 500))  # baseline 250: the candidate is longer in ~2 of 3 items
        diff = (tokens - 250) / (tokens + 250)
        wins = rng.random() < 1 / (1 + math.exp(-8 * diff))
        rows.append(_pairwise(i, *(("B>A", "A>B") if wins else ("A>B", "B>A")), tokens=tokens, baseline_tokens=250))
    (fig,) = judged_figures(rows)
    assert isinstance(fig, PairwiseFigures)
    assert fig.win_rate > 0.6
    assert fig.style_controlled is not None and fig.style_controlled_ci is not None
    low, high = fig.style_controlled_ci
    assert abs(fig.style_controlled - 0.5) < 0.08 and low < 0.5 < high
    assert fig.style_coefficients["length"] > 1.0
    assert fig.length_correlation.spearman is not None and fig.length_correlation.spearman > 0.3


def test_style_control_without_style_variation_is_left_out() -> None:
    assert style_controlled([1.0, 0.0, 1.0], [[0.0, 0.0, 0.0, 0.0]] * 3) is None


def test_style_control_with_unrelated_style_keeps_the_win_rate() -> None:
    rng = np.random.default_rng(1)
    outcomes = [1.0] * 300 + [0.0] * 100
    features = rng.normal(size=(400, 4)).tolist()  # centred on no difference, unrelated to the outcome
    rate, (low, high), _ = style_controlled(outcomes, features) or (math.nan, (0, 0), {})
    assert rate == pytest.approx(0.75, abs=0.03) and low < 0.75 < high


def test_style_features_are_arena_hards() -> None:
    # length: (300 - 100) / 400; headers: densities 3/301 and 0/101 -> (d - 0) / (d + 0 + 1)
    features = style_features(_style(300, headers=3), _style(100))
    density = 3 / 301
    assert features == pytest.approx([0.5, density / (density + 1), 0.0, 0.0])


def _single(doc_id: int, category: str, ratings: list[float], lengths: list[int]) -> ItemRecord:
    details = SingleDetails(
        judge="j",
        turns=[
            TurnJudgement(turn=t + 1, prompt="single-v1", judgment="...", verdict=f"{r:g}", rating=r, answer_tokens=n)
            for t, (r, n) in enumerate(zip(ratings, lengths, strict=True))
        ],
    )
    metrics = {"score": sum(ratings) / len(ratings) / 10, **{f"turn_{t + 1}": r / 10 for t, r in enumerate(ratings)}}
    return _item(
        "mt", doc_id, details.model_dump(mode="json"), metrics, subtask=category, chance=dict.fromkeys(metrics, 0.1)
    )


def test_mt_bench_scores_per_turn_and_category_and_length_bias() -> None:
    rows = [
        _single(0, "writing", [8, 6], [300, 200]),
        _single(1, "roleplay", [4, 2], [100, 50]),
        _single(2, "math", [10, 9], [400, 350]),
    ]
    (fig,) = judged_figures(rows)
    assert isinstance(fig, SingleFigures)
    assert fig.score == pytest.approx(39 / 6) and fig.turns == {"1": pytest.approx(22 / 3), "2": pytest.approx(17 / 3)}
    assert fig.categories == {"math": 9.5, "roleplay": 3.0, "writing": 7.0}
    assert fig.length_correlation.spearman == pytest.approx(1.0)  # longer answers, higher ratings


def test_subtask_dimensions_score_the_creative_part_again() -> None:
    rows = [
        _single(0, "writing", [8, 6], [300, 200]),
        _single(1, "roleplay", [4, 2], [100, 50]),
        _single(2, "math", [10, 9], [400, 350]),
    ]
    protocol = {
        "metrics": ["score", "turn_1", "turn_2"],
        "dimension": "instruction_following",
        "subtask_dimensions": {"writing": "creativity", "roleplay": "creativity"},
    }
    scores = {s.task: s for s in summarize(rows, {"mt": protocol})}
    assert set(scores) == {"mt", "mt/creativity"}
    creative = scores["mt/creativity"]
    assert creative.dimension == "creativity" and creative.n == 2
    assert creative.metrics["score"].mean == pytest.approx(0.5)  # (7 + 3) / 2 / 10
    # Normalised: chance = rating 1 (0.1), ceiling 10: (0.5 - 0.1) / 0.9
    assert creative.normalized is not None and creative.normalized.mean == pytest.approx(100 * 0.4 / 0.9)
    cmap = capability_map(list(scores.values()))
    assert {d.dimension for d in cmap.dimensions} == {"creativity", "instruction_following"}
