"""The table record both report views render, and the number formats they share."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.entry_model import ModelEntry
from agimeter.tasks.dimensions import DIMENSIONS


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # stable element id in the HTML report
    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


def num(x: float | None, digits: int = 1) -> str:
    return f"{x:,.{digits}f}" if x is not None and math.isfinite(x) else "–"


def sig(x: float | None) -> str:
    """Three significant figures for values spanning orders of magnitude ($, parameters)."""
    return f"{x:.3g}" if x is not None and math.isfinite(x) else "–"


def ci(low: float | None, high: float | None) -> str:
    return f"[{num(low)}, {num(high)}]" if low is not None and high is not None else ""


def dimensions_of(entries: Sequence[ModelEntry]) -> list[str]:
    seen = {d for e in entries for d in e.dimensions}
    return [d for d in DIMENSIONS if d in seen] + sorted(seen - set(DIMENSIONS))
