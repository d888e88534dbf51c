"""Comparisons for anonymous clients, with bounded work: cached, shared and few at a time.

A comparison of two measured entries runs the paired tests and a bootstrap over every shared
item (about a second of CPU on a real store), so the server never computes one per request:

- results are kept in an LRU keyed by (store fingerprint, a, b), so a store change invalidates
  them and nothing else does;
- concurrent requests for the same pair share one computation;
- at most ``max_running`` computations run at once (in worker threads, off the event loop),
  and at most ``max_waiting`` more wait, each for at most ``max_wait_s``. Beyond that the answer
  is 503 with ``Retry-After``, at once: the request costs the server next to nothing.

The entries themselves come from the entry cache's snapshot, confirmed at most ``fresh_s`` ago,
so a cached comparison is answered without touching the database.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import anyio
from fastapi import HTTPException, status

from agimeter.server.cache import EntryCache, Fingerprint, Snapshot
from agimeter.server.schemas import CompareView
from agimeter.server.views import compare_entries
from agimeter.store.repository import Store

CompareKey = tuple[Fingerprint, str, str]


@dataclass(frozen=True)
class CompareLimits:
    max_running: int = 1  # computations at once: each keeps a core busy, and a 2-core box has 2
    max_waiting: int = 4  # distinct computations queued behind them
    max_wait_s: float = 10.0  # how long a request waits for its computation before a 503
    cache_size: int = 256  # comparisons kept
    fresh_s: float = 1.0  # how old the entry snapshot may be on this path


@dataclass(frozen=True)
class CompareResult:
    view: CompareView
    json: bytes  # what /api/v1/compare sends, serialised once


class Busy(Exception):
    """No computation slot came free within ``max_wait_s``."""


@dataclass
class _LoopState:
    """What belongs to one event loop (a test client may run each request on a new one)."""

    loop: asyncio.AbstractEventLoop
    slots: asyncio.Semaphore
    threads: anyio.CapacityLimiter
    running: dict[CompareKey, asyncio.Task[CompareResult]] = field(default_factory=dict)
    refreshing: asyncio.Task[Snapshot] | None = None


class CompareService:
    """One per app. ``get`` is awaited from async handlers on the server's event loop."""

    def __init__(self, store: Store, cache: EntryCache, limits: CompareLimits | None = None) -> None:
        self.store = store
        self.cache = cache
        self.limits = limits or CompareLimits()
        self._results: OrderedDict[CompareKey, CompareResult] = OrderedDict()
        self._state: _LoopState | None = None
        self._mean_s = 1.0  # running mean of a computation's duration, for Retry-After
        self.computed = 0  # computations done (for tests and logs)

    @property
    def in_progress(self) -> int:
        """Computations running or waiting for a slot now."""
        return len(self._state.running) if self._state is not None else 0

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            limit = self.limits.max_running
            self._state = _LoopState(loop, asyncio.Semaphore(limit), anyio.CapacityLimiter(limit))
        return self._state

    async def snapshot(self) -> Snapshot:
        """The entry snapshot: the cached one when fresh, else confirmed once (in a worker thread)
        for all the requests that need it now."""
        fresh = self.cache.peek(self.limits.fresh_s)
        if fresh is not None:
            return fresh
        state = self._loop_state()
        if state.refreshing is None or state.refreshing.done():
            state.refreshing = state.loop.create_task(anyio.to_thread.run_sync(self.cache.snapshot))
        return await asyncio.shield(state.refreshing)

    async def get(self, a: str, b: str) -> CompareResult:
        """The comparison of entries ``a`` and ``b``: 404 for an unknown key, 503 when busy."""
        snap = await self.snapshot()
        entry_a, entry_b = snap.by_key.get(a), snap.by_key.get(b)
        missing = [k for k, e in ((a, entry_a), (b, entry_b)) if e is None]
        if missing or entry_a is None or entry_b is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no entry {', '.join(repr(k) for k in missing)}")
        key: CompareKey = (snap.key, a, b)
        cached = self._results.get(key)
        if cached is not None:
            self._results.move_to_end(key)
            return cached
        state = self._loop_state()
        task = state.running.get(key)
        if task is None:
            if len(state.running) >= self.limits.max_running + self.limits.max_waiting:
                raise self._busy(len(state.running))
            task = state.loop.create_task(self._compute(state, key, snap))
            state.running[key] = task
            task.add_done_callback(lambda done: _forget(state.running, key, done))
        try:
            # shield: a client that gives up does not cancel the work others wait for
            return await asyncio.wait_for(asyncio.shield(task), self.limits.max_wait_s)
        except (TimeoutError, Busy):
            raise self._busy(len(state.running)) from None

    async def _compute(self, state: _LoopState, key: CompareKey, snap: Snapshot) -> CompareResult:
        try:
            await asyncio.wait_for(state.slots.acquire(), self.limits.max_wait_s)
        except TimeoutError:
            raise Busy from None
        try:
            started = time.monotonic()
            entry_a, entry_b = snap.by_key[key[1]], snap.by_key[key[2]]

            def work() -> CompareResult:
                view = compare_entries(entry_a, entry_b, self.store)
                return CompareResult(view, view.model_dump_json().encode())

            result = await anyio.to_thread.run_sync(work, limiter=state.threads)
            self._mean_s = 0.7 * self._mean_s + 0.3 * (time.monotonic() - started)
            self.computed += 1
        finally:
            state.slots.release()
        self._results[key] = result
        while len(self._results) > self.limits.cache_size:
            self._results.popitem(last=False)
        return result

    def _retry_after(self, queued: int) -> int:
        """Seconds until the work queued now is likely done."""
        return max(1, math.ceil(self._mean_s * (queued + 1) / self.limits.max_running))

    def _busy(self, queued: int) -> HTTPException:
        return HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "busy computing other comparisons: retry later",
            headers={"Retry-After": str(self._retry_after(queued))},
        )


Running = dict[CompareKey, "asyncio.Task[CompareResult]"]


def _forget(running: Running, key: CompareKey, done: asyncio.Task[CompareResult]) -> None:
    running.pop(key, None)
    if not done.cancelled():
        done.exception()  # retrieved, so that a refusal nobody awaited any more is not logged as lost
