"""A run's sessions (one process's go at it, and its lease) and the sums over its items."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

SESSION_SCHEMA_VERSION = 1

# A session of a run: "running" while its process holds the run, "ended" when it stopped by itself
# (whatever the run's status), "dead" when a later session found its process gone and took over.
SessionState = Literal["running", "ended", "dead"]


class Owner(BaseModel):
    """The process that runs a session: a pid is only unique with its host and start time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    pid: int
    started: float  # the process's start time, seconds since the epoch


class SessionRecord(BaseModel):
    """One process's go at a run (the first, or a resume). Its clock and item count are committed
    with every item it stores, so a killed session still says what it did up to its last item."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SESSION_SCHEMA_VERSION
    id: int
    run_id: str
    number: int  # 1 for the session that created the run, then 2, 3, ... for each resume
    owner: Owner
    state: SessionState
    started_at: datetime
    heartbeat_at: datetime  # the owner's lease: refreshed with each item and by a heartbeat thread
    load_s: float  # model load time of this session
    wall_s: float  # evaluation wall time of this session, as of its last commit
    items_computed: int  # items this session computed and stored


class SessionTick(BaseModel):
    """What a session commits about itself with an item or a checkpoint, as its lease holder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: int
    wall_s: float
    final: bool = False  # the session ends with this commit


class RunTotals(BaseModel):
    """Sums over the items a run holds: computed = stored by the run itself (in any session),
    cached = results of other runs that it linked. Tokens and seconds are those of computed items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items_computed: int = 0
    items_cached: int = 0
    prompt_tokens: int = 0
    computed_prompt_tokens: int = 0
    completion_tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    # The judge's share, over the computed items (see ``ItemRecord.judge_*``).
    items_judged: int = 0
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    judge_s: float = 0.0
