"""Cost per solved task: tokens and $ per correct item, per task and overall, with the price basis.

A task's "correct items" are the sum of its primary metric over its items (the count of right
answers for 0/1 metrics, the expected count for pass@k). Its $ is the run's cost share: exact
from the API price and the task's own tokens when the run has one, else the hardware price
spread over tasks by compute time (as for dimensions). A run that reused items from the cache
did not pay for them, so its billed time would make them look free: then every item's recorded
compute time (prefill + decode, reused or not) is priced at the hardware price instead, and the
basis says so. A task with no correct item says so instead of dividing by zero.

``hosted_comparison`` sets a hosted API price of the same model family (from the catalog) on the
same tokens: a different product (another, usually larger model, served by a provider at a list
price) on this run's workload, labelled as a comparison of different things.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.price_links import PricePoint
from agimeter.cost.pricing import CostBlock
from agimeter.scoring.aggregate import TaskScore

SolvedStatus = Literal["ok", "none correct", "no price"]
OVERALL = "overall"
HOSTED_CAVEAT = (
    "a comparison of different things: a hosted API product of the same family at its list price, applied "
    "to this run's tokens; not this model, not this hardware"
)


class SolvedCost(BaseModel):
    """Tokens and $ per correct item of one task (or ``overall``: the sums over the tasks)."""

    model_config = ConfigDict(extra="forbid")

    task: str
    metric: str  # the primary metric counted as "correct"
    n: int
    correct: float
    tokens_counted: int  # prompt + completion tokens as lm-eval counts them
    tokens_computed: int  # tokens the model actually ran or generated
    completion_tokens: int = 0
    usd: float | None
    tokens_per_correct: float | None
    computed_tokens_per_correct: float | None
    usd_per_correct: float | None
    basis: str  # where the $ comes from, in words
    status: SolvedStatus
    run_id: str | None = None


def _correct(score: TaskScore) -> tuple[str, float]:
    metric = score.primary_metric or ""
    est = score.metrics.get(metric)
    # mean x n is a count for 0/1 metrics: rounded so that 113 right is 113, not 112.99999999999999
    return metric, (round(est.mean * est.n, 9) if est is not None and math.isfinite(est.mean) else 0.0)


def _row(
    task: str,
    metric: str,
    n: int,
    correct: float,
    tokens: tuple[int, int, int],
    usd: float | None,
    basis: str,
) -> SolvedCost:
    """``tokens``: counted, computed and completion tokens."""
    counted, computed, completion = tokens
    has = correct > 0
    status: SolvedStatus = "none correct" if not has else ("no price" if usd is None else "ok")
    return SolvedCost(
        task=task,
        metric=metric,
        n=n,
        correct=correct,
        tokens_counted=counted,
        tokens_computed=computed,
        completion_tokens=completion,
        usd=usd,
        tokens_per_correct=counted / correct if has else None,
        computed_tokens_per_correct=computed / correct if has else None,
        usd_per_correct=usd / correct if has and usd is not None else None,
        basis=basis,
        status=status,
    )


def task_usd(
    scores: Sequence[TaskScore], cost: CostBlock | None, reused: int = 0
) -> tuple[dict[str, float | None], str]:
    """Each task's $ share of its run, and the basis in words; ``reused``: items the run took
    from the cache rather than computed."""
    if cost is None:
        return dict.fromkeys((s.task for s in scores), None), "no measurement, no price"
    api = _api_rates(cost)
    if api is not None:
        usd_in, usd_out = api
        shares = {s.task: (s.prompt_tokens * usd_in + s.completion_tokens * usd_out) / 1e6 for s in scores}
        return dict(shares), f"API price {cost.api_price} on each task's prompt and completion tokens"
    if cost.price_per_hour <= 0:
        return dict.fromkeys((s.task for s in scores), None), f"no hardware price ({cost.profile}: $0/h)"
    total_s = math.fsum(s.compute_s for s in scores)
    example = ", an example price" if cost.price_is_example else ""
    if reused > 0:
        basis = f"${cost.price_per_hour:g}/h ({cost.profile}{example}) x each item's recorded compute time"
        basis += f" (prefill + decode; {reused} items reused from the cache included; load and scoring not counted)"
        return {s.task: cost.price_per_hour * s.compute_s / 3600 for s in scores}, basis
    basis = f"${cost.price_per_hour:g}/h ({cost.profile}{example}) x the run's billed time"
    basis += ", spread over tasks by compute time"
    return {s.task: cost.usd_per_run * s.compute_s / total_s if total_s > 0 else None for s in scores}, basis


def _api_rates(cost: CostBlock) -> tuple[float, float] | None:
    """The run's API price in USD per 1M input and output tokens, if it has one."""
    if cost.api_usd_per_1m_input is None or cost.api_usd_per_1m_output is None:
        return None
    return cost.api_usd_per_1m_input, cost.api_usd_per_1m_output


