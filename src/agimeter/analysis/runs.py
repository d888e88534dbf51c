"""Views of one stored run: its task scores, its cost block and what it cost in dollars."""

from __future__ import annotations

from agimeter.analysis.summary import TaskScore, summarize
from agimeter.config import HardwareProfile
from agimeter.cost.prices import PriceRow
from agimeter.cost.pricing import CostBlock, price_run
from agimeter.runner.meter import Measurement
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store


def is_perf(run: RunRecord) -> bool:
    return run.summary.get("kind") == "perf"


def run_scores(store: Store, run: RunRecord) -> list[TaskScore]:
    return summarize(store.run_items(run.id), run.summary.get("protocols", {}), run.summary.get("populations"))


def run_measurement(run: RunRecord) -> Measurement | None:
    if "measurement" not in run.summary:
        return None
    return Measurement.model_validate(run.summary["measurement"])


def run_cost(run: RunRecord, measurement: Measurement) -> CostBlock:
    profile = HardwareProfile(
        price_per_hour=float(run.config.get("price_per_hour", 0.0)),
        example=bool(run.config.get("price_is_example", False)),
    )
    api = PriceRow.model_validate(run.config["api_price"]) if run.config.get("api_price") else None
    return price_run(measurement, str(run.config.get("profile", "custom")), profile, api)


def run_usd(run: RunRecord) -> float | None:
    """What the run cost: the API price when one was given, else the hardware price."""
    measurement = run_measurement(run)
    if measurement is None:
        return None
    cost = run_cost(run, measurement)
    return float(cost.api_usd_per_run if cost.api_usd_per_run is not None else cost.usd_per_run)
