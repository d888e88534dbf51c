"""The Pareto view over leaderboard entries: who nobody beats on capability and cost, like for like.

Frontiers are computed within groups of comparable points, never across them:

- on ``usd_per_1m`` by cost kind: a self-hosted price (this hardware's $/h over the tokens it
  processed) and an API list price (a provider's price per token, margin and batching across
  customers included) are different quantities, so one never dominates the other. The plot draws
  both, with distinct marks and one frontier line each, and its legend says which is which;
- on ``overall`` by coverage (the set of dimensions behind the index, ``analysis.ranking``),
  since two overall indices over different dimensions are not one scale.

Each placed point says which run(s) its numbers come from and their n (``evidence``), and
carries its capability CI where there is one (measured scores), for error bars.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.entry_model import COST_KIND_SHORT, ModelEntry, Provenance
from agimeter.analysis.pareto import (
    COST_AXES,
    HIGHER_IS_BETTER,
    FrontierPoint,
    capability_interval,
    capability_value,
    cost_value,
    known_dimensions,
    pareto_frontier,
)

PER_KIND_AXES = ("usd_per_1m",)


class ParetoRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    model: str
    provenance: Provenance
    cost: float
    capability: float
    on_frontier: bool  # on the frontier of its group
    dominated_by: list[str]  # within its group
    group: str = "all"  # the comparable points it is ranked with (cost kind, coverage)
    capability_ci: tuple[float, float] | None = None
    evidence: str = ""  # measured: the runs behind the numbers and their n


class NotPlaced(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    model: str
    provenance: Provenance
    reason: str


class ParetoReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capability: str
    cost: str
    cost_label: str
    provenance: list[str]  # the provenances considered
    frontier: list[str]  # keys on their group's frontier, cheapest (fastest, for decode_tps) first
    frontiers: dict[str, list[str]] = {}  # group -> its frontier, cheapest first
    grouping: str = ""  # how points were grouped, in words
    points: list[ParetoRow]  # cheapest first
    not_placed: list[NotPlaced]


def _group(entry: ModelEntry, capability: str, cost: str) -> str:
    parts = []
    if cost in PER_KIND_AXES and entry.cost is not None and entry.cost.kind is not None:
        parts.append(COST_KIND_SHORT[entry.cost.kind])
    if capability == "overall":
        parts.append(f"overall over {', '.join(sorted(entry.coverage)) or 'unknown dimensions'}")
    return " · ".join(parts) or "all"


def _grouping(capability: str, cost: str) -> str:
    out = []
    if cost in PER_KIND_AXES:
        out.append("self-hosted and API prices apart (different quantities)")
    if capability == "overall":
        out.append("overall indices over the same dimensions only")
    return "frontiers within groups: " + "; ".join(out) if out else "one frontier"


def pareto_report(
    entries: Sequence[ModelEntry],
    capability: str = "overall",
    cost: str = "usd_per_1m",
    provenance: Sequence[Provenance] | None = None,
) -> ParetoReport:
    """Frontiers of ``capability`` (higher better) vs ``cost`` (lower better) within groups of
    comparable points; see pareto.py for the axes."""
    if cost not in COST_AXES:
        raise ValueError(f"unknown cost axis {cost!r}; choose one of {', '.join(COST_AXES)}")
    chosen = [e for e in entries if provenance is None or e.provenance in provenance]
    dims = known_dimensions(entries)
    placed: dict[str, tuple[ModelEntry, float, float]] = {}
    not_placed = []
    for e in chosen:
        x, why_x = cost_value(e, cost)
        y, why_y = capability_value(e, capability, dims)
        if x is not None and not math.isfinite(x):
            x, why_x = None, f"{cost} is not a finite number"
        if y is not None and not math.isfinite(y):
            y, why_y = None, f"{capability} is not a finite number"
        if x is None or y is None:
            reason = "; ".join(r for r in (why_y, why_x) if r)
            not_placed.append(NotPlaced(key=e.key, model=e.model, provenance=e.provenance, reason=reason))
        else:
            placed[e.key] = (e, x, y)
    groups: dict[str, list[str]] = defaultdict(list)
    for k, (e, _, _) in placed.items():
        groups[_group(e, capability, cost)].append(k)
    frontiers: dict[str, list[str]] = {}
    dominated_by: dict[str, list[str]] = {}
    group_of: dict[str, str] = {}
    sign = -1.0 if cost in HIGHER_IS_BETTER else 1.0  # the frontier minimises its cost axis
    for name, keys in sorted(groups.items()):
        result = pareto_frontier([FrontierPoint(key=k, x=sign * placed[k][1], y=placed[k][2]) for k in keys])
        frontiers[name] = result.frontier
        dominated_by.update(result.dominated_by)
        group_of.update(dict.fromkeys(keys, name))
    on = {k for keys in frontiers.values() for k in keys}
    order = sorted(placed.items(), key=lambda kv: (sign * kv[1][1], -kv[1][2], kv[0]))
    rows = [
        ParetoRow(
            key=k,
            model=e.model,
            provenance=e.provenance,
            cost=x,
            capability=y,
            on_frontier=k in on,
            dominated_by=dominated_by.get(k, []),
            group=group_of[k],
            capability_ci=capability_interval(e, capability, dims),
            evidence=e.evidence(_names(e, capability)),
        )
        for k, (e, x, y) in order
    ]
    return ParetoReport(
        capability=capability,
        cost=cost,
        cost_label=COST_AXES[cost],
        provenance=sorted(provenance) if provenance is not None else ["measured", "published"],
        frontier=[k for k, _ in order if k in on],
        frontiers=frontiers,
        grouping=_grouping(capability, cost),
        points=rows,
        not_placed=not_placed,
    )


def _names(entry: ModelEntry, capability: str) -> list[str] | None:
    """The scores behind a capability value (for ``evidence``): all counted ones for overall."""
    kind, _, name = capability.partition(":") if ":" in capability else ("", "", capability)
    if capability == "overall":
        return [s.name for s in entry.scores if s.counted]
    if kind == "dimension" or name in entry.dimensions:
        return [s.name for s in entry.dimension_scores(name)]
    return [name]
