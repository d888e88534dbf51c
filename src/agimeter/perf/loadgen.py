"""The load generator: closed loop (fixed concurrency) or open loop (Poisson arrivals at a rate).

Every point is bounded by a request count and/or a duration, and each request by its own
timeout, so a point always ends by itself. The generator measures its own overhead: how late the
event loop wakes up (the delay any timestamp can carry), how late open-loop requests leave
compared with their scheduled arrival, and the time spent parsing streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from agimeter.backends._openai_http import EndpointConfig, OpenAIClient
from agimeter.backends.base import RequestError
from agimeter.backends.stream import StreamTrace
from agimeter.perf.workload import PerfPrompt

Mode = Literal["concurrency", "rate"]


class StreamTarget(Protocol):
    """Anything that can stream one greedy completion and time it (see ``StreamTrace``)."""

    async def __aenter__(self) -> StreamTarget: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def stream(self, prompt: str, max_tokens: int) -> StreamTrace: ...


PayloadBuilder = Callable[[str, int], tuple[str, dict[str, object]]]


class HTTPTarget:
    """An OpenAI-compatible endpoint, without retries: a load test records failures."""

    def __init__(self, endpoint: EndpointConfig, build: PayloadBuilder) -> None:
        self._client = OpenAIClient(endpoint.model_copy(update={"concurrency": 1_000_000}), retries=False)
        self._build = build

    async def __aenter__(self) -> HTTPTarget:
        await self._client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.__aexit__(*exc)

    async def stream(self, prompt: str, max_tokens: int) -> StreamTrace:
        path, payload = self._build(prompt, max_tokens)
        return await self._client.stream(path, dict(payload))


class LocalTarget:
    """An in-process backend that generates token by token (``gguf:``): one request at a time in a
    worker thread, like a single-slot server. TTFT counts from submission, so time spent waiting
    for the model counts as it would behind a server's queue."""

    def __init__(self, stream: Callable[[str, int], StreamTrace]) -> None:
        self._stream = stream
        self._executor: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> LocalTarget:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agimeter-local")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def stream(self, prompt: str, max_tokens: int) -> StreamTrace:
        submitted = time.perf_counter()
        try:
            trace = await asyncio.get_running_loop().run_in_executor(self._executor, self._stream, prompt, max_tokens)
        except Exception as err:  # a failed generation is recorded, not raised
            error = RequestError(kind="server_error", message=f"{type(err).__name__}: {err}")
            return StreamTrace(sent_at=submitted, done_at=time.perf_counter(), error=error)
        trace.sent_at = submitted
        return trace


@dataclass(frozen=True)
class PointSpec:
    mode: Mode
    level: float  # concurrency or requests/s
    requests: int | None
    duration_s: float | None
    max_tokens: int
    seed: int = 0
    max_concurrency: int | None = None  # open loop: cap on requests in flight


@dataclass
class Sample:
    index: int
    prompt: PerfPrompt
    trace: StreamTrace
    scheduled_at: float | None = None  # open loop: when the Poisson process said to send


@dataclass
class PointRun:
    spec: PointSpec
    samples: list[Sample]
    started_at: float
    ended_at: float
    loop_lag_s: list[float] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return self.ended_at - self.started_at


Progress = Callable[[int, int], None]  # (finished requests, failed requests)


async def run_point(
    target: StreamTarget, prompts: Sequence[PerfPrompt], spec: PointSpec, progress: Progress | None = None
) -> PointRun:
    """Run one sweep point against an entered target."""
    if spec.requests is None and spec.duration_s is None:
        raise ValueError("a point needs a request count or a duration")
    samples: list[Sample] = []
    budget = spec.requests if spec.requests is not None else math.inf
    started = time.perf_counter()
    deadline = started + spec.duration_s if spec.duration_s is not None else math.inf
    stop = asyncio.Event()
    lags: list[float] = []
    monitor = asyncio.create_task(_watch_loop(lags, stop))
    ticker = asyncio.create_task(_tick(samples, stop, progress)) if progress else None

    async def one(index: int, scheduled: float | None = None) -> None:
        prompt = prompts[index % len(prompts)]
        trace = await target.stream(prompt.text, spec.max_tokens)
        samples.append(Sample(index, prompt, trace, scheduled))

    try:
        if spec.mode == "concurrency":
            counter = itertools.count()

            async def worker() -> None:
                while (i := next(counter)) < budget and time.perf_counter() < deadline:
                    await one(i)

            await asyncio.gather(*(worker() for _ in range(int(spec.level))))
        else:
            await _open_loop(one, spec, budget, started, deadline)
    finally:
        stop.set()
        await monitor
        if ticker is not None:
            await ticker
    ended = max((s.trace.done_at for s in samples), default=time.perf_counter())
    return PointRun(spec, samples, started, ended, lags)


async def _open_loop(
    one: Callable[[int, float], object], spec: PointSpec, budget: float, started: float, deadline: float
) -> None:
    """Poisson arrivals: exponential gaps with mean 1/rate from a seeded generator."""
    rng = np.random.default_rng(spec.seed)
    in_flight: set[asyncio.Task[object]] = set()
    limit = asyncio.Semaphore(spec.max_concurrency) if spec.max_concurrency else None
    when = started
    index = 0

    async def send(i: int, at: float) -> object:
        if limit is None:
            return await one(i, at)  # type: ignore[misc]
        async with limit:
            return await one(i, at)  # type: ignore[misc]

    while index < budget:
        when += float(rng.exponential(1.0 / spec.level))
        if when > deadline:
            break
        delay = when - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(send(index, when))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        index += 1
    if in_flight:
        await asyncio.gather(*in_flight)


async def _watch_loop(lags: list[float], stop: asyncio.Event, period: float = 0.005) -> None:
    """How late the event loop wakes up: the delay that any timestamp taken in it can carry."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(max(0.0, time.perf_counter() - before - period))


async def _tick(samples: list[Sample], stop: asyncio.Event, progress: Progress | None) -> None:
    """Refresh the live display a few times a second, never per request (it would cost time)."""
    while progress is not None:
        failed = sum(1 for s in samples if s.trace.error is not None)
        progress(len(samples), failed)
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)
