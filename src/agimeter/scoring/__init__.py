"""Scoring: every metric is a registered ``Scorer`` (``scoring.base``; built-ins in ``scoring.scorers``)."""

from agimeter.scoring import scorers as scorers  # imported to register the built-in scorers
from agimeter.scoring.base import (
    Answer,
    BaseScorer,
    ItemScore,
    ItemScorer,
    Judged,
    SampleScorer,
    Scorer,
    ScoringContext,
    from_judged,
)
from agimeter.scoring.extraction import exact_match, last_number, normalize_for_match, regex_extract
from agimeter.scoring.multiple_choice import predict, predict_norm
from agimeter.scoring.registry import SCORERS, get_scorer, scorer, scorer_names
from agimeter.scoring.score import extract_answer, score_item

__all__ = [
    "SCORERS",
    "Answer",
    "BaseScorer",
    "ItemScore",
    "ItemScorer",
    "Judged",
    "SampleScorer",
    "Scorer",
    "ScoringContext",
    "exact_match",
    "extract_answer",
    "from_judged",
    "get_scorer",
    "last_number",
    "normalize_for_match",
    "predict",
    "predict_norm",
    "regex_extract",
    "score_item",
    "scorer",
    "scorer_names",
]
