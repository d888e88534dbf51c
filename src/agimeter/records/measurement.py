"""What a run consumed (``Measurement``), stored with the run and priced by ``agimeter.cost``.

Versions: 1 (the first), 2 added ``errors`` and ``failed_items`` (failed requests by kind, items
left without a result), 3 derives counts and tokens from the stored items, sums wall time over
sessions and adds ``sessions``. ``migrate_measurement`` brings a stored v1 or v2 block to v3.

``JudgeMeasurement``: what a run's judge model consumed (judged tasks), stored beside it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agimeter.records.checks import stored_version
from agimeter.records.hardware import HardwareInfo
from agimeter.records.model import ModelInfo

MEASUREMENT_SCHEMA_VERSION = 3
JUDGE_MEASUREMENT_SCHEMA_VERSION = 1


class Measurement(BaseModel):
    """What a run consumed; stored with the run, priced by ``agimeter.cost``. Counts and times are
    non-negative finite numbers: a stored or uploaded block that breaks this is refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schema_version: int = MEASUREMENT_SCHEMA_VERSION
    wall_s: float = Field(ge=0)  # evaluation wall time, summed over sessions up to each one's last commit
    load_s: float = Field(ge=0)  # one model load: the first session's (later ones redo the same work)
    # items_computed: stored by this run, in any of its sessions; items_cached: results of other
    # runs that it linked. Their sum is the run's items, always.
    items_computed: int = Field(ge=0)
    items_cached: int = Field(ge=0)
    items_per_s: float | None = Field(ge=0)
    # Tokens and seconds of the computed items (cached items cost this run nothing).
    prompt_tokens: int = Field(ge=0)
    computed_prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    prefill_s: float = Field(ge=0)
    decode_s: float = Field(ge=0)
    prefill_tokens_per_s: float | None = Field(ge=0)
    decode_tokens_per_s: float | None = Field(ge=0)
    peak_rss_bytes: int = Field(ge=0)  # of the latest session's process
    cuda_max_allocated_bytes: int | None = Field(ge=0)
    hardware: HardwareInfo
    # The run's current state, not a sum over re-runs: requests that failed for good (after
    # retries) in the latest session, by kind, and the items that session left without a result
    # (a re-run retries exactly those, and starts counting again from zero).
    errors: dict[str, int] = Field(default_factory=dict)
    failed_items: int = Field(default=0, ge=0)
    # Processes that worked on the run: 1 + resumes (None: migrated from v1/v2, which did not count).
    sessions: int | None = Field(default=None, ge=1)


def migrate_measurement(raw: object) -> object:
    """A stored measurement block brought to the current version; anything that is not a
    versioned mapping is returned as it is, for validation to name."""
    version = stored_version(raw, MEASUREMENT_SCHEMA_VERSION)
    if version is None or not isinstance(raw, dict):
        return raw
    block: dict[str, Any] = dict(raw)
    if version < 2:  # v1 kept no failures: none were counted
        block.setdefault("errors", {})
        block.setdefault("failed_items", 0)
    block.setdefault("sessions", None)  # v1/v2 did not count sessions
    block["schema_version"] = MEASUREMENT_SCHEMA_VERSION
    return block


class JudgeMeasurement(BaseModel):
    """What a run's judge model consumed, apart from the evaluated model (``Measurement``): sums over
    the items the run computed, so exact across resumes; ``wall_s`` is the time spent judging."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schema_version: int = JUDGE_MEASUREMENT_SCHEMA_VERSION
    model: str  # the judge model spec as given
    info: ModelInfo
    weak: bool  # a local judge of fewer than WEAK_JUDGE_PARAMETERS parameters (or unknown and local)
    load_s: float = Field(ge=0)
    items_judged: int = Field(ge=0)
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    wall_s: float = Field(ge=0)
