"""Scoring: per-item metrics (log-likelihood MC accuracy, answer extraction, exact match)."""

from agimeter.scoring.extraction import exact_match, last_number, normalize_for_match, regex_extract
from agimeter.scoring.multiple_choice import predict, predict_norm
from agimeter.scoring.score import ItemScore, extract_answer, score_item

__all__ = [
    "ItemScore",
    "exact_match",
    "extract_answer",
    "last_number",
    "normalize_for_match",
    "predict",
    "predict_norm",
    "regex_extract",
    "score_item",
]
