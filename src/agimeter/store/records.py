"""Records that the store keeps. Each carries ``schema_version``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ITEM_SCHEMA_VERSION = 2  # 2: chance, weights, details, generations (v1 rows load with defaults)
RUN_SCHEMA_VERSION = 1

# "incomplete": the run went to the end but some requests failed; re-running resumes it and
# retries only those items.
RunStatus = Literal["running", "finished", "incomplete", "failed", "interrupted"]


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


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = RUN_SCHEMA_VERSION
    id: str
    run_key: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    model: str
    model_identity: str
    tasks: list[str]
    config: dict[str, Any] = Field(default_factory=dict)
    model_info: dict[str, Any] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
