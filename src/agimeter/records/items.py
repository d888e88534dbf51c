"""One scored item, as the store keeps it and ``export --format jsonl`` writes it.

Versions: 1 (the first), 2 added ``chance``, ``weights``, ``details`` and ``generations``, 3 added
``turns`` and the judge's share (``judge_*``). ``migrate_item`` brings a stored v1 or v2 record to
v3 (nothing in it changes meaning: an older item had no such parts, and no judge).

``CompletionRecord``: a kept generation result (the completion cache of judged tasks)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agimeter.records.checks import stored_version

ITEM_SCHEMA_VERSION = 3
COMPLETION_SCHEMA_VERSION = 1


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
    # A conversation (MT-Bench): the model's answer to each user turn (``generation`` is the first).
    turns: list[str] | None = None
    # What the task's judge consumed for this item (0 when none judged it, or another run paid),
    # apart from the evaluated model's tokens and seconds above; judge_s is judging wall time.
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    judge_s: float = 0.0


class CompletionRecord(BaseModel):
    """A kept generation result (``completions`` table): the backend's ``GenResult`` as JSON."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = COMPLETION_SCHEMA_VERSION
    cache_key: str
    run_id: str
    result: dict[str, Any]


def migrate_item(raw: object) -> object:
    """A stored item brought to the current version (v1: no chance, weights, details or samples;
    v2: no turns and no judge); anything else is returned as it is, for validation to name."""
    version = stored_version(raw, ITEM_SCHEMA_VERSION)
    if version is None or not isinstance(raw, dict):
        return raw
    item: dict[str, Any] = dict(raw)
    if version < 2:
        item = {"chance": {}, "weights": {}, "details": None, "generations": None, **item}
    item = {"turns": None, "judge_prompt_tokens": 0, "judge_completion_tokens": 0, "judge_s": 0.0, **item}
    item["schema_version"] = ITEM_SCHEMA_VERSION
    return item
