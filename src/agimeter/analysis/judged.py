"""Figures of judged tasks, from the verdicts stored with each item (``scoring.judge.records``).

- MT-Bench (single grading): the score on its 1-10 scale, per turn and per category, as FastChat's
  ``show_result.py`` prints them (mean over turn judgments).
- Arena-Hard (pairwise): the win rate against the baseline (mean over battles) with Arena-Hard's
  bootstrap interval (``show_result.py``: 100 resamples of the battles, 5th and 95th percentiles),
  and the style-controlled win rate: Arena-Hard v2's Bradley-Terry model with the answers' length
  and markdown (headers, lists, bold) differences as covariates (``print_leaderboard_with_style_features``),
  which for one model against its baseline is a logistic regression of the battle outcome on an
  intercept and the four normalised features (100 bootstrap fits; median, 5th-95th percentile).
  The controlled win rate is the fitted win probability with no style difference from the baseline
  (every raw feature 0). Arena-Hard reads the model's coefficient instead, which is the win
  probability at the average style difference of all models on its leaderboard; a run has only its
  own model's battles, whose average style difference is exactly what the control must remove.
- The judge's biases, on every judged task: for pairwise verdicts, the share of items whose two
  games (baseline first, candidate first) disagree on who won (swap inconsistency), the share of
  decisive games won by whichever answer was shown first, and the correlation of the item's
  score with the length difference; for single grading, the rating's correlation with the
  answer's length. Correlations are Spearman's rho (and Pearson's r), over items or turns.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agimeter.scoring.judge.records import JudgeDetails, PairwiseDetails, SingleDetails
from agimeter.scoring.judge.style import Style
from agimeter.scoring.judge.verdicts import label_scores, outcome
from agimeter.store.records import ItemRecord

JUDGED_SCHEMA_VERSION = 1
BOOTSTRAP_ROUNDS = 100  # Arena-Hard's
BOOTSTRAP_SEED = 0
QUANTILES = (0.05, 0.95)  # Arena-Hard's interval: 90%
STYLE_FEATURES = ("length", "headers", "lists", "bold")

_DETAILS: TypeAdapter[JudgeDetails] = TypeAdapter(JudgeDetails)


class Figures(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Correlation(Figures):
    spearman: float | None  # None: fewer than 3 points, or one side constant
    pearson: float | None
    n: int


class SingleFigures(Figures):
    """MT-Bench: ratings 1-10."""

    schema_version: int = JUDGED_SCHEMA_VERSION
    kind: Literal["single"] = "single"
    task: str
    judge: str
    items: int
    judgments: int
    score: float  # mean rating over every turn judged
    turns: dict[str, float]  # "1", "2": mean rating of that turn
    categories: dict[str, float]  # subtask: mean rating over its turns
    length_correlation: Correlation  # rating vs the answer's o200k tokens, over turns


class PairwiseFigures(Figures):
    """Arena-Hard: the candidate against the baseline, win rates 0-1."""

    schema_version: int = JUDGED_SCHEMA_VERSION
    kind: Literal["pairwise"] = "pairwise"
    task: str
    judge: str
    items: int
    battles: int
    win_rate: float
    win_rate_ci: tuple[float, float]  # bootstrap, QUANTILES
    style_controlled: float | None  # None: too few battles or no style variation to fit
    style_controlled_ci: tuple[float, float] | None
    style_coefficients: dict[str, float] = Field(default_factory=dict)  # medians, normalised features
    wins: int  # games won / tied / lost by the candidate, whatever the strength
    ties: int
    losses: int
    swap_inconsistency: float  # items whose two games disagree on the outcome
    first_position_wins: float | None  # decisive games won by the answer shown as assistant A
    length_correlation: Correlation  # item win rate vs (candidate - baseline) / (sum) tokens
    bootstrap_rounds: int = BOOTSTRAP_ROUNDS


JudgedFigures = SingleFigures | PairwiseFigures


def correlation(xs: Sequence[float], ys: Sequence[float]) -> Correlation:
    n = len(xs)
    if n < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return Correlation(spearman=None, pearson=None, n=n)
    from scipy.stats import pearsonr, spearmanr  # imported lazily: scipy.stats costs ~1 s at start-up

    rho = float(spearmanr(xs, ys).statistic)
    r = float(pearsonr(xs, ys).statistic)
    return Correlation(spearman=rho if math.isfinite(rho) else None, pearson=r if math.isfinite(r) else None, n=n)


def bootstrap_mean_ci(
    values: Sequence[float], rounds: int = BOOTSTRAP_ROUNDS, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Arena-Hard's interval: the battles resampled with replacement ``rounds`` times, the
    5th and 95th percentiles of the resampled means (seeded here; Arena-Hard's is not)."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(rounds, len(data)))].mean(axis=1)
    low, high = np.quantile(means, QUANTILES)
    return float(low), float(high)


def style_features(candidate: Style, baseline: Style) -> list[float]:
    """Arena-Hard's features of one battle: the relative length difference, then per markdown
    kind the difference of densities (count / (length + 1)) over their sum + 1."""
    m_len, b_len = candidate.token_len, baseline.token_len
    length = (m_len - b_len) / (m_len + b_len) if m_len + b_len else 0.0
    out = [length]
    for kind in ("header_count", "list_count", "bold_count"):
        m_d = getattr(candidate, kind) / (m_len + 1)
        b_d = getattr(baseline, kind) / (b_len + 1)
        out.append((m_d - b_d) / (m_d + b_d + 1))
    return out


def fit_logistic(features: np.ndarray, outcomes: np.ndarray, ridge: float = 1e-6, iterations: int = 50) -> np.ndarray:
    """Maximum likelihood of P(win) = sigmoid(features @ beta) with soft outcomes (ties 0.5), by
    Newton steps; a tiny ridge and bounded coefficients keep separable data finite (Arena-Hard's
    L-BFGS stops after 50 iterations for the same reason)."""
    beta = np.zeros(features.shape[1])
    eye = ridge * np.eye(features.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-features @ beta))
        gradient = features.T @ (outcomes - p) - ridge * beta
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + eye
        step = np.linalg.solve(hessian, gradient)
        beta = np.clip(beta + step, -30.0, 30.0)
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def style_controlled(
    outcomes: Sequence[float],
    features: Sequence[Sequence[float]],
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, tuple[float, float], dict[str, float]] | None:
    """The style-controlled win rate (median over bootstrap fits), its 5th-95th percentile interval
    and the style coefficients' medians; None when no feature varies or there are < 2 battles."""
    x = np.asarray(features, dtype=float)
    y = np.asarray(outcomes, dtype=float)
    if len(y) < 2:
        return None
    std = x.std(axis=0, ddof=1)
    varying = std > 1e-12
    if not varying.any():
        return None
    mean = x[:, varying].mean(axis=0)
    normalised = (x[:, varying] - mean) / std[varying]
    design = np.hstack([np.ones((len(y), 1)), normalised])
    rng = np.random.default_rng(seed)
    fits = np.array([fit_logistic(design[idx], y[idx]) for idx in rng.integers(0, len(y), size=(rounds, len(y)))])
    same_style = np.concatenate([[1.0], -mean / std[varying]])  # every raw feature 0, normalised
    rates = 1.0 / (1.0 + np.exp(-(fits @ same_style)))
    low, high = np.quantile(rates, QUANTILES)
    names = [name for name, keep in zip(STYLE_FEATURES, varying, strict=True) if keep]
    coefficients = {name: float(np.median(fits[:, k + 1])) for k, name in enumerate(names)}
    return float(np.median(rates)), (float(low), float(high)), coefficients


