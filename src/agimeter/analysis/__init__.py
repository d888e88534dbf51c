"""Analysis of stored results: aggregation and confidence intervals."""

from agimeter.analysis.stats import Estimate, estimate, wilson_interval
from agimeter.analysis.summary import TaskScore, summarize

__all__ = ["Estimate", "TaskScore", "estimate", "summarize", "wilson_interval"]
