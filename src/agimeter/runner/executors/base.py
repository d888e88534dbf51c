"""The executor seam: where a run's requests are computed.

In process, the run's ``Backend`` computes them itself. A worker pool (``ray_exec.RayWorkerPool``)
is a ``Backend`` too, whose ``loglikelihood``/``generate`` cut the requests into work units and
compute them on several workers, each holding one loaded model; results come back to the driver,
which stays the only writer to the store. What makes a pool a pool is ``WorkerPool``: it meters
each worker (``WorkerMeter``), stored with the run as ``summary["workers"]``.

Work units keep requests with a shared prefix together (a multiple-choice item's continuations,
a sampled item's draws, few-shot items that share their examples), so the prefix reuse a backend
does within one call survives the sharding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from agimeter.backends.base import GenRequest, GenResult, LoglikRequest, LoglikResult
from agimeter.runner.hardware import HardwareInfo

Kind = Literal["loglik", "generate"]
Request = LoglikRequest | GenRequest
Result = LoglikResult | GenResult

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


@runtime_checkable
class WorkerPool(Protocol):
    """A backend whose requests run on several workers: it reports each worker's meter."""

    def worker_meters(self) -> list[WorkerMeter]: ...


class Scaling(BaseModel):
    """Throughput of a run on N workers against N times one worker's: total tokens over the run's
    wall time (not summed request time), and the mean per-worker rate measured in the same run."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    workers: int
    tokens: int
    wall_s: float
    tokens_per_s: float | None
    worker_tokens_per_s: float | None  # mean over workers of tokens / busy seconds
    efficiency: float | None  # tokens_per_s / (workers × worker_tokens_per_s)
    usd: float  # Σ worker-hours × each worker's price


def scaling(meters: Sequence[WorkerMeter], wall_s: float) -> Scaling:
    tokens = sum(m.tokens for m in meters)
    rates = [r for m in meters if (r := m.tokens_per_busy_s) is not None]
    run_rate = tokens / wall_s if wall_s > 0 and tokens else None
    mean = sum(rates) / len(rates) if rates else None
    workers = len({m.worker for m in meters})
    efficiency = run_rate / (workers * mean) if run_rate is not None and mean else None
    return Scaling(
        workers=workers,
        tokens=tokens,
        wall_s=wall_s,
        tokens_per_s=run_rate,
        worker_tokens_per_s=mean,
        efficiency=efficiency,
        usd=sum(m.usd for m in meters),
    )


@dataclass
class WorkUnit:
    """Requests computed together on one worker; ``indices`` place them in the caller's list."""

    id: int
    kind: Kind
    indices: tuple[int, ...]
    requests: tuple[Request, ...]
    attempts: int = 0  # worker deaths while this unit was running on it
    history: list[str] = field(default_factory=list)  # what happened to it, for the report


def _prefix_key(request: Request) -> str:
    return request.context if isinstance(request, LoglikRequest) else request.prompt


def plan_units(kind: Kind, requests: Sequence[Request], unit_size: int) -> list[WorkUnit]:
    """Cut ``requests`` into units of about ``unit_size``: requests ordered by their prompt (shared
    prefixes side by side), and never a cut between requests with the same prompt (one item's
    choices or samples)."""
    order = sorted(range(len(requests)), key=lambda i: (_prefix_key(requests[i]), i))
    units: list[WorkUnit] = []
    current: list[int] = []
    for i in order:
        if len(current) >= unit_size and _prefix_key(requests[current[-1]]) != _prefix_key(requests[i]):
            units.append(WorkUnit(len(units), kind, tuple(current), tuple(requests[j] for j in current)))
            current = []
        current.append(i)
    if current:
        units.append(WorkUnit(len(units), kind, tuple(current), tuple(requests[j] for j in current)))
    return units


def unit_size_for(requests: int, workers: int, per_worker: int = 4, cap: int = 64) -> int:
    """Small enough that every worker gets several units (balance, and little redone work when a
    worker dies), large enough that a unit is worth a round trip."""
    return max(1, min(cap, -(-requests // (workers * per_worker))))


EventSink = Callable[[str], None]
