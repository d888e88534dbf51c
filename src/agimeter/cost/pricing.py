"""Price a run from its stored measurement and the hardware profile it ran under."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from agimeter.config import HardwareProfile
from agimeter.runner.meter import Measurement


class CostBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str
    price_per_hour: float
    price_is_example: bool
    billed_s: float  # evaluation wall time + model load time
    usd_per_run: float
    usd_per_1m_tokens: float | None  # over prompt + completion tokens as the model saw them


def price_run(measurement: Measurement, profile_name: str, profile: HardwareProfile) -> CostBlock:
    billed = measurement.wall_s + measurement.load_s
    usd = profile.price_per_hour * billed / 3600.0
    tokens = measurement.prompt_tokens + measurement.completion_tokens
    return CostBlock(
        profile=profile_name,
        price_per_hour=profile.price_per_hour,
        price_is_example=profile.example,
        billed_s=billed,
        usd_per_run=usd,
        usd_per_1m_tokens=usd / tokens * 1e6 if tokens else None,
    )
