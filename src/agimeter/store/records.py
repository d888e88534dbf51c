"""Records that the store keeps. Each carries ``schema_version``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# 2: chance, weights, details, generations; 3: turns, judge_* (older rows load with defaults)
ITEM_SCHEMA_VERSION = 3
COMPLETION_SCHEMA_VERSION = 1
RUN_SCHEMA_VERSION = 1
SESSION_SCHEMA_VERSION = 1
PIN_SCHEMA_VERSION = 1

# "incomplete": the run went to the end but some requests failed; re-running resumes it and
# retries only those items. "interrupted": stopped by Ctrl-C/SIGTERM, or stored as "running" while
# the process that ran it is gone (killed, crashed: see ``SessionRecord``); re-running resumes it.
RunStatus = Literal["running", "finished", "incomplete", "failed", "interrupted"]
# A session of a run: "running" while its process holds the run, "ended" when it stopped by itself
# (whatever the run's status), "dead" when a later session found its process gone and took over.
SessionState = Literal["running", "ended", "dead"]


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


class PinRecord(BaseModel):
    """A run pinned for a model's task (``task`` None: for every task the run has)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = PIN_SCHEMA_VERSION
    model_identity: str
    task: str | None
    run_id: str
    created_at: datetime
