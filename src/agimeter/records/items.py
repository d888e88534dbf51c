"""One scored item, as the store keeps it and ``export --format jsonl`` writes it.

Versions: 1 (the first), 2 added ``chance``, ``weights``, ``details`` and ``generations``.
``migrate_item`` brings a stored v1 record to v2 (nothing in it changes meaning)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ITEM_SCHEMA_VERSION = 2


class ItemRecord(BaseModel):
    """One scored item: also the ``export --format jsonl`` contract."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = ITEM_SCHEMA_VERSION
    task: str
    task_version: str
    doc_id: int
    subtask: str | None = None
    target: int | str
    prediction: int | str | None
    correct: bool
    metrics: dict[str, float]
    loglikelihoods: list[float] | None = None
    is_greedy: list[bool] | None = None
    generation: str | None = None
    generations: list[str] | None = None  # every sample when the task draws n > 1
    # Per metric: a random guesser's score on this item (normalisation), and the item's weight
    # in the metric's mean where it is not 1 (IFEval instruction-level accuracy).
    chance: dict[str, float] = Field(default_factory=dict)
    weights: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] | None = None  # scorer evidence: sandbox status, instructions, refusal label
    prompt_tokens: int
    completion_tokens: int
    computed_prompt_tokens: int
    prefill_s: float
    decode_s: float
    total_s: float
    prompt_sha256: str
    cache_key: str


def migrate_item(raw: object) -> object:
    """A stored item brought to the current version (v1: no chance, weights, details or samples)."""
    if not isinstance(raw, dict) or raw.get("schema_version", 1) != 1:
        return raw
    return {"chance": {}, "weights": {}, "details": None, "generations": None, **raw, "schema_version": 2}
