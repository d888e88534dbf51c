"""Price a run's judge apart from the evaluated model: its judging wall time (and load) at its own
price per hour (by default the run's: a local judge shares the machine), and, when a hosted API
price is given for it (``--judge-api-price``), its tokens at that price."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from agimeter.cost.prices import PriceRow
from agimeter.cost.pricing import api_cost, api_label
from agimeter.runner.meter import JudgeMeasurement


class JudgeCost(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    price_per_hour: float
    billed_s: float  # judging wall time + the judge's load time
    usd_per_run: float
    api_price: str | None = None
    api_usd_per_run: float | None = None

    @property
    def usd(self) -> float:
        """What the judge cost: its API price when one was given, else its price per hour."""
        return self.api_usd_per_run if self.api_usd_per_run is not None else self.usd_per_run


def price_judge(judge: JudgeMeasurement, price_per_hour: float, api: PriceRow | None = None) -> JudgeCost:
    billed = judge.wall_s + judge.load_s
    api_usd = api_cost(api, judge.prompt_tokens, judge.completion_tokens) if api is not None else None
    return JudgeCost(
        price_per_hour=price_per_hour,
        billed_s=billed,
        usd_per_run=price_per_hour * billed / 3600.0,
        api_price=api_label(api) if api is not None else None,
        api_usd_per_run=api_usd,
    )
