"""One evaluation run end to end: validate tasks, load the model, resume or start the run in the
store, execute every task, and record the measurement with the run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agimeter.analysis.judged import judged_figures
from agimeter.backends.base import Backend
from agimeter.backends.registry import create_backend, split_model_spec
from agimeter.errors import AgimeterError, ConfigError, ModelError, RunInProgressError
from agimeter.runner.execute import ChatMode, Executor, PreparedTask, ProgressSink, use_chat
from agimeter.runner.executors.base import EventSink, WorkerPool
from agimeter.runner.executors.ray_exec import RayWorkerPool, WorkerResources, worker_specs
from agimeter.runner.keys import numerics_of, run_key
from agimeter.runner.meter import Measurement, Meter, judge_measurement
from agimeter.runner.sequential import run_until_ci
from agimeter.scoring.base import ScoringContext
from agimeter.scoring.registry import check_roles, scorer_for
from agimeter.store.lease import Heartbeat, this_process
from agimeter.store.records import Owner, RunRecord
from agimeter.store.repository import Store
from agimeter.tasks.registry import resolve_task
from agimeter.tasks.sampling import population as sample_population
from agimeter.tasks.task import Task, with_protocol_hash


class RunOptions(BaseModel):
    """Everything ``agimeter run`` was asked to do."""

    model_config = ConfigDict(extra="forbid")

    model: str
    tasks: list[str]
    # Directories of lm-eval task YAMLs: their task names resolve in ``tasks``, and includes.
    include_paths: list[str] = Field(default_factory=list)
    data_dir: str | None = None
    limit: int | None = Field(default=None, ge=1)
    sample: int | None = Field(default=None, ge=1)
    # Stop each task once its primary metric's 95% CI half-width is at most this (e.g. 0.02).
    target_ci: float | None = Field(default=None, gt=0, lt=0.5)
    seed: int = 1234
    num_fewshot: int | None = Field(default=None, ge=0)
    batch_size: int | None = Field(default=None, ge=1)
    dtype: str = "auto"
    device: str = "auto"
    chat: ChatMode = "auto"
    profile: str = "laptop-cpu"
    price_per_hour: float = 0.0
    price_is_example: bool = True
    backend_options: dict[str, str] = Field(default_factory=dict)
    api_price: dict[str, Any] | None = None  # a cost.prices.PriceRow, for runs against hosted APIs
    # The judge model of judged tasks (--judge; see ``judge_spec`` for the task's and the config's),
    # its backend options (--judge-arg) and prices (default: the run's price per hour).
    judge: str | None = None
    judge_default: str | None = None  # the config file's ``judge:``
    judge_options: dict[str, str] = Field(default_factory=dict)
    judge_price_per_hour: float | None = Field(default=None, ge=0)
    judge_api_price: dict[str, Any] | None = None
    # Scale-out on Ray (``runner.executors``): workers (None: in process, unless the model names
    # several endpoints), an existing cluster's address, and each worker's resources.
    workers: int | None = Field(default=None, ge=1)
    ray_address: str | None = None
    worker_resources: dict[str, Any] | None = None


def prepare_tasks(options: RunOptions) -> list[PreparedTask]:
    """Resolve and render every task before any model is loaded, so bad input fails fast."""
    data_dir = Path(options.data_dir) if options.data_dir else None
    prepared = []
    for name in options.tasks:
        spec = resolve_task(name, options.include_paths)
        task = Task(spec, data_dir, num_fewshot=options.num_fewshot)
        population = None
        if options.target_ci is not None:
            if options.limit is not None:
                raise ConfigError("--target-ci draws a stratified random order; use it with --sample, not --limit")
            order = task.sample_order(options.seed)[: options.sample]
            by_id = {item.doc_id: item for item in task.items(sample=options.sample, seed=options.seed)}
            items = [by_id[i] for i in order]
            population = sample_population(task.strata())
        else:
            items = task.items(limit=options.limit, sample=options.sample, seed=options.seed)
            if options.sample is not None and options.sample < len(task):
                population = sample_population(task.strata())
        prepared.append(
            PreparedTask(spec=spec, items=items, protocol=task.protocol(), population=population, size=len(task))
        )
    return prepared


GRADER = "grader"


def judged_tasks(prepared: list[PreparedTask]) -> tuple[list[str], list[str]]:
    """Tasks whose scorer needs a judge, and those that use one when it is given (XSTest)."""
    needs = [p.spec.name for p in prepared if GRADER in scorer_for(p.spec).roles]
    may = [p.spec.name for p in prepared if GRADER in scorer_for(p.spec).optional_roles]
    return needs, may


def judge_spec(options: RunOptions, prepared: list[PreparedTask]) -> str | None:
    """The run's judge: --judge, else the one the judged tasks' YAML names (scoring.judge.model),
    else the config file's ``judge:``; None when no task uses one. Checked before any model loads:
    a task that needs a judge without one, or tasks naming different judges, are one-line errors."""
    needs, may = judged_tasks(prepared)
    if not needs and not may:
        return None
    named = {
        p.spec.scoring.judge.model: p.spec.name
        for p in prepared
        if p.spec.scoring.judge is not None and p.spec.scoring.judge.model
    }
    if options.judge is None and len(named) > 1:
        listed = ", ".join(f"{task}: {model}" for model, task in named.items())
        raise ConfigError(f"tasks name different judge models ({listed}); choose one with --judge")
    chosen = options.judge or next(iter(named), None) or options.judge_default
    if chosen is None and needs:
        raise ConfigError(
            f"{', '.join(needs)}: scored by an LLM judge, and no judge model is given: pass --judge MODEL_SPEC "
            "(as --model: openai:MODEL@URL, hf:..., gguf:...), or set judge: in the config file"
        )
    if chosen is not None:
        split_model_spec(chosen)  # a bad prefix fails now, before any model is loaded
    return chosen


def load_judge(options: RunOptions, spec: str) -> tuple[Backend, float]:
    """Load the judge model (its own backend options); a judge that does not load is one line."""
    start = time.perf_counter()
    judge_kwargs: dict[str, object] = {"dtype": "auto", "device": options.device, **options.judge_options}
    try:
        backend = create_backend(spec, **judge_kwargs)
    except AgimeterError as err:
        raise type(err)(f"judge {spec}: {err}") from None
    return backend, time.perf_counter() - start


def load_backend(options: RunOptions, on_event: EventSink | None = None) -> tuple[Backend, float]:
    """The run's backend: loaded here, or a pool of Ray workers each loading it (``--workers``,
    ``--ray-address``, or ``openai:MODEL@URL1,URL2``); ``on_event`` hears of workers' failures."""
    split_model_spec(options.model)  # validate the prefix before paying for imports
    start = time.perf_counter()
    backend_kwargs: dict[str, object] = {"dtype": options.dtype, "device": options.device}
    if options.batch_size is not None:
        backend_kwargs["batch_size"] = options.batch_size
    backend_kwargs.update(options.backend_options)
    specs = worker_specs(options.model, options.workers)
    backend: Backend
    if options.workers is not None or options.ray_address is not None or len(specs) > 1:
        resources = WorkerResources.model_validate(options.worker_resources or {})
        backend = RayWorkerPool(
            specs,
            backend_kwargs,
            resources=resources,
            address=options.ray_address,
            price_per_hour=options.price_per_hour,
            on_event=on_event,
        )
    else:
        backend = create_backend(options.model, **backend_kwargs)
    return backend, time.perf_counter() - start


