"""What a judged item keeps in its ``details``: typed, versioned, read back by ``analysis.judged``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from agimeter.scoring.judge.style import Style

JUDGEMENT_SCHEMA_VERSION = 1


class DetailsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Judgement(DetailsModel):
    """One judge call: the prompt it used (by name), the judge's whole answer, and its verdict."""

    prompt: str
    judgment: str  # the judge's raw output (its rationale, then the verdict)
    verdict: str  # "8" for a rating, "A>>B" for a pairwise label


class TurnJudgement(Judgement):
    turn: int  # 1-based
    rating: float
    answer_tokens: int  # the judged answer's length (o200k tokens, as Arena-Hard counts)


class SingleDetails(DetailsModel):
    """MT-Bench single-answer grading of one question: one judgement per turn."""

    schema_version: int = JUDGEMENT_SCHEMA_VERSION
    kind: Literal["single"] = "single"
    judge: str  # the judge model as given (--judge)
    turns: list[TurnJudgement]


class GameJudgement(Judgement):
    order: Literal["baseline_first", "candidate_first"]  # who was assistant A


class PairwiseDetails(DetailsModel):
    """Arena-Hard: the candidate against the baseline answer, in both orders."""

    schema_version: int = JUDGEMENT_SCHEMA_VERSION
    kind: Literal["pairwise"] = "pairwise"
    judge: str
    category: str
    games: list[GameJudgement]  # baseline first (game 1), then candidate first (game 2)
    battles: list[float]  # the candidate's battle scores, as Arena-Hard explodes them
    candidate_style: Style
    baseline_style: Style


JudgeDetails = SingleDetails | PairwiseDetails
