"""What ``agimeter perf`` stores: each sweep point's latency and throughput, and the serving price
at the operating point (measured by ``agimeter.perf``, priced by ``agimeter.cost``).

Versions: 1 (the first), 2 added per-point latency quantiles for CDF plots (``quantiles_ms``).
``migrate_perf`` brings a stored v1 result to v2: no quantiles, and its options say that runs
from before ``--warmup`` did no warm-up."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from agimeter.records.hardware import HardwareInfo
from agimeter.records.options import PerfOptions, migrate_perf_options

PERF_SCHEMA_VERSION = 2


class Dist(BaseModel):
    """A latency distribution in milliseconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


class Overhead(BaseModel):
    """The generator's own cost: how much delay its timestamps can carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loop_lag_ms: Dist | None  # event-loop wake-up delay, sampled every 5 ms
    dispatch_lag_ms: Dist | None  # open loop: actual send - scheduled arrival
    parse_us_per_request: float | None  # client time parsing a stream, mean


class WorkerOverhead(BaseModel):
    """One load-generating worker's share of a point (``perf --workers``; ``perf.distributed``) and
    how far its own timestamps can be trusted: a saturated client shows here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    worker: int
    host: str
    level: float  # its rate (req/s) or concurrency
    requests: int
    start_skew_ms: float  # how late it started against the common start
    overhead: Overhead


class ServerComparison(BaseModel):
    """Client-measured vs server-reported timings (servers that send llama.cpp-style ``timings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int
    server_ttft_ms: Dist
    client_minus_server_ttft_ms: Dist
    # Only against agimeter's stub on the same machine (shared monotonic clock): client read time
    # of the first token - stub write time of it. The meter's own error, free of server queueing.
    meter_ttft_error_ms: Dist | None = None


class PointSummary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str
    level: float
    requests: int
    succeeded: int
    errors: dict[str, int]
    wall_s: float
    request_per_s: float
    output_tokens_per_s: float
    input_tokens_per_s: float
    goodput_per_s: float | None
    slo_ok: int | None
    ttft: Dist | None
    tpot: Dist | None
    itl: Dist | None
    e2e: Dist | None
    input_tokens: int
    output_tokens: int
    output_tokens_counted_client_side: bool
    prefill_time_share: float | None  # sum(TTFT) / sum(E2E): the share of time spent before decoding
    overhead: Overhead
    server: ServerComparison | None = None
    # For CDF plots: each distribution's quantiles at 0, 0.5, ..., 100 % (201 values, in ms).
    quantiles_ms: dict[str, list[float]] | None = None
    workers: list[WorkerOverhead] | None = None  # sent from several workers: each one's share and overhead


class ServingCost(BaseModel):
    """$ per 1M input and output tokens at the sweep's operating point (``cost.serving``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    point: int  # index into the sweep
    price_per_hour: float
    price_is_example: bool
    prefill_time_share: float
    usd_per_1m_input: float | None
    usd_per_1m_output: float | None
    usd_per_1m_blended_3_1: float | None
    method: str = "hour split by prefill time share; blended = (3 x input + 1 x output) / 4"


class PerfResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = PERF_SCHEMA_VERSION
    options: PerfOptions
    slo_s: dict[str, float]
    input_lengths_exact: bool
    points: list[PointSummary]
    cost: ServingCost | None
    client_hardware: HardwareInfo


def migrate_perf(raw: object) -> object:
    """A stored perf result brought to the current version; anything that is not a versioned
    mapping is returned as it is, for validation to name."""
    if not isinstance(raw, dict) or raw.get("schema_version", 1) != 1:
        return raw
    result: dict[str, Any] = {**raw, "schema_version": PERF_SCHEMA_VERSION}
    result["options"] = migrate_perf_options(raw.get("options"))
    return result