def check_capabilities(
    backend: Backend, prepared: list[PreparedTask], models: Mapping[str, Backend] | None = None
) -> None:
    """Fail before anything is stored when the backend cannot serve some of the tasks, or a task's
    scorer needs a model (a role in ``models``) that was not given."""
    context = ScoringContext(models=dict(models or {}))
    for p in prepared:
        check_roles(p.spec, scorer_for(p.spec), context)
    needs_loglik = [p.spec.name for p in prepared if p.spec.output_type == "multiple_choice"]
    check = getattr(backend, "check_loglikelihood", None)
    if needs_loglik and callable(check):
        try:
            check()
        except ModelError as err:
            raise ModelError(
                f"{backend.info.backend}:{backend.info.name} cannot score log-likelihood ({err}); "
                f"tasks that need it: {', '.join(needs_loglik)}"
            ) from None


def _run_key(options: RunOptions, backend: Backend, prepared: list[PreparedTask], models: Mapping[str, Backend]) -> str:
    payload: dict[str, Any] = {
        "model": backend.info.identity,
        "dtype": backend.info.dtype,
        "device": backend.info.device,
        "chat": options.chat,
        "tasks": [(p.spec.name, p.spec.version, [i.doc_id for i in p.items]) for p in prepared],
        "target_ci": options.target_ci,
        "protocols": [p.protocol for p in prepared],
    }
    if GRADER in models:  # a run with another judge is another run (keys of runs without one unchanged)
        payload["judge"] = models[GRADER].info.identity
    return run_key(payload)


