"""One ``agimeter perf`` sweep end to end: build the workload, run each point, summarise, price,
and store the result as a run (``summary.kind == "perf"``) next to evaluation runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agimeter.backends.base import Backend
from agimeter.backends.stream import StreamTrace
from agimeter.cost.serving import ServingCost, serving_cost
from agimeter.errors import ConfigError
from agimeter.perf.loadgen import HTTPTarget, LocalTarget, PointSpec, Progress, StreamTarget, run_point
from agimeter.perf.metrics import PointSummary, parse_slo, summarize_point
from agimeter.perf.workload import PerfPrompt, load_tokenizer, synthetic_prompts, task_prompts
from agimeter.runner.hardware import HardwareInfo, detect_hardware
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store

if TYPE_CHECKING:
    from agimeter.perf.distributed import LoadWorkers

PERF_SCHEMA_VERSION = 2  # 2: per-point latency quantiles for CDF plots (v1 rows load without them)


class PerfOptions(BaseModel):
    """Everything ``agimeter perf`` was asked to do."""

    model_config = ConfigDict(extra="forbid")

    model: str
    mode: Literal["concurrency", "rate"] = "concurrency"
    levels: list[float] = Field(default_factory=lambda: [1.0])
    requests: int | None = Field(default=None, ge=1)
    duration_s: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    input_tokens: int = Field(default=128, ge=1)
    output_tokens: int = Field(default=64, ge=1)
    warmup: int = Field(default=1, ge=0)  # unmeasured requests before each sweep point
    prompts_from: str | None = None
    data_dir: str | None = None
    tokenizer: str | None = None
    ignore_eos: bool = True
    slo: str | None = None
    seed: int = 0
    profile: str = "laptop-cpu"
    price_per_hour: float = 0.0
    price_is_example: bool = True
    backend_options: dict[str, str] = Field(default_factory=dict)
    # Load generation from N Ray workers (``perf.distributed``), on a cluster at this address.
    workers: int | None = Field(default=None, ge=1)
    ray_address: str | None = None


class PerfResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = PERF_SCHEMA_VERSION
    options: PerfOptions
    slo_s: dict[str, float]
    input_lengths_exact: bool
    points: list[PointSummary]
    cost: ServingCost | None
    client_hardware: HardwareInfo


def build_prompts(options: PerfOptions, n: int) -> list[PerfPrompt]:
    if options.prompts_from:
        return task_prompts(options.prompts_from, options.data_dir, n, options.seed)
    encode, vocab = load_tokenizer(options.tokenizer) if options.tokenizer else (None, [])
    return synthetic_prompts(n, options.input_tokens, encode=encode, vocab=vocab, seed=options.seed)


def make_target(backend: Backend, options: PerfOptions) -> StreamTarget:
    """The streaming target for a backend: an HTTP server (openai:) or an in-process backend that
    generates token by token (gguf:)."""
    from agimeter.backends.openai_compat import OpenAIBackend

    if isinstance(backend, OpenAIBackend):

        def build(prompt: str, max_tokens: int) -> tuple[str, dict[str, Any]]:
            return backend.stream_payload(prompt, max_tokens, ignore_eos=options.ignore_eos)

        return HTTPTarget(backend.endpoint, build)
    stream_trace = getattr(backend, "stream_trace", None)
    if callable(stream_trace):

        def generate(prompt: str, max_tokens: int) -> StreamTrace:
            trace: StreamTrace = stream_trace(prompt, max_tokens, ignore_eos=options.ignore_eos)
            return trace

        return LocalTarget(generate)
    raise ConfigError(
        f"agimeter perf needs a backend that streams (openai:, gguf:), not {backend.info.backend}:; "
        "serve the model with vLLM or llama.cpp and point openai: at it"
    )


def run_perf(
    options: PerfOptions,
    backend: Backend,
    progress: Callable[[PointSpec], Progress | None] | None = None,
) -> PerfResult:
    """Run every sweep point in order; each point starts with fresh connections."""
    if options.requests is None and options.duration_s is None:
        raise ConfigError("give --requests and/or --duration so that the run ends by itself")
    slo = parse_slo(options.slo)
    n_prompts = min(options.requests or 10_000, 10_000)
    prompts = build_prompts(options, n_prompts)
    points: list[PointSummary] = []
    workers = _load_workers(options) if options.workers else None
    for level in options.levels:
        spec = PointSpec(
            mode=options.mode,
            level=level,
            requests=options.requests,
            duration_s=options.duration_s,
            max_tokens=options.output_tokens,
            seed=options.seed,
            max_concurrency=options.max_concurrency,
        )
        if workers is not None:
            try:
                run, overheads = workers.run_point(prompts, spec, options.warmup)
            except BaseException:
                workers.close()
                raise
            points.append(summarize_point(run, slo).model_copy(update={"workers": overheads}))
            continue
        target = make_target(backend, options)
        run = asyncio.run(_run_one(target, prompts, spec, options.warmup, progress(spec) if progress else None))
        points.append(summarize_point(run, slo))
    if workers is not None:
        workers.close()
    cost = serving_cost(points, options.price_per_hour, example=options.price_is_example, with_slo=bool(slo))
    return PerfResult(
        options=options,
        slo_s=slo,
        input_lengths_exact=all(p.exact for p in prompts),
        points=points,
        cost=cost,
        client_hardware=detect_hardware(),
    )


def _load_workers(options: PerfOptions) -> LoadWorkers:
    from agimeter.perf.distributed import LoadWorkers

    build = options.model_dump(mode="json")
    backend_options = dict[str, object](options.backend_options)
    return LoadWorkers(options.model, backend_options, build, options.workers or 1, address=options.ray_address)


async def _run_one(
    target: StreamTarget, prompts: list[PerfPrompt], spec: PointSpec, warmup: int, progress: Progress | None
) -> Any:
    async with target:
        # Warm-up: lazy allocations, connection set-up and first-call compilation are paid here,
        # outside the measurement, as in guidellm and vLLM's benchmark_serving.
        for i in range(warmup):
            await target.stream(prompts[-1 - i % len(prompts)].text, spec.max_tokens)
        return await run_point(target, prompts, spec, progress)


def store_perf(store: Store, result: PerfResult, backend: Backend) -> RunRecord:
    now = datetime.now(UTC).replace(tzinfo=None)
    failed = sum(sum(p.errors.values()) for p in result.points)
    record = RunRecord(
        id=uuid.uuid4().hex[:12],
        run_key=uuid.uuid4().hex,
        status="finished",
        created_at=now,
        updated_at=now,
        model=result.options.model,
        model_identity=backend.info.identity,
        tasks=["perf"],
        config=result.options.model_dump(mode="json"),
        model_info=backend.info.model_dump(mode="json"),
        summary={"kind": "perf", "perf": result.model_dump(mode="json")},
        error=f"{failed} request(s) failed; see errors per point" if failed else None,
    )
    store.create_run(record)
    return record
