"""One worker's side of the seam: a loaded backend that computes work units and meters each one.

A Ray actor holds one of these (``ray_exec``); in process it is the same code on one backend.
Each unit comes back with what it consumed (``UnitUsage``), not running totals, so that a worker
process that dies and restarts (its counters gone with it) still sums correctly on the driver."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import cast

from agimeter.backends.base import Backend, GenRequest, LoglikRequest
from agimeter.backends.registry import create_backend
from agimeter.runner.executors.base import Result, WorkUnit
from agimeter.runner.hardware import HardwareInfo, cuda_max_allocated_bytes, detect_hardware, peak_rss_bytes


@dataclass(frozen=True)
class UnitUsage:
    """What one unit consumed on its worker, and the worker process's memory peak after it."""

    pid: int
    busy_s: float
    requests: int
    prompt_tokens: int
    computed_prompt_tokens: int
    completion_tokens: int
    prefill_s: float
    decode_s: float
    peak_rss_bytes: int
    cuda_max_allocated_bytes: int | None


@dataclass(frozen=True)
class WorkerFacts:
    """A worker process as it started: where, on what, and how long its model took to load."""

    pid: int
    host: str
    load_s: float
    hardware: HardwareInfo


class UnitWorker:
    """Computes work units on one backend."""

    def __init__(self, backend: Backend, load_s: float = 0.0) -> None:
        self.backend = backend
        self.facts = WorkerFacts(os.getpid(), socket.gethostname(), load_s, detect_hardware())

    @classmethod
    def load(cls, model: str, options: dict[str, object]) -> UnitWorker:
        start = time.perf_counter()
        backend = create_backend(model, **options)
        return cls(backend, time.perf_counter() - start)

    def run(self, unit: WorkUnit) -> tuple[list[Result], UnitUsage]:
        start = time.perf_counter()
        results: list[Result]
        if unit.kind == "loglik":
            results = list(self.backend.loglikelihood(cast(tuple[LoglikRequest, ...], unit.requests)))
        else:
            results = list(self.backend.generate(cast(tuple[GenRequest, ...], unit.requests)))
        busy = time.perf_counter() - start
        ok = [r for r in results if r.error is None]  # a failed request consumed nothing counted
        usage = UnitUsage(
            pid=os.getpid(),
            busy_s=busy,
            requests=len(results),
            prompt_tokens=sum(r.usage.prompt_tokens for r in ok),
            computed_prompt_tokens=sum(
                r.usage.computed_prompt_tokens if r.usage.computed_prompt_tokens is not None else r.usage.prompt_tokens
                for r in ok
            ),
            completion_tokens=sum(r.usage.completion_tokens for r in ok),
            prefill_s=sum(r.timing.prefill_s for r in ok),
            decode_s=sum(r.timing.decode_s for r in ok),
            peak_rss_bytes=peak_rss_bytes(),
            cuda_max_allocated_bytes=cuda_max_allocated_bytes(),
        )
        return results, usage