def applied_protocol(protocol: dict[str, Any], chat: bool) -> dict[str, Any]:
    """The task's protocol as run: ``prompt.chat`` is whether the chat template was applied (the
    task's own choice stays in ``standard.chat``), and the hash covers it."""
    prompt = protocol.get("prompt")
    if not isinstance(prompt, dict) or prompt.get("chat") == chat:
        return protocol
    return with_protocol_hash({**protocol, "prompt": {**prompt, "chat": chat}})


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def execute_run(
    options: RunOptions,
    store: Store,
    prepared: list[PreparedTask],
    backend: Backend,
    load_s: float,
    progress: ProgressSink | None = None,
    *,
    owner: Owner | None = None,
    models: Mapping[str, Backend] | None = None,
    judge_load_s: float = 0.0,
) -> RunRecord:
    """Run (or resume) and return the finished run record. ``owner`` (this process by default)
    holds the run's lease while it runs; a run that a live process holds is refused. ``models``:
    the scorers' own models by role (e.g. ``"grader"``, loaded in ``judge_load_s``)."""
    check_capabilities(backend, prepared, models)
    models = dict(models or {})
    key = _run_key(options, backend, prepared, models)
    owner = owner or this_process()
    meter = Meter(load_s)
    previous = store.find_resumable_run(key)
    if previous is not None:
        run_id = previous.id
        session = store.claim_run(run_id, owner, load_s)
        earlier = [s for s in store.run_sessions(run_id) if s.number < session.number]
        legacy = previous.summary.get("measurement") if not earlier else None
        meter.carry(earlier, Measurement.model_validate(legacy) if legacy else None)
    else:
        run_id = uuid.uuid4().hex[:12]
        now = _now()
        run = RunRecord(
            id=run_id,
            run_key=key,
            status="running",
            created_at=now,
            updated_at=now,
            model=options.model,
            model_identity=backend.info.identity,
            tasks=[p.spec.name for p in prepared],
            config=options.model_dump(mode="json"),
            model_info=backend.info.model_dump(mode="json"),
            summary={},
        )
        session = store.start_run(run, owner, load_s)
    meter.session_id = session.id
    # Workers of the run's earlier sessions (a resumed distributed run keeps their meters).
    stored_workers = (previous.summary.get("workers") or []) if previous is not None else []
    earlier_workers = [w for w in stored_workers if (w.get("session") or 0) < session.number]
    numerics = numerics_of(backend.info)
    executor = Executor(
        backend, store, meter, numerics=numerics, chat_mode=options.chat, progress=progress, models=models
    )

    sequential: dict[str, Any] = {}
    # Whether each task's prompts went through the chat template (``--chat`` and the model decide,
    # not the task's default alone): the stored protocol says what was done.
    chat = {
        p.spec.name: executor.render(p.spec, p.items[0]) != p.items[0].context
        if p.items
        else use_chat(p.spec, backend, options.chat)
        for p in prepared
    }
    protocols = {p.spec.name: applied_protocol(p.protocol, chat[p.spec.name]) for p in prepared}

    def checkpoint(status: Any, error: str | None = None, *, final: bool = True) -> None:
        totals = store.run_totals(run_id)
        summary: dict[str, Any] = {
            "measurement": meter.measurement(totals).model_dump(mode="json"),
            "protocols": protocols,
            "chat_template": {p.spec.name: chat[p.spec.name] for p in prepared if p.items},
            "task_sizes": {p.spec.name: p.size for p in prepared if p.size is not None},
        }
        populations = {p.spec.name: p.population for p in prepared if p.population}
        if populations:
            summary["populations"] = populations
        if sequential:
            summary["sequential"] = sequential
        if GRADER in models:
            judge = models[GRADER]
            spec = options.judge or f"{judge.info.backend}:{judge.info.name}"
            summary["judge"] = judge_measurement(spec, judge.info, judge_load_s, totals).model_dump(mode="json")
            # The judged tasks' figures, for readers of run summaries (reports, the server).
            summary["judged"] = [f.model_dump(mode="json") for f in judged_figures(store.run_items(run_id))]
        if isinstance(backend, WorkerPool):
            summary["workers"] = [
                *earlier_workers,
                *(
                    w.model_copy(update={"session": session.number}).model_dump(mode="json")
                    for w in backend.worker_meters()
                ),
            ]
        store.update_run(run_id, status=status, summary=summary, error=error, tick=meter.tick(final=final))

    with Heartbeat(lambda: store.heartbeat(session.id)):
        try:
            for task in prepared:
                meter.start()
                try:
                    if options.target_ci is None:
                        executor.run_task(run_id, task)
                    else:
                        result = run_until_ci(executor, store, run_id, task, options.target_ci)
                        sequential[task.spec.name] = result.model_dump(mode="json")
                finally:
                    meter.stop()
                checkpoint("running", final=False)
        except RunInProgressError:  # another process holds the run now: leave everything to it
            raise
        except KeyboardInterrupt:
            checkpoint("interrupted", "interrupted by the user")
            raise
        except Exception as err:
            checkpoint("failed", f"{type(err).__name__}: {err}")
            raise
        if meter.failed_items:
            errors = ", ".join(f"{kind} {count}" for kind, count in sorted(meter.errors.items()))
            checkpoint(
                "incomplete",
                f"{meter.failed_items} item(s) failed ({errors}); re-run the same command to retry them",
            )
        else:
            checkpoint("finished")
    return store.get_run(run_id)
