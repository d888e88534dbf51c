"""A hosted API's price, as the price table shows it and a run against that API stores it."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Currency = Literal["USD", "CNY"]


class ProviderPrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    model: str
    date: str = Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    currency: Currency
    input_per_mtok: float | None = Field(default=None, ge=0)
    output_per_mtok: float | None = Field(default=None, ge=0)
    source: str
    note: str = ""

    @field_validator("date", mode="before")
    @classmethod
    def _date_as_text(cls, value: object) -> object:
        return value.isoformat() if isinstance(value, dt.date) else value  # YAML reads dates as dates


class PriceRow(BaseModel):
    """A price as shown: original currency plus USD when a rate allows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price: ProviderPrice
    usd_input: float | None
    usd_output: float | None
    usd_blended_3_1: float | None
