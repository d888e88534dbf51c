"""Views of one stored run: its typed summary, its task scores, its cost block and what it cost.

A run's ``summary``, ``config`` and ``model_info`` are stored as JSON; ``check_run`` validates
them against the records the readers use (``Measurement``, ``PerfResult``, task protocols,
populations, sequential results) before anything reads them, so an old or malformed row fails
with one line naming the run and the field (``BadRunError``) instead of crashing a reader, and
callers can leave that run out. No number anywhere in a summary may be NaN or infinite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError, model_validator

from agimeter.analysis.judged import JudgedFigures
from agimeter.analysis.summary import TaskScore, summarize
from agimeter.backends.base import ModelInfo
from agimeter.config import HardwareProfile
from agimeter.cost.judge import JudgeCost, price_judge
from agimeter.cost.prices import PriceRow
from agimeter.cost.pricing import CostBlock, price_run
from agimeter.errors import StoreError, first_problem
from agimeter.perf.session import PerfResult
from agimeter.runner.executors.base import WorkerMeter
from agimeter.runner.meter import JudgeMeasurement, Measurement
from agimeter.runner.sequential import SequentialResult
from agimeter.store.records import ItemRecord, RunRecord
from agimeter.store.repository import Store


class BadRunError(StoreError):
    """A stored (or uploaded) run whose summary, config, model info or items do not validate."""


def first_non_finite(value: object, path: str = "") -> str | None:
    """The dotted path of the first NaN or infinite float inside ``value`` (JSON-like), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path or "value"
    if isinstance(value, Mapping):
        items: Sequence[tuple[object, object]] = list(value.items())
    elif isinstance(value, list | tuple):
        items = list(enumerate(value))
    else:
        return None
    for key, child in items:
        found = first_non_finite(child, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


class FiniteOnly(BaseModel):
    """A record that refuses a NaN or infinite number anywhere in its raw input, naming where
    (nested records included, whatever their own settings)."""

    @model_validator(mode="before")
    @classmethod
    def _no_non_finite(cls, data: Any) -> Any:
        where = first_non_finite(data)
        if where is not None:
            raise ValueError(f"{where} is not a finite number")
        return data


class FewshotProtocol(BaseModel):
    model_config = ConfigDict(extra="allow")

    num_fewshot: NonNegativeInt | None = None


class TaskProtocol(BaseModel):
    """The parts of a task's stored protocol (``Task.protocol()``) that readers use; the rest is kept."""

    model_config = ConfigDict(extra="allow")

    version: str | int | None = None
    dimension: str | None = None
    output_type: str | None = None
    metrics: list[str] = Field(default_factory=list)
    fewshot: FewshotProtocol | None = None
    scoring: dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    generation: dict[str, Any] | None = None
    deviations: list[str] = Field(default_factory=list)
    protocol_hash: str | None = None


class EvalSummary(FiniteOnly):
    """What ``runner.session`` stores with an evaluation run (empty while it starts)."""

    model_config = ConfigDict(extra="forbid")

    measurement: Measurement | None = None
    protocols: dict[str, TaskProtocol] = Field(default_factory=dict)
    chat_template: dict[str, bool] = Field(default_factory=dict)
    populations: dict[str, dict[str, NonNegativeInt]] = Field(default_factory=dict)
    task_sizes: dict[str, NonNegativeInt] = Field(default_factory=dict)  # documents in each whole task
    sequential: dict[str, SequentialResult] = Field(default_factory=dict)
    judge: JudgeMeasurement | None = None  # judged tasks: the judge model's own meter
    judged: list[JudgedFigures] = Field(default_factory=list)  # and their figures (analysis.judged)
    workers: list[WorkerMeter] = Field(default_factory=list)  # a run on Ray workers: each one's meter


class PerfSummary(FiniteOnly):
    """What ``perf.session`` stores with a ``perf`` run."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["perf"]
    perf: PerfResult


class RunConfig(FiniteOnly):
    """The options of a run that pricing reads; the others are kept as stored."""

    model_config = ConfigDict(extra="allow")

    profile: str = "custom"
    price_per_hour: float = Field(default=0.0, ge=0)
    price_is_example: bool = False
    api_price: PriceRow | None = None
    judge_price_per_hour: float | None = Field(default=None, ge=0)  # None: the run's price per hour
    judge_api_price: PriceRow | None = None


class RunFacts(BaseModel):
    """A run's stored JSON, typed: ``check_run``'s result."""

    model_config = ConfigDict(extra="forbid")

    summary: EvalSummary | PerfSummary
    config: RunConfig
    model_info: ModelInfo | None  # None: not recorded (a run created by hand)


def check_run(run: RunRecord) -> RunFacts:
    """The run's summary, config and model info validated; ``BadRunError`` names the first problem."""
    parts: list[tuple[str, type[BaseModel], object]] = [
        ("summary", PerfSummary if is_perf(run) else EvalSummary, run.summary),
        ("config", RunConfig, run.config),
        ("model_info", ModelInfo, run.model_info),
    ]
    typed: dict[str, BaseModel | None] = {}
    for name, model, raw in parts:
        if name == "model_info" and not raw:
            typed[name] = None
            continue
        where = first_non_finite(raw)
        if where is not None:
            raise BadRunError(f"run {run.id}: {name}.{where} is not a finite number")
        try:
            typed[name] = model.model_validate(raw)
        except ValidationError as err:
            field, message = first_problem(err)
            raise BadRunError(f"run {run.id}: {'.'.join(p for p in (name, field) if p)}: {message}") from None
    return RunFacts.model_validate(typed)


def is_perf(run: RunRecord) -> bool:
    return run.summary.get("kind") == "perf"


def _eval_summary(run: RunRecord) -> EvalSummary:
    summary = check_run(run).summary
    return summary if isinstance(summary, EvalSummary) else EvalSummary()


def perf_result(run: RunRecord) -> PerfResult:
    """The sweep of a ``perf`` run (``BadRunError`` when its summary does not validate)."""
    summary = check_run(run).summary
    if not isinstance(summary, PerfSummary):
        raise BadRunError(f"run {run.id}: summary: not a perf run")
    return summary.perf


def run_items(store: Store, run: RunRecord) -> list[ItemRecord]:
    """The run's items; a stored item that does not validate is a ``BadRunError`` for the run."""
    try:
        items = store.run_items(run.id)
    except ValidationError as err:
        field, message = first_problem(err)
        raise BadRunError(f"run {run.id}: an item: {field}: {message}") from None
    for item in items:
        where = first_non_finite({"metrics": item.metrics, "chance": item.chance, "weights": item.weights})
        if where is not None:
            raise BadRunError(f"run {run.id}: item {item.task}/{item.doc_id}: {where} is not a finite number")
    return items


def run_scores(store: Store, run: RunRecord) -> list[TaskScore]:
    summary = _eval_summary(run)
    # summarize reads protocols as the mappings Task.protocol() wrote; they have been validated
    return summarize(run_items(store, run), run.summary.get("protocols", {}), summary.populations)


def run_measurement(run: RunRecord) -> Measurement | None:
    return _eval_summary(run).measurement


def run_judge(run: RunRecord) -> JudgeMeasurement | None:
    """The judge's meter of a run with judged tasks (None: no judge)."""
    return _eval_summary(run).judge


def run_cost(run: RunRecord, measurement: Measurement) -> CostBlock:
    facts = check_run(run)
    config = facts.config
    profile = HardwareProfile(price_per_hour=config.price_per_hour, example=config.price_is_example)
    workers = facts.summary.workers if isinstance(facts.summary, EvalSummary) else []
    if workers:  # on Ray workers, each is billed for the time it was held (its model load included)
        measurement = measurement.model_copy(update={"wall_s": sum(w.held_s for w in workers), "load_s": 0.0})
    return price_run(measurement, config.profile, profile, config.api_price)


def run_workers(run: RunRecord) -> list[WorkerMeter]:
    """The per-worker meters of a run on Ray workers; none for a run in one process."""
    summary = check_run(run).summary
    return summary.workers if isinstance(summary, EvalSummary) else []


def run_judge_cost(run: RunRecord, judge: JudgeMeasurement) -> JudgeCost:
    config = check_run(run).config
    hourly = config.judge_price_per_hour if config.judge_price_per_hour is not None else config.price_per_hour
    return price_judge(judge, hourly, config.judge_api_price)


def run_usd(run: RunRecord) -> float | None:
    """What the run cost: the API price when one was given, else the hardware price."""
    measurement = run_measurement(run)
    if measurement is None:
        return None
    cost = run_cost(run, measurement)
    return float(cost.api_usd_per_run if cost.api_usd_per_run is not None else cost.usd_per_run)
