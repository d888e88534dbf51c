"""Price a run from its stored measurement and the hardware profile it ran under."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from agimeter.config import HardwareProfile
from agimeter.cost.prices import PriceRow
from agimeter.runner.meter import Measurement


class CostBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str
    price_per_hour: float
    price_is_example: bool
    billed_s: float  # evaluation wall time + model load time
    usd_per_run: float
    # Two token bases, each labelled wherever it is shown: ``counted`` is prompt + completion
    # tokens as lm-eval counts them (a multiple-choice item counts its context once per choice),
    # ``computed`` the tokens the model actually ran (shared prefixes computed once) + generated.
    usd_per_1m_tokens: float | None  # over the counted tokens
    usd_per_1m_computed_tokens: float | None = None
    tokens_counted: int = 0
    tokens_computed: int = 0
    # Hosted API price (per 1M input/output tokens) applied to the run's token counts, if given.
    api_price: str | None = None
    api_usd_per_run: float | None = None
    api_usd_per_1m_input: float | None = None  # the API price in USD (a CNY price needs a rate)
    api_usd_per_1m_output: float | None = None


def price_run(
    measurement: Measurement, profile_name: str, profile: HardwareProfile, api: PriceRow | None = None
) -> CostBlock:
    billed = measurement.wall_s + measurement.load_s
    usd = profile.price_per_hour * billed / 3600.0
    tokens = measurement.prompt_tokens + measurement.completion_tokens
    computed = measurement.computed_prompt_tokens + measurement.completion_tokens
    return CostBlock(
        profile=profile_name,
        price_per_hour=profile.price_per_hour,
        price_is_example=profile.example,
        billed_s=billed,
        usd_per_run=usd,
        usd_per_1m_tokens=usd / tokens * 1e6 if tokens else None,
        usd_per_1m_computed_tokens=usd / computed * 1e6 if computed else None,
        tokens_counted=tokens,
        tokens_computed=computed,
        api_price=api_label(api) if api else None,
        api_usd_per_run=api_cost(api, measurement.prompt_tokens, measurement.completion_tokens) if api else None,
        api_usd_per_1m_input=api.usd_input if api else None,
        api_usd_per_1m_output=(api.usd_output if api.usd_output is not None else api.usd_input) if api else None,
    )


def api_label(api: PriceRow) -> str:
    p = api.price
    return (
        f"{p.provider}/{p.model} {p.input_per_mtok}/{p.output_per_mtok} {p.currency} per 1M in/out "
        f"({p.date}; {p.source})"
    )


def api_cost(api: PriceRow, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Tokens at a hosted API's price in USD (None: the price has no USD rate)."""
    if api.usd_input is None:
        return None
    usd_out = api.usd_output if api.usd_output is not None else api.usd_input
    return (prompt_tokens * api.usd_input + completion_tokens * usd_out) / 1e6
