"""Scale-out on Ray: a ``Backend`` whose requests run on Ray actors, one loaded model per actor.

The driver plans (cache lookups, sampling, few-shot: ``runner.execute``) and hands this pool the
requests of a task; the pool cuts them into work units (``plan_units``), keeps one unit in flight
per worker, and hands each result back through ``on_result`` as its unit returns, so the driver,
the only writer to the store, commits items as they arrive.

Faults: actors restart after their process dies (Ray's ``max_restarts``: killed, OOM); the unit
that was running on a dead worker is re-queued, and since a unit's results come back only as a
whole, nothing of it was delivered before: nothing is lost or stored twice. A unit that was running
when ``max_attempts`` workers died is split into single requests, and a request that then kills its
worker again is reported and skipped (a ``worker_lost`` failure: the run ends incomplete and a re-run
retries it). Ctrl-C leaves ``dispatch`` at once; ``close`` kills the actors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agimeter.backends.base import (
    GenCallback,
    GenRequest,
    GenResult,
    LoglikCallback,
    LoglikRequest,
    LoglikResult,
    ModelInfo,
    RequestError,
    Timing,
    Usage,
)
from agimeter.backends.registry import split_model_spec
from agimeter.errors import ConfigError, ModelError
from agimeter.runner.executors.base import (
    EventSink,
    Kind,
    Request,
    Result,
    WorkerMeter,
    WorkUnit,
    plan_units,
    unit_size_for,
)
from agimeter.runner.executors.local import UnitUsage, UnitWorker, WorkerFacts

MAX_ATTEMPTS = 3
MAX_RESTARTS = 16  # per worker; beyond this a worker is gone for good
REJOIN_TRIES = 10  # "died" answers to a restarting worker before it is given up


class WorkerResources(BaseModel):
    """``--worker-resources``: what each worker actor reserves on the cluster (Ray's actor options)."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    memory: int | None = Field(default=None, ge=0)  # bytes
    resources: dict[str, float] = Field(default_factory=dict)  # custom resources, e.g. {"node:host1": 0.01}


def parse_worker_resources(text: str | None) -> WorkerResources:
    if not text:
        return WorkerResources()
    try:
        return WorkerResources.model_validate_json(text)
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "value"
        raise ConfigError(f"--worker-resources {where}: {problem['msg']}") from None


def worker_specs(model: str, workers: int | None) -> list[str]:
    """One model spec per worker: ``openai:MODEL@URL1,URL2`` gives one worker per endpoint (and
    ``--workers`` must then be their number or absent); any other spec is loaded by every worker."""
    prefix, rest = split_model_spec(model)
    name, at, urls = rest.partition("@")
    if prefix == "openai" and at and "," in urls:
        endpoints = [u.strip() for u in urls.split(",") if u.strip()]
        if workers is not None and workers != len(endpoints):
            raise ConfigError(f"--workers {workers}: {model} names {len(endpoints)} endpoints, one worker each")
        return [f"openai:{name}@{u}" for u in endpoints]
    return [model] * (workers or 1)


def ensure_ray(address: str | None, cpus: float, on_event: EventSink) -> bool:
    """Connect to the cluster at ``address``, or start a local one with at least ``cpus`` CPU slots
    (said plainly when that is more than the machine has: workers then share cores, and their
    meters show it). Nothing when Ray is running already; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        cores = os.cpu_count() or 1
        kwargs["num_cpus"] = max(cores, math.ceil(cpus))
        if cpus > cores:
            on_event(f"note: workers need {cpus:g} CPUs on a {cores}-core machine: they share cores")
    else:
        kwargs["address"] = address
    ray.init(**kwargs)
    return True


class _Actor:
    """The worker process: loads its model on first use (again after a restart) and runs units."""

    def __init__(self, model: str, options: dict[str, object]) -> None:
        self.model, self.options = model, options
        self._worker: UnitWorker | None = None

    def _loaded(self) -> UnitWorker:
        if self._worker is None:
            self._worker = UnitWorker.load(self.model, self.options)
        return self._worker

    def facts(self) -> WorkerFacts:
        return self._loaded().facts

    def info(self) -> ModelInfo:
        return self._loaded().backend.info

    def chat(self, messages: list[dict[str, str]]) -> str | None:
        return self._loaded().backend.apply_chat_template(messages)

    def check_loglikelihood(self) -> None:
        check = getattr(self._loaded().backend, "check_loglikelihood", None)
        if callable(check):
            check()

    def run(self, unit: WorkUnit) -> tuple[list[Result], UnitUsage]:
        return self._loaded().run(unit)


@dataclass
class _Slot:
    """The driver's view of one worker: its actor, its meter, its state."""

    index: int
    model: str
    actor: Any
    started: float
    meter: WorkerMeter
    alive: bool = True
    gone: bool = False  # died for good (restarts exhausted), not released at the end
    asked: int = 0  # failed questions to it since its last death
    ended: float | None = None
    history: list[str] = field(default_factory=list)

    def held_s(self) -> float:
        return (self.ended if self.ended is not None else time.perf_counter()) - self.started


def _skipped(kind: Kind, message: str) -> Result:
    error = RequestError(kind="worker_lost", message=message)
    if kind == "loglik":
        return LoglikResult(logprob=0.0, is_greedy=False, num_tokens=0, usage=Usage(), timing=Timing(), error=error)
    return GenResult(text="", usage=Usage(), timing=Timing(), error=error)


def _pool_info(infos: Sequence[ModelInfo], specs: Sequence[str]) -> ModelInfo:
    """The pool's model: the workers' one model, or (endpoints of one model with different
    identities) a model whose identity covers them all, so cache keys name every endpoint."""
    first = infos[0]
    identities = sorted({i.identity for i in infos})
    extra = {**first.extra, "workers": str(len(infos))}
    if len(identities) == 1:
        return first.model_copy(update={"extra": extra})
    combined = hashlib.sha256(json.dumps(identities).encode()).hexdigest()
    return first.model_copy(update={"identity": combined, "extra": {**extra, "endpoints": ",".join(specs)}})


class RayWorkerPool:
    """A ``Backend`` (and a ``WorkerPool``) computing on Ray actors."""

    def __init__(
        self,
        specs: Sequence[str],
        options: dict[str, object],
        *,
        resources: WorkerResources | None = None,
        address: str | None = None,
        price_per_hour: float = 0.0,
        max_attempts: int = MAX_ATTEMPTS,
        session: int | None = None,
        on_event: EventSink | None = None,
        load_timeout_s: float = 900.0,
    ) -> None:
        import ray

        for spec in specs:
            split_model_spec(spec)  # a bad prefix fails here, before a cluster starts
        resources = resources or WorkerResources()
        self.max_attempts = max_attempts
        self.session = session
        self.on_event: EventSink = on_event or (lambda message: None)
        self._started_ray = ensure_ray(address, len(specs) * resources.num_cpus, self.on_event)
        remote = ray.remote(_Actor).options(
            num_cpus=resources.num_cpus,
            num_gpus=resources.num_gpus,
            memory=resources.memory,
            resources=resources.resources or None,
            max_restarts=MAX_RESTARTS,
            max_task_retries=0,  # a unit is re-queued by the pool, which counts its attempts
        )
        now = time.perf_counter()
        self.slots = [
            _Slot(
                i,
                spec,
                remote.remote(spec, options),
                now,
                WorkerMeter(worker=i, model=spec, price_per_hour=price_per_hour),
            )
            for i, spec in enumerate(specs)
        ]
        try:
            facts = self._get([s.actor.facts.remote() for s in self.slots], load_timeout_s)
            infos = self._get([s.actor.info.remote() for s in self.slots], load_timeout_s)
        except BaseException:
            self.close()
            raise
        for slot, fact in zip(self.slots, cast(list[WorkerFacts], facts), strict=True):
            slot.meter = slot.meter.model_copy(
                update={"host": fact.host, "pid": fact.pid, "load_s": fact.load_s, "hardware": fact.hardware}
            )
        self.info = _pool_info(cast(list[ModelInfo], infos), specs)
        self._chat: dict[str, str | None] = {}
        self._rejoining: dict[Any, _Slot] = {}

    @staticmethod
    def _get(refs: list[Any], timeout: float) -> list[object]:
        """``ray.get`` that raises a task's own exception (an ``AgimeterError`` stays one line)."""
        import ray
        from ray.exceptions import RayTaskError

        try:
            return cast(list[object], ray.get(refs, timeout=timeout))
        except RayTaskError as err:
            cause = err.cause
            if isinstance(cause, BaseException):
                raise cause from None
            raise ModelError(f"a worker failed: {str(err).splitlines()[0]}") from None
        except ray.exceptions.GetTimeoutError:
            raise ModelError(f"workers did not load their model within {timeout:.0f} s") from None
        except ray.exceptions.RayActorError as err:
            raise ModelError(f"a worker died while loading its model: {str(err).splitlines()[0]}") from None

    # The Backend protocol -------------------------------------------------------------------------
    def loglikelihood(
        self, requests: Sequence[LoglikRequest], on_result: LoglikCallback | None = None
    ) -> list[LoglikResult]:
        got = self.dispatch("loglik", requests, cast(Callable[[int, Result], None] | None, on_result))
        return cast(list[LoglikResult], got)

    def generate(self, requests: Sequence[GenRequest], on_result: GenCallback | None = None) -> list[GenResult]:
        got = self.dispatch("generate", requests, cast(Callable[[int, Result], None] | None, on_result))
        return cast(list[GenResult], got)

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        key = json.dumps(list(messages))
        if key not in self._chat:
            slot = next(s for s in self.slots if s.alive)
            self._chat[key] = cast(str | None, self._get([slot.actor.chat.remote(list(messages))], 120.0)[0])
        return self._chat[key]

    def check_loglikelihood(self) -> None:
        slot = next(s for s in self.slots if s.alive)
        self._get([slot.actor.check_loglikelihood.remote()], 300.0)

    def close(self) -> None:
        import ray

        for slot in self.slots:
            if slot.ended is None:
                slot.ended = time.perf_counter()
            if slot.alive:
                with contextlib.suppress(Exception):  # already gone with its cluster
                    ray.kill(slot.actor)
                slot.alive = False
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    # The WorkerPool protocol ----------------------------------------------------------------------
    def worker_meters(self) -> list[WorkerMeter]:
        return [s.meter.model_copy(update={"held_s": s.held_s(), "dead": s.gone}) for s in self.slots]

    def pids(self) -> dict[int, int | None]:
        """Each live worker's process id (the fault tests kill them)."""
        return {s.index: s.meter.pid for s in self.slots if s.alive}

    # Dispatch -------------------------------------------------------------------------------------
    def dispatch(
        self, kind: Kind, requests: Sequence[Request], on_result: Callable[[int, Result], None] | None = None
    ) -> list[Result]:
        """Compute ``requests`` on the workers; ``on_result(index, result)`` as each unit returns."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        results: list[Result | None] = [None] * len(requests)
        alive = [s for s in self.slots if s.alive]
        if not requests:
            return []
        if not alive:
            raise ModelError("every worker has died; nothing can run")
        queue = deque(plan_units(kind, requests, unit_size_for(len(requests), len(alive))))
        rejoining = self._rejoining  # restarted workers not yet back: they get work once they answer
        idle = deque(s.index for s in alive if s.index not in {r.index for r in rejoining.values()})
        busy: dict[Any, tuple[_Slot, WorkUnit]] = {}

        def deliver(unit: WorkUnit, got: Sequence[Result]) -> None:
            for index, result in zip(unit.indices, got, strict=True):
                if results[index] is not None:
                    continue  # never twice (a unit is delivered whole, once: this is a guard)
                results[index] = result
                if on_result is not None:
                    on_result(index, result)

        try:
            while queue or busy:
                while idle and queue:
                    slot = self.slots[idle.popleft()]
                    unit = queue.popleft()
                    busy[slot.actor.run.remote(unit)] = (slot, unit)
                if not busy and not rejoining:
                    raise ModelError(f"every worker has died; {len(queue)} unit(s) of work left undone")
                ready, _ = ray.wait([*busy, *rejoining], num_returns=1, timeout=1.0)
                for ref in ready:
                    if ref in rejoining:
                        slot = rejoining.pop(ref)
                        if (ask := self._rejoin(slot, ref, idle)) is not None:
                            rejoining[ask] = slot  # still restarting: ask again
                        continue
                    slot, unit = busy.pop(ref)
                    try:
                        got, usage = cast(tuple[list[Result], UnitUsage], ray.get(ref))
                    except RayActorError as err:
                        again = self._lost(slot, unit, err)
                        queue.extendleft(reversed(again))
                        if not again:
                            deliver(unit, [_skipped(kind, unit.history[-1]) for _ in unit.requests])
                        rejoining[slot.actor.facts.remote()] = slot
                        continue
                    except RayTaskError as err:
                        cause = err.cause
                        raise (cause if isinstance(cause, BaseException) else err) from None
                    self._count(slot, usage)
                    deliver(unit, got)
                    idle.append(slot.index)
        except BaseException:
            for ref in busy:  # Ctrl-C or an error: stop the units in flight
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            raise
        return [r for r in results if r is not None]

    def _count(self, slot: _Slot, usage: UnitUsage) -> None:
        m = slot.meter
        cuda = usage.cuda_max_allocated_bytes
        slot.meter = m.model_copy(
            update={
                "pid": usage.pid,
                "busy_s": m.busy_s + usage.busy_s,
                "units": m.units + 1,
                "requests": m.requests + usage.requests,
                "prompt_tokens": m.prompt_tokens + usage.prompt_tokens,
                "computed_prompt_tokens": m.computed_prompt_tokens + usage.computed_prompt_tokens,
                "completion_tokens": m.completion_tokens + usage.completion_tokens,
                "prefill_s": m.prefill_s + usage.prefill_s,
                "decode_s": m.decode_s + usage.decode_s,
                "peak_rss_bytes": max(m.peak_rss_bytes, usage.peak_rss_bytes),
                "cuda_max_allocated_bytes": max(m.cuda_max_allocated_bytes or 0, cuda) if cuda is not None else None,
            }
        )

    def _lost(self, slot: _Slot, unit: WorkUnit, err: Exception) -> list[WorkUnit]:
        """The worker running ``unit`` died: the units to run again in its place (the unit itself,
        or after ``max_attempts`` deaths its requests one at a time); none when it is skipped."""
        slot.meter = slot.meter.model_copy(update={"restarts": slot.meter.restarts + 1})
        unit.attempts += 1
        what = f"worker {slot.index} (pid {slot.meter.pid}) died running {len(unit.requests)} request(s)"
        again: list[WorkUnit]
        if unit.attempts < self.max_attempts:
            unit.history.append(f"{what}: re-queued (attempt {unit.attempts + 1} of {self.max_attempts})")
            again = [unit]
        elif len(unit.requests) > 1:
            unit.history.append(f"{what} {unit.attempts} times: re-queued one request at a time")
            pairs = zip(unit.indices, unit.requests, strict=True)
            again = [WorkUnit(unit.id, unit.kind, (i,), (r,), self.max_attempts - 1) for i, r in pairs]
        else:
            unit.history.append(f"{what}: it killed {unit.attempts} workers, skipped (worker_lost)")
            again = []
        self.on_event(f"{unit.history[-1]} [{type(err).__name__}]")
        return again

    def _rejoin(self, slot: _Slot, ref: Any, idle: deque[int]) -> Any | None:
        """A restarted worker answered (its model loaded again): back to work; or it is still
        restarting (Ray's ``ActorUnavailableError``): a new question to wait on; or it is gone for
        good (restarts exhausted, ``ActorDiedError``)."""
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError

        try:
            fact = cast(WorkerFacts, ray.get(ref))
        except RayActorError as err:
            # A question asked just after the death can fail while Ray restarts the actor (as
            # unavailable, or even as died): ask again a few times before giving the worker up.
            slot.asked += 1
            if isinstance(err, ActorUnavailableError) or slot.asked < REJOIN_TRIES:
                time.sleep(0.2)  # Ray answers at once while the actor restarts: do not spin
                return slot.actor.facts.remote()
            slot.alive, slot.gone, slot.ended = False, True, time.perf_counter()
            self.on_event(f"worker {slot.index} is gone for good: {str(err).splitlines()[0]}")
            return None
        except RayTaskError as err:
            slot.alive, slot.gone, slot.ended = False, True, time.perf_counter()
            self.on_event(f"worker {slot.index} is gone for good: {str(err).splitlines()[0]}")
            return None
        slot.asked = 0
        slot.meter = slot.meter.model_copy(update={"pid": fact.pid, "host": fact.host})
        self.on_event(f"worker {slot.index} restarted (pid {fact.pid}, model loaded in {fact.load_s:.1f} s)")
        idle.append(slot.index)
        return None