def solved_costs(
    scores: Sequence[TaskScore], cost: CostBlock | None, run_id: str | None = None, reused: int = 0
) -> list[SolvedCost]:
    """Per task, then ``overall`` (sums over the tasks); ``reused`` as in ``task_usd``."""
    usd, basis = task_usd(scores, cost, reused)
    rows = []
    for s in sorted(scores, key=lambda s: s.task):
        metric, correct = _correct(s)
        tokens = (s.prompt_tokens + s.completion_tokens, s.computed_prompt_tokens + s.completion_tokens,
                  s.completion_tokens)  # fmt: skip
        rows.append(
            _row(s.task, metric, s.n, correct, tokens, usd[s.task], basis).model_copy(update={"run_id": run_id})
        )
    return [*rows, overall_row(rows)] if rows else []


def overall_row(rows: Sequence[SolvedCost]) -> SolvedCost:
    """The sums over task rows (their $ only when every task has one)."""
    known = [r.usd for r in rows]
    total = math.fsum(u for u in known if u is not None) if all(u is not None for u in known) else None
    bases = sorted({r.basis for r in rows})
    runs = sorted({r.run_id for r in rows if r.run_id})
    tokens = (sum(r.tokens_counted for r in rows), sum(r.tokens_computed for r in rows),
              sum(r.completion_tokens for r in rows))  # fmt: skip
    row = _row(OVERALL, "primary metric of each task", sum(r.n for r in rows), math.fsum(r.correct for r in rows),
               tokens, total, bases[0] if len(bases) == 1 else "; ".join(bases))  # fmt: skip
    return row.model_copy(update={"run_id": runs[0] if len(runs) == 1 else None})


# hosted comparison ----------------------------------------------------------------------------
class HostedComparison(BaseModel):
    """A hosted price of the same family on the same tokens (a comparison of different things)."""

    model_config = ConfigDict(extra="forbid")

    task: str
    family: str
    price: PricePoint
    usd: float
    usd_per_correct: float | None
    status: SolvedStatus
    caveat: str = HOSTED_CAVEAT


def family_root(name: str) -> str:
    """The family's leading word, lower-case: "Qwen2.5-Coder" and "Qwen/Qwen2.5-0.5B" -> "qwen"."""
    repo = name.split(":", 1)[-1].split("/")[-1]
    match = re.match(r"[A-Za-z]+", repo)
    return match.group(0).lower() if match else ""


def family_price(prices: Sequence[PricePoint], family: str) -> PricePoint | None:
    """The newest hosted price whose product name starts with the family's word; among those of
    that date, the cheapest (blended 3:1); None when the catalog has none (in USD)."""
    root = family_root(family)
    if not root:
        return None
    mine = [p for p in prices if p.model.lower().startswith(root) and p.usd_per_1m_input is not None]
    if not mine:
        return None
    newest = max(p.date for p in mine)
    return min((p for p in mine if p.date == newest), key=lambda p: (p.usd_per_1m_blended, p.provider, p.model))


def hosted_comparison(rows: Sequence[SolvedCost], family: str, prices: Sequence[PricePoint]) -> list[HostedComparison]:
    """Per task (and overall): the family's hosted price (``family_price``) on the task's prompt
    and completion tokens, per correct item."""
    price = family_price(prices, family)
    if price is None or price.usd_per_1m_input is None:
        return []
    usd_in = price.usd_per_1m_input
    usd_out = price.usd_per_1m_output if price.usd_per_1m_output is not None else usd_in
    out = []
    for r in rows:
        prompt = r.tokens_counted - r.completion_tokens
        usd = (prompt * usd_in + r.completion_tokens * usd_out) / 1e6
        status: SolvedStatus = "ok" if r.correct > 0 else "none correct"
        per = usd / r.correct if r.correct > 0 else None
        out.append(
            HostedComparison(task=r.task, family=family, price=price, usd=usd, usd_per_correct=per, status=status)
        )
    return out
