"""Distributed load generation (``agimeter perf --workers N``): one sweep point sent from N Ray
workers at once, merged into one point.

Open loop: each worker draws its own Poisson arrivals at ``rate / N`` (its own seed), and the
superposition of independent Poisson processes is a Poisson process at the sum of their rates, so
the merged arrivals are Poisson at the asked rate. A request count is split as evenly as it goes
(the merged process is exactly Poisson until the first worker has sent its share; a duration
ends them all together). Closed loop: the concurrency is split across the workers.

Workers start together at a wall-clock instant the driver picks (after their warm-up). Their raw
samples are merged, not their percentiles: every latency of the merged point is computed from
all the requests (``summarize_point``). Timestamps are ``perf_counter`` values; on the driver's
host that is the one system-wide monotonic clock, so samples merge unchanged (and the stub's
meter-error check still holds); from another host they are shifted by the two hosts' wall-clock
offsets, which carries their NTP error. Each worker's own overhead (event-loop lag, dispatch lag:
how late it sent against its schedule) is kept per worker (``WorkerOverhead``), so one saturated
client shows instead of silently inflating the merged latencies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Sequence
from typing import Any, cast

from agimeter.backends.registry import create_backend
from agimeter.errors import ConfigError
from agimeter.perf.loadgen import PointRun, PointSpec, Sample, run_point
from agimeter.perf.metrics import Dist, WorkerOverhead, summarize_point
from agimeter.perf.workload import PerfPrompt
from agimeter.runner.executors.base import EventSink
from agimeter.runner.executors.ray_exec import ensure_ray

START_LEAD_S = 0.5  # after every worker's warm-up: time for the start message to reach them all


@dataclasses.dataclass
class _WorkerRun:
    worker: int
    host: str
    wall_minus_mono: float  # time.time() - perf_counter() in the worker, at its start
    started_late_s: float
    run: PointRun


def split_point(spec: PointSpec, workers: int) -> list[PointSpec]:
    """Each worker's share: rate / N (its own seed), or concurrency / N; requests split evenly."""
    if spec.mode == "concurrency" and spec.level < workers:
        raise ConfigError(f"--concurrency {spec.level:g} over --workers {workers}: at least one per worker")
    if spec.requests is not None and spec.requests < workers:
        raise ConfigError(f"--requests {spec.requests} over --workers {workers}: at least one per worker")
    shares = []
    for i in range(workers):
        requests = None
        if spec.requests is not None:
            requests = spec.requests // workers + (1 if i < spec.requests % workers else 0)
        if spec.mode == "concurrency":
            level = float(int(spec.level) // workers + (1 if i < int(spec.level) % workers else 0))
        else:
            level = spec.level / workers
        cap = -(-spec.max_concurrency // workers) if spec.max_concurrency else None
        shares.append(
            dataclasses.replace(spec, level=level, requests=requests, seed=spec.seed * 1009 + i, max_concurrency=cap)
        )
    return shares


class _LoadWorker:
    """A Ray actor that sends one share of each point from its own process (and event loop)."""

    def __init__(self, model: str, options: dict[str, object], build: dict[str, Any]) -> None:
        from agimeter.perf.session import PerfOptions, make_target

        self.backend = create_backend(model, **options)
        self.options = PerfOptions.model_validate(build)
        self._make_target = make_target

    def warm(self, prompts: list[PerfPrompt], warmup: int, max_tokens: int) -> None:
        """Unmeasured requests before the point (lazy allocations, compilation), as in process."""

        async def go() -> None:
            async with self._make_target(self.backend, self.options) as target:
                for i in range(warmup):
                    await target.stream(prompts[-1 - i % len(prompts)].text, max_tokens)

        asyncio.run(go())

    def run(self, worker: int, prompts: list[PerfPrompt], spec: PointSpec, start_at: float) -> _WorkerRun:
        async def go() -> tuple[float, PointRun]:
            async with self._make_target(self.backend, self.options) as target:
                await asyncio.sleep(max(0.0, start_at - time.time()))
                late = time.time() - start_at
                return late, await run_point(target, prompts, spec)

        late, run = asyncio.run(go())
        return _WorkerRun(worker, socket.gethostname(), time.time() - time.perf_counter(), late, run)


def _shift(sample: Sample, by: float, index: int) -> Sample:
    trace = sample.trace
    moved = dataclasses.replace(
        trace,
        sent_at=trace.sent_at + by,
        first_byte_at=trace.first_byte_at + by if trace.first_byte_at is not None else None,
        token_times=[t + by for t in trace.token_times],
        done_at=trace.done_at + by,
    )
    scheduled = sample.scheduled_at + by if sample.scheduled_at is not None else None
    return Sample(index, sample.prompt, moved, scheduled)


def merge_runs(spec: PointSpec, parts: Sequence[_WorkerRun]) -> PointRun:
    """One point from the workers' raw samples, on the driver's monotonic clock."""
    here, offset_here = socket.gethostname(), time.time() - time.perf_counter()
    samples: list[Sample] = []
    starts, ends, lags = [], [], []
    for part in parts:
        by = 0.0 if part.host == here else part.wall_minus_mono - offset_here
        for s in part.run.samples:
            samples.append(_shift(s, by, len(samples)))
        starts.append(part.run.started_at + by)
        ends.append(part.run.ended_at + by)
        lags += part.run.loop_lag_s
    return PointRun(spec, samples, min(starts), max(ends), lags)


class LoadWorkers:
    """N load-generating Ray actors for a sweep (Ray must be initialised); ``close`` ends them."""

    def __init__(
        self,
        model: str,
        backend_options: dict[str, object],
        build: dict[str, Any],
        workers: int,
        *,
        address: str | None = None,
        num_cpus: float = 1.0,
        on_event: EventSink | None = None,
    ) -> None:
        import ray

        self._started_ray = ensure_ray(address, workers * num_cpus, on_event or (lambda message: None))
        remote = ray.remote(_LoadWorker).options(num_cpus=num_cpus, max_restarts=0)
        self.actors: list[Any] = [remote.remote(model, backend_options, build) for _ in range(workers)]

    def run_point(
        self, prompts: list[PerfPrompt], spec: PointSpec, warmup: int, timeout_s: float | None = None
    ) -> tuple[PointRun, list[WorkerOverhead]]:
        """Warm every worker up, start them together, merge their samples into one point."""
        import ray

        shares = split_point(spec, len(self.actors))
        ray.get([a.warm.remote(prompts, warmup, spec.max_tokens) for a in self.actors], timeout=timeout_s)
        start_at = time.time() + START_LEAD_S
        refs = [
            a.run.remote(i, prompts, share, start_at)
            for i, (a, share) in enumerate(zip(self.actors, shares, strict=True))
        ]
        parts = cast(list[_WorkerRun], ray.get(refs, timeout=timeout_s))
        overheads = [
            WorkerOverhead(
                worker=part.worker,
                host=part.host,
                level=share.level,
                requests=len(part.run.samples),
                start_skew_ms=1000.0 * part.started_late_s,
                overhead=summarize_point(part.run, {}).overhead,
            )
            for part, share in zip(parts, shares, strict=True)
        ]
        return merge_runs(spec, parts), overheads

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        if self._started_ray:
            ray.shutdown()


def worst_dispatch_lag_ms(overheads: Sequence[WorkerOverhead]) -> Dist | None:
    """The most-lagging worker's dispatch lag: the one to look at when latencies look inflated."""
    lagging = [o.overhead.dispatch_lag_ms for o in overheads if o.overhead.dispatch_lag_ms is not None]
    return max(lagging, key=lambda d: d.p99, default=None)
