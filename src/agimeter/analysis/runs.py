"""Views of one stored run: its task scores, its measurement, its cost block and what it cost.

The store reads a run's JSON parts into typed records (``records.run.load_run``); a row that does
not validate loads with its problem set, and ``check_run`` raises it (``BadRunError``, one line
naming the run and the field) before anything reads the parts, so callers can leave that run
out. Items are checked the same way: no number may be NaN or infinite.
"""

from __future__ import annotations

from pydantic import ValidationError

from agimeter.config import HardwareProfile
from agimeter.cost.judge import JudgeCost, price_judge
from agimeter.cost.pricing import CostBlock, price_run
from agimeter.errors import first_problem
from agimeter.records.checks import first_non_finite
from agimeter.records.items import ItemRecord
from agimeter.records.measurement import JudgeMeasurement, Measurement
from agimeter.records.options import RunOptions
from agimeter.records.perf import PerfResult
from agimeter.records.protocol import TaskProtocol
from agimeter.records.run import BadRunError, RunRecord
from agimeter.records.summary import EvalSummary, PerfSummary
from agimeter.records.workers import WorkerMeter
from agimeter.scoring.aggregate import TaskScore, summarize
from agimeter.store.repository import Store


def check_run(run: RunRecord) -> RunRecord:
    """The run, when its stored summary, config and model info validated; else ``BadRunError``."""
    return run.checked()


def is_perf(run: RunRecord) -> bool:
    return run.is_perf


def eval_summary(run: RunRecord) -> EvalSummary:
    """The evaluation summary of a run that validated (a perf run has none: an empty one)."""
    summary = run.checked().summary
    return summary if isinstance(summary, EvalSummary) else EvalSummary()


def perf_result(run: RunRecord) -> PerfResult:
    """The sweep of a ``perf`` run (``BadRunError`` when its summary does not validate)."""
    summary = run.checked().summary
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
    summary = eval_summary(run)
    return summarize(run_items(store, run), summary.protocols, summary.populations)


def run_protocols(run: RunRecord) -> dict[str, TaskProtocol]:
    """Each task's protocol as the run stored it (none for a perf run)."""
    return eval_summary(run).protocols


def run_measurement(run: RunRecord) -> Measurement | None:
    return eval_summary(run).measurement


def run_judge(run: RunRecord) -> JudgeMeasurement | None:
    """The judge's meter of a run with judged tasks (None: no judge)."""
    return eval_summary(run).judge


def run_cost(run: RunRecord, measurement: Measurement) -> CostBlock:
    checked = run.checked()
    config = checked.config
    profile = HardwareProfile(price_per_hour=config.price_per_hour, example=config.price_is_example)
    workers = checked.summary.workers if isinstance(checked.summary, EvalSummary) else []
    if workers:  # on Ray workers, each is billed for the time it was held (its model load included)
        measurement = measurement.model_copy(update={"wall_s": sum(w.held_s for w in workers), "load_s": 0.0})
    api = config.api_price if isinstance(config, RunOptions) else None
    return price_run(measurement, config.profile, profile, api)


def run_workers(run: RunRecord) -> list[WorkerMeter]:
    """The per-worker meters of a run on Ray workers; none for a run in one process."""
    return eval_summary(run).workers


def run_judge_cost(run: RunRecord, judge: JudgeMeasurement) -> JudgeCost:
    config = run.checked().config
    if not isinstance(config, RunOptions):
        raise BadRunError(f"run {run.id}: config: a perf run has no judge")
    hourly = config.judge_price_per_hour if config.judge_price_per_hour is not None else config.price_per_hour
    return price_judge(judge, hourly, config.judge_api_price)


def run_usd(run: RunRecord) -> float | None:
    """What the run cost: the API price when one was given, else the hardware price."""
    measurement = run_measurement(run)
    if measurement is None:
        return None
    cost = run_cost(run, measurement)
    return float(cost.api_usd_per_run if cost.api_usd_per_run is not None else cost.usd_per_run)