def _single(task: str, rows: Sequence[tuple[ItemRecord, SingleDetails]]) -> SingleFigures:
    ratings: list[float] = []
    lengths: list[float] = []
    by_turn: dict[str, list[float]] = defaultdict(list)
    by_category: dict[str, list[float]] = defaultdict(list)
    for item, details in rows:
        for turn in details.turns:
            ratings.append(turn.rating)
            lengths.append(float(turn.answer_tokens))
            by_turn[str(turn.turn)].append(turn.rating)
            by_category[item.subtask or ""].append(turn.rating)
    return SingleFigures(
        task=task,
        judge=rows[0][1].judge,
        items=len(rows),
        judgments=len(ratings),
        score=sum(ratings) / len(ratings),
        turns={t: sum(v) / len(v) for t, v in sorted(by_turn.items())},
        categories={c: sum(v) / len(v) for c, v in sorted(by_category.items()) if c},
        length_correlation=correlation(lengths, ratings),
    )


def _pairwise(task: str, rows: Sequence[PairwiseDetails]) -> PairwiseFigures:
    battles = [score for details in rows for score in details.battles]
    features = [style_features(d.candidate_style, d.baseline_style) for d in rows for _ in d.battles]
    controlled = style_controlled(battles, features)
    results = {"win": 0, "tie": 0, "loss": 0}
    inconsistent = 0
    first_wins = decisive = 0
    for details in rows:
        games = [g.verdict for g in details.games]
        per_game = [outcome([1.0 - s for s in _label(games[0])]), outcome(_label(games[1]))]
        for result in per_game:
            results[result] += 1
        inconsistent += per_game[0] != per_game[1]
        for label in games:
            a_side = sum(_label(label)) / len(_label(label))
            if a_side != 0.5:
                decisive += 1
                first_wins += a_side > 0.5
    lengths = [style_features(d.candidate_style, d.baseline_style)[0] for d in rows]
    item_rates = [sum(d.battles) / len(d.battles) for d in rows]
    return PairwiseFigures(
        task=task,
        judge=rows[0].judge,
        items=len(rows),
        battles=len(battles),
        win_rate=sum(battles) / len(battles),
        win_rate_ci=bootstrap_mean_ci(battles),
        style_controlled=controlled[0] if controlled else None,
        style_controlled_ci=controlled[1] if controlled else None,
        style_coefficients=controlled[2] if controlled else {},
        wins=results["win"],
        ties=results["tie"],
        losses=results["loss"],
        swap_inconsistency=inconsistent / len(rows),
        first_position_wins=first_wins / decisive if decisive else None,
        length_correlation=correlation(lengths, item_rates),
    )


def _label(label: str) -> list[float]:
    """Assistant A's scores for a label (the weight does not matter for outcomes)."""
    return label_scores(1)[label]


def judged_figures(items: Sequence[ItemRecord]) -> list[JudgedFigures]:
    """Figures of every task whose items carry judge verdicts, in task order."""
    single: dict[str, list[tuple[ItemRecord, SingleDetails]]] = defaultdict(list)
    pairwise: dict[str, list[PairwiseDetails]] = defaultdict(list)
    for item in items:
        if not item.details or item.details.get("kind") not in ("single", "pairwise"):
            continue
        details = _DETAILS.validate_python(item.details)
        if isinstance(details, SingleDetails):
            single[item.task].append((item, details))
        else:
            pairwise[item.task].append(details)
    out: list[JudgedFigures] = []
    for task in sorted({*single, *pairwise}):
        out.append(_single(task, single[task]) if task in single else _pairwise(task, pairwise[task]))
    return out
