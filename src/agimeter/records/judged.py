"""The figures of a run's judged tasks (computed by ``scoring.judge.figures``), stored in its
evaluation summary (``judged``) for readers of summaries: reports, the server, ``run show``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JUDGED_SCHEMA_VERSION = 1
BOOTSTRAP_ROUNDS = 100  # Arena-Hard's


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
