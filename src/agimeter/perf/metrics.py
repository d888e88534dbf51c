"""Latency and throughput of one sweep point, from the per-request traces.

- TTFT: first token arrival - request sent.       - ITL: every gap between two streamed tokens.
- TPOT: (last token - first token) / (tokens - 1), per request with two tokens or more.
- E2E:  last byte - request sent.
Throughputs divide by the point's wall time (first send to last byte). Goodput counts the
successful requests that meet every SLO. Output tokens are the server's usage count when it
sends one, else the number of streamed token events (flagged as counted client-side).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from agimeter.errors import ConfigError
from agimeter.perf.loadgen import PointRun, Sample

PERCENTILES = (50, 90, 95, 99)
SLO_KEYS = ("ttft", "tpot", "itl", "e2e")


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

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Dist | None:
        if not seconds:
            return None
        ms = np.asarray(seconds, dtype=float) * 1000.0
        p50, p90, p95, p99 = (float(v) for v in np.percentile(ms, PERCENTILES))
        return cls(n=len(ms), mean=float(ms.mean()), p50=p50, p90=p90, p95=p95, p99=p99, max=float(ms.max()))


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


def parse_slo(text: str | None) -> dict[str, float]:
    """``ttft=2s,tpot=100ms`` -> ``{"ttft": 2.0, "tpot": 0.1}`` (seconds)."""
    if not text:
        return {}
    slo: dict[str, float] = {}
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\w+)\s*=\s*([0-9.]+)\s*(ms|s)?\s*", part)
        if not match or match.group(1) not in SLO_KEYS:
            raise ConfigError(
                f"--slo: cannot read {part.strip()!r}; expected e.g. ttft=2s,tpot=100ms ({'/'.join(SLO_KEYS)})"
            )
        value = float(match.group(2))
        slo[match.group(1)] = value / 1000.0 if match.group(3) == "ms" else value
    return slo


def _output_tokens(sample: Sample) -> tuple[int, bool]:
    usage = sample.trace.usage or {}
    if "completion_tokens" in usage:
        return int(usage["completion_tokens"]), False
    return len(sample.trace.token_times), True


def _input_tokens(sample: Sample) -> int:
    usage = sample.trace.usage or {}
    return (
        sample.prompt.input_tokens
        if sample.prompt.exact or "prompt_tokens" not in usage
        else int(usage["prompt_tokens"])
    )


def _tpot(sample: Sample) -> float | None:
    times = sample.trace.token_times
    return (times[-1] - times[0]) / (len(times) - 1) if len(times) >= 2 else None


def _meets(sample: Sample, slo: dict[str, float]) -> bool:
    trace = sample.trace
    checks = {
        "ttft": trace.ttft_s,
        "tpot": _tpot(sample),
        "e2e": trace.e2e_s,
        "itl": max(np.diff(trace.token_times), default=0.0) if len(trace.token_times) > 1 else 0.0,
    }
    return all(checks[k] is not None and checks[k] <= limit for k, limit in slo.items())  # type: ignore[operator]


def summarize_point(run: PointRun, slo: dict[str, float]) -> PointSummary:
    ok = [s for s in run.samples if s.trace.error is None]
    errors = Counter(s.trace.error.kind for s in run.samples if s.trace.error is not None)
    wall = max(run.wall_s, 1e-9)
    counted = [_output_tokens(s) for s in ok]
    out_tokens = sum(n for n, _ in counted)
    in_tokens = sum(_input_tokens(s) for s in ok)
    ttfts = [s.trace.ttft_s for s in ok if s.trace.ttft_s is not None]
    e2es = [s.trace.e2e_s for s in ok]
    itls = [float(g) for s in ok for g in np.diff(s.trace.token_times)]
    tpots = [t for s in ok if (t := _tpot(s)) is not None]
    slo_ok = sum(1 for s in ok if _meets(s, slo)) if slo else None
    dispatch = [s.trace.sent_at - s.scheduled_at for s in run.samples if s.scheduled_at is not None]
    parse = [s.trace.client_s for s in run.samples]
    return PointSummary(
        mode=run.spec.mode,
        level=run.spec.level,
        requests=len(run.samples),
        succeeded=len(ok),
        errors=dict(sorted(errors.items())),
        wall_s=wall,
        request_per_s=len(ok) / wall,
        output_tokens_per_s=out_tokens / wall,
        input_tokens_per_s=in_tokens / wall,
        goodput_per_s=slo_ok / wall if slo_ok is not None else None,
        slo_ok=slo_ok,
        ttft=Dist.of(ttfts),
        tpot=Dist.of(tpots),
        itl=Dist.of(itls),
        e2e=Dist.of(e2es),
        input_tokens=in_tokens,
        output_tokens=out_tokens,
        output_tokens_counted_client_side=any(flag for _, flag in counted),
        prefill_time_share=sum(ttfts) / sum(e2es) if ttfts and sum(e2es) > 0 else None,
        overhead=Overhead(
            loop_lag_ms=Dist.of(run.loop_lag_s),
            dispatch_lag_ms=Dist.of(dispatch),
            parse_us_per_request=1e6 * float(np.mean(parse)) if parse else None,
        ),
        server=_compare_with_server(ok),
        quantiles_ms=_quantiles({"ttft": ttfts, "tpot": tpots, "itl": itls, "e2e": e2es}),
    )


QUANTILE_GRID = np.linspace(0.0, 100.0, 201)


def _quantiles(series: dict[str, list[float]]) -> dict[str, list[float]]:
    """A fixed-size summary of each distribution that a CDF can be drawn from (any n)."""
    return {
        name: [round(float(v), 4) for v in np.percentile(np.asarray(values) * 1000.0, QUANTILE_GRID)]
        for name, values in series.items()
        if values
    }


def _compare_with_server(ok: Sequence[Sample]) -> ServerComparison | None:
    pairs = [
        (float(s.trace.server_timings["prompt_ms"]) / 1000.0, s.trace.ttft_s)
        for s in ok
        if s.trace.server_timings and "prompt_ms" in s.trace.server_timings and s.trace.ttft_s is not None
    ]
    if not pairs:
        return None
    server = [p[0] for p in pairs]
    diff = [c - srv for srv, c in pairs]
    server_dist, diff_dist = Dist.of(server), Dist.of(diff)
    assert server_dist is not None and diff_dist is not None
    errors = [
        s.trace.token_times[0] - float(s.trace.server_timings["stub_first_token_monotonic"])
        for s in ok
        if s.trace.server_timings and "stub_first_token_monotonic" in s.trace.server_timings and s.trace.token_times
    ]
    return ServerComparison(
        n=len(pairs),
        server_ttft_ms=server_dist,
        client_minus_server_ttft_ms=diff_dist,
        meter_ttft_error_ms=Dist.of(errors),
    )
