"""Which published API price belongs to which published model.

Price tables name hosted products ("Qwen1.5 72B", "deepseek-chat (DeepSeek-V2)"); score tables
name checkpoints ("Qwen/Qwen1.5-72B"). The links below are the ones a reader can check by eye;
a hosted product is usually the chat/instruct variant of the scored base checkpoint, and the
entry's cost basis says so. Anything not listed stays unlinked rather than guessed.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from agimeter.store.published import PublishedPrice
from agimeter.store.published_repo import PublishedSet

# (provider, price-table model) -> catalog model id
PRICE_LINKS: dict[tuple[str, str], str] = {
    ("DeepSeek", "DeepSeek-V2"): "deepseek-ai/DeepSeek-V2",
    ("DeepSeek", "deepseek-chat (DeepSeek-V2)"): "deepseek-ai/DeepSeek-V2",
    ("Alibaba", "Qwen1.5 72B"): "Qwen/Qwen1.5-72B",
    ("(third-party hosting)", "LLaMA 3 70B"): "meta-llama/Meta-Llama-3-70B",
    ("(third-party hosting)", "Mixtral 8x22B"): "mistralai/Mixtral-8x22B-v0.1",
    ("OpenAI", "GPT-3 (davinci), public API"): "openai/gpt-3-175b",
    ("OpenAI", "gpt-4o-mini (launch)"): "openai/gpt-4o-mini",
}


class PricePoint(BaseModel):
    """A dated USD price (blended 3:1 per 1M tokens) with the model it is linked to, if any."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date
    provider: str
    model: str
    linked_model: str | None
    usd_per_1m_input: float | None
    usd_per_1m_output: float | None
    usd_per_1m_blended: float
    source: str


def to_usd(price: PublishedPrice, usd_per_cny: float | None) -> tuple[float | None, float | None]:
    rate = 1.0 if price.currency == "USD" else usd_per_cny
    if rate is None:
        return None, None
    usd_in = price.input_per_mtok * rate if price.input_per_mtok is not None else None
    usd_out = price.output_per_mtok * rate if price.output_per_mtok is not None else None
    return usd_in, usd_out


def blended(usd_in: float | None, usd_out: float | None) -> float | None:
    """3:1 input:output; a price with one figure counts that figure for both."""
    if usd_in is None and usd_out is None:
        return None
    i = usd_in if usd_in is not None else usd_out
    o = usd_out if usd_out is not None else usd_in
    assert i is not None and o is not None
    return (3 * i + o) / 4


def price_points(published: PublishedSet, usd_per_cny: float | None = None) -> list[PricePoint]:
    """Every published price convertible to USD (CNY rows need an explicit rate)."""
    points = []
    for catalog, price in published.prices:
        usd_in, usd_out = to_usd(price, usd_per_cny)
        value = blended(usd_in, usd_out)
        if value is None:
            continue
        points.append(
            PricePoint(
                date=price.date,
                provider=price.provider,
                model=price.model,
                linked_model=PRICE_LINKS.get((price.provider, price.model)),
                usd_per_1m_input=usd_in,
                usd_per_1m_output=usd_out,
                usd_per_1m_blended=value,
                source=published.cite(catalog, price.source).text(),
            )
        )
    return points


def linked_price(published: PublishedSet, model_id: str, usd_per_cny: float | None = None) -> PricePoint | None:
    """The newest price linked to a catalog model, or None."""
    linked = [p for p in price_points(published, usd_per_cny) if p.linked_model == model_id]
    return max(linked, key=lambda q: q.date) if linked else None
