"""What each Ray worker did for a run (``runner.executors``), stored in its evaluation summary
(``workers``) and priced by ``analysis.runs.run_cost`` (each worker billed for the time it was held)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agimeter.records.hardware import HardwareInfo

# 1: one row per worker process slot and session; tokens and seconds of the units it delivered.
WORKER_METER_SCHEMA_VERSION = 1


class WorkerMeter(BaseModel):
    """What one worker did for a run, in one session. Tokens and seconds are sums over the units it
    delivered (a unit lost with a dead worker is counted by the worker that redid it), so over all
    workers they add up to the run's computed items. ``held_s`` is the driver's clock from the
    worker's start to its release or death: what a cluster bills for it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    schema_version: int = WORKER_METER_SCHEMA_VERSION
    worker: int = Field(ge=0)
    session: int | None = Field(default=None, ge=1)
    model: str  # the model spec this worker loaded (one endpoint of openai:MODEL@URL1,URL2)
    host: str = "?"
    pid: int | None = None  # of the worker process at its last report (a restarted worker gets another)
    load_s: float = Field(default=0.0, ge=0)  # the first model load; restarts load again (``restarts``)
    held_s: float = Field(default=0.0, ge=0)
    busy_s: float = Field(default=0.0, ge=0)  # computing units, by the worker's own clock
    units: int = Field(default=0, ge=0)
    requests: int = Field(default=0, ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    computed_prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    prefill_s: float = Field(default=0.0, ge=0)
    decode_s: float = Field(default=0.0, ge=0)
    peak_rss_bytes: int = Field(default=0, ge=0)
    cuda_max_allocated_bytes: int | None = Field(default=None, ge=0)
    hardware: HardwareInfo | None = None
    restarts: int = Field(default=0, ge=0)  # process deaths survived (killed, OOM)
    dead: bool = False  # gone for good before the run's end
    price_per_hour: float = Field(default=0.0, ge=0)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def tokens_per_busy_s(self) -> float | None:
        return self.tokens / self.busy_s if self.busy_s > 0 and self.tokens else None

    @property
    def usd(self) -> float:
        return self.held_s / 3600.0 * self.price_per_hour
