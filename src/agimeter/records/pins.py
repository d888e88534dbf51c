"""A run chosen by hand for a model's task (``agimeter pin``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

PIN_SCHEMA_VERSION = 1


class PinRecord(BaseModel):
    """A run pinned for a model's task (``task`` None: for every task the run has)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = PIN_SCHEMA_VERSION
    model_identity: str
    task: str | None
    run_id: str
    created_at: datetime
