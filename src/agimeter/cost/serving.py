"""$ per 1M input and output tokens of a served model, from a measured operating point.

A machine that serves at a given load spends part of its time on prompts (prefill) and the
rest on generation (decode). The hour's price is split by that measured time share
(sum of TTFT / sum of end-to-end latency over the point's requests), then divided by the
input and output token throughputs. The blended price weights input:output 3:1, as
Artificial Analysis does. The operating point is the one with the best goodput under the SLOs
(or the best output throughput when no SLO was given).
"""

from __future__ import annotations

from collections.abc import Sequence

from agimeter.records.perf import PerfResult, PointSummary, ServingCost

BLEND_INPUT, BLEND_OUTPUT = 3, 1


def operating_point(points: Sequence[PointSummary], *, with_slo: bool) -> int | None:
    """Index of the best point: max goodput under the SLOs, else max output tokens/s."""
    candidates = [i for i, p in enumerate(points) if p.succeeded]
    if not candidates:
        return None
    if with_slo:
        return max(candidates, key=lambda i: (points[i].goodput_per_s or 0.0, points[i].output_tokens_per_s))
    return max(candidates, key=lambda i: points[i].output_tokens_per_s)


def serving_cost(
    points: Sequence[PointSummary], price_per_hour: float, *, example: bool, with_slo: bool
) -> ServingCost | None:
    index = operating_point(points, with_slo=with_slo)
    if index is None:
        return None
    point = points[index]
    share = point.prefill_time_share if point.prefill_time_share is not None else 0.0
    per_second = price_per_hour / 3600.0

    def per_million(fraction: float, tokens_per_s: float) -> float | None:
        return per_second * fraction / tokens_per_s * 1e6 if tokens_per_s > 0 else None

    usd_in = per_million(share, point.input_tokens_per_s)
    usd_out = per_million(1.0 - share, point.output_tokens_per_s)
    blended = (
        (BLEND_INPUT * usd_in + BLEND_OUTPUT * usd_out) / (BLEND_INPUT + BLEND_OUTPUT)
        if usd_in is not None and usd_out is not None
        else None
    )
    return ServingCost(
        point=index,
        price_per_hour=price_per_hour,
        price_is_example=example,
        prefill_time_share=share,
        usd_per_1m_input=usd_in,
        usd_per_1m_output=usd_out,
        usd_per_1m_blended_3_1=blended,
    )


def priced_sweep(result: PerfResult) -> PerfResult:
    """The sweep with its serving cost at the operating point, under the price it ran with."""
    options = result.options
    cost = serving_cost(
        result.points, options.price_per_hour, example=options.price_is_example, with_slo=bool(result.slo_s)
    )
    return result.model_copy(update={"cost": cost})
