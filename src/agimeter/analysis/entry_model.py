"""The records of a leaderboard entry: one model, measured by agimeter or published by its makers.

``provenance`` says which on every entry, score and cost, so the two kinds never mix silently.
A measured score also names the run it comes from, its n, and whether it counts toward the
entry's dimensions (``analysis.selection`` decides). Reports, the leaderboard and the
density/Pareto/trend analyses all read these records.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agimeter.analysis.selection import ScoreStatus
from agimeter.analysis.solved import HostedComparison, SolvedCost
from agimeter.perf.metrics import Dist

# 2: scores name their run, n, status and whether they count; coverage and rank; cost kind and both
# token bases; cost per solved item. 3: decode tokens/s (and its basis)
ENTRY_SCHEMA_VERSION = 3
Provenance = Literal["measured", "published"]
# self_hosted: hardware time priced at $/h (measured here); api: a hosted API's list price per token
CostKind = Literal["self_hosted", "api"]
COST_KIND_SHORT: dict[str, str] = {"self_hosted": "self-hosted", "api": "API price"}


class BenchScore(BaseModel):
    """One score: a measured task's primary metric or a published benchmark number (percent)."""

    model_config = ConfigDict(extra="forbid")

    name: str  # task (measured) or benchmark (published)
    benchmark: str | None  # the published benchmark it corresponds to, if any
    dimension: str | None
    value: float  # percent
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    metric: str = ""
    shots: int | None = None
    normalized: float | None = None  # 0 = chance, 100 = perfect
    protocol: str = ""  # how it was measured, in words
    source: str = ""  # run id or citation
    provenance: Provenance
    run_id: str | None = None  # measured: the run the number comes from
    status: ScoreStatus = "ok"  # ok, or why it does not count (insufficient, non-standard protocol, user task)
    status_note: str = ""
    counted: bool = True  # counts toward its dimension, the overall index and rankings
    selection: str = ""  # measured: which run was chosen and why, in words
    min_items: int | None = None  # measured: the bar it was held to


class LatencyPoint(BaseModel):
    """One sweep point of a perf run (ms)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    mode: str
    level: float
    request_per_s: float
    output_tokens_per_s: float
    ttft: Dist | None
    tpot: Dist | None
    itl: Dist | None
    e2e: Dist | None
    quantiles_ms: dict[str, list[float]] | None = None


class CostInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usd_per_1m_input: float | None = None
    usd_per_1m_output: float | None = None
    # 3:1 input:output for serving and API prices; for an evaluation run, over the tokens as
    # lm-eval counts them (a multiple-choice item counts its context once per choice)
    usd_per_1m_blended: float | None = None
    usd_per_1m_computed: float | None = None  # evaluation run: over the tokens actually computed/generated
    basis: str  # where the number comes from, in words
    provenance: Provenance
    price_is_example: bool = False
    kind: CostKind | None = None  # None: from provenance (measured: self-hosted, published: API)
    run_id: str | None = None  # measured: the run priced

    @model_validator(mode="after")
    def _default_kind(self) -> CostInfo:
        if self.kind is None:
            self.kind = "api" if self.provenance == "published" else "self_hosted"
        return self


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = ENTRY_SCHEMA_VERSION
    key: str  # URL-safe, stable
    model: str
    provenance: Provenance
    family: str | None = None
    organization: str | None = None
    variant: str | None = None
    released: dt.date | None = None
    released_label: str | None = None  # as sourced ("2024-09-19", "2023-07")
    params_b: float | None = None
    params_non_embedding_b: float | None = None
    params_active_b: float | None = None
    memory_gb: float | None = None  # measured peak (CUDA max allocated, else process RSS)
    weights_gb: float | None = None  # the weights as held in memory (see weights_basis)
    weights_basis: str | None = None
    # measured: decode tokens/s at batch 1 on this hardware (see decode_basis)
    decode_tokens_per_s: float | None = None
    decode_basis: str | None = None
    backend: str | None = None
    hardware: str | None = None
    dtype: str | None = None
    scores: list[BenchScore] = Field(default_factory=list)
    dimensions: dict[str, float] = Field(default_factory=dict)  # normalised 0-100, counted scores only
    dimension_ci: dict[str, tuple[float, float]] = Field(default_factory=dict)
    overall: float | None = None  # mean over ``coverage`` only
    overall_ci: tuple[float, float] | None = None
    coverage: list[str] = Field(default_factory=list)  # the dimensions behind ``overall``
    rank: int | None = None  # place by overall among entries of the same coverage (analysis.ranking)
    rank_among: int | None = None  # how many entries share that coverage
    cost: CostInfo | None = None
    # measured: tokens and $ per correct item per task and overall, from each task's chosen run
    solved: list[SolvedCost] = Field(default_factory=list)
    # measured: a hosted API price of the same family on the same tokens (different things compared)
    hosted: list[HostedComparison] = Field(default_factory=list)
    latency: list[LatencyPoint] = Field(default_factory=list)
    runs: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    def score(self, benchmark: str) -> BenchScore | None:
        """The score on a published benchmark (or a task of that name)."""
        return next((s for s in self.scores if s.benchmark == benchmark), None) or next(
            (s for s in self.scores if s.name == benchmark), None
        )

    def capability(self, dimension: str | None = None) -> float | None:
        """Overall index, or one dimension's score."""
        return self.overall if dimension in (None, "overall") else self.dimensions.get(str(dimension))

    def evidence(self, names: Sequence[str] | None = None) -> str:
        """Which run each measured number comes from and its n, grouped by run ("run abc: mmlu
        n=60, arc_challenge n=60 (insufficient)"); ``names`` limits it to some benchmarks/tasks.
        Published entries: "published" (each score cites its source)."""
        if self.provenance == "published":
            return "published"
        wanted = [s for s in self.scores if names is None or s.name in names or s.benchmark in names]
        by_run: dict[str, list[str]] = {}
        for s in wanted:
            note = "" if s.status == "ok" else f" ({s.status})"
            by_run.setdefault(s.run_id or "?", []).append(f"{s.name} n={s.n}{note}")
        return "; ".join(f"run {run}: {', '.join(parts)}" for run, parts in by_run.items())

    def solved_overall(self) -> SolvedCost | None:
        return next((r for r in self.solved if r.task == "overall"), None)

    def dimension_scores(self, dimension: str) -> list[BenchScore]:
        """The counted scores behind one dimension (their runs and n say where it comes from)."""
        return [s for s in self.scores if s.dimension == dimension and s.counted]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "model"


def measured_key(model: str, identity: str) -> str:
    """The stable key of a measured entry (one per model identity)."""
    return "m-" + slug(f"{model}-{identity[:8]}")
