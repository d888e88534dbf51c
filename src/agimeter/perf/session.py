"""One ``agimeter perf`` sweep end to end: build the workload, run each point and summarise it;
``perf_run_record`` makes the result a run (``summary.kind == "perf"``) to store next to
evaluation runs, once ``cost.serving`` has priced it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agimeter.backends.base import Backend
from agimeter.backends.hardware import detect_hardware
from agimeter.errors import ConfigError
from agimeter.perf.loadgen import PointSpec, Progress, StreamTarget, run_point
from agimeter.perf.metrics import parse_slo, summarize_point
from agimeter.perf.targets import make_target
from agimeter.perf.workload import PerfPrompt, load_tokenizer, synthetic_prompts, task_prompts
from agimeter.records.options import PerfOptions
from agimeter.records.perf import PerfResult, PointSummary
from agimeter.records.run import RunRecord
from agimeter.records.summary import PerfSummary

if TYPE_CHECKING:
    from agimeter.perf.distributed import LoadWorkers


def build_prompts(options: PerfOptions, n: int) -> list[PerfPrompt]:
    if options.prompts_from:
        return task_prompts(options.prompts_from, options.data_dir, n, options.seed)
    encode, vocab = load_tokenizer(options.tokenizer) if options.tokenizer else (None, [])
    return synthetic_prompts(n, options.input_tokens, encode=encode, vocab=vocab, seed=options.seed)


def run_perf(
    options: PerfOptions,
    backend: Backend,
    progress: Callable[[PointSpec], Progress | None] | None = None,
) -> PerfResult:
    """Run every sweep point in order; each point starts with fresh connections. The result is not
    priced yet (``cost.serving.priced_sweep`` does that)."""
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
    return PerfResult(
        options=options,
        slo_s=slo,
        input_lengths_exact=all(p.exact for p in prompts),
        points=points,
        cost=None,
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


def perf_run_record(result: PerfResult, backend: Backend) -> RunRecord:
    """The sweep as a finished run, to store next to evaluation runs."""
    now = datetime.now(UTC).replace(tzinfo=None)
    failed = sum(sum(p.errors.values()) for p in result.points)
    return RunRecord(
        id=uuid.uuid4().hex[:12],
        run_key=uuid.uuid4().hex,
        status="finished",
        created_at=now,
        updated_at=now,
        model=result.options.model,
        model_identity=backend.info.identity,
        tasks=["perf"],
        config=result.options,
        model_info=backend.info,
        summary=PerfSummary(perf=result),
        error=f"{failed} request(s) failed; see errors per point" if failed else None,
    )
