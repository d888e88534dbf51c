"""Everything a report shows, in one record that the HTML and markdown views share.

Nothing here formats or reads: ``report.gather`` fills ``ReportData`` from the store (measured
runs), the published catalog and the progress analyses (density, Pareto, trends), with their
provenance.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from agimeter.analysis import progress
from agimeter.analysis.compare import Comparison
from agimeter.analysis.entries import ModelEntry
from agimeter.analysis.price_claim import PriceClaimReport
from agimeter.analysis.side_by_side import (
    SideBySideRow,
)
from agimeter.analysis.sweep import SweepReport
from agimeter.analysis.trends import TrendFit
from agimeter.store.published import CatalogImport

REPORT_SCHEMA_VERSION = 2  # 2: quantization sweeps
REFERENCE_PUBLISHED = 3  # published entries drawn next to the measured ones on the radar


class RunInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    model: str
    kind: str  # "eval" or "perf"
    status: str
    created_at: dt.datetime
    tasks: list[str]
    used_for: list[str] = Field(default_factory=list)  # the tasks whose reported number comes from this run


class ProtocolRow(BaseModel):
    """How one task was run: from the run summary's ``protocols`` (measured)."""

    model_config = ConfigDict(extra="forbid")

    task: str
    version: str
    dimension: str
    output_type: str
    shots: int | None
    metrics: list[str]
    chat: bool  # the chat template was applied
    chain_of_thought: bool = False  # the exemplars show their reasoning
    prompt: str  # description + doc_to_text template
    generation: str  # stop / max tokens / sampling, in words ("" for multiple choice)
    scoring: str
    deviations: list[str]
    protocol_hash: str
    runs: list[str]


class LawRow(BaseModel):
    """A published trend claim (doubling or halving time) with its source."""

    model_config = ConfigDict(extra="forbid")

    name: str
    quantity: str
    doubling_months: float | None
    halving_months: float | None
    factor_per_year: float | str | None
    source: str
    note: str


class PairedComparison(BaseModel):
    """Two measured entries compared item by item (``analysis.entry_compare``)."""

    model_config = ConfigDict(extra="forbid")

    a: str  # entry keys
    b: str
    a_model: str
    b_model: str
    comparison: Comparison


class ReportData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = REPORT_SCHEMA_VERSION
    generated_at: dt.datetime
    agimeter_version: str
    store: str  # URL without password
    runs: list[RunInfo]
    catalogs: list[CatalogImport]
    entries: list[ModelEntry]  # measured first, then published
    radar_reference: list[str] = Field(default_factory=list)  # keys of the published entries drawn
    side_by_side: dict[str, list[SideBySideRow]] = Field(default_factory=dict)  # measured key -> rows
    protocols: list[ProtocolRow]
    laws: list[LawRow]
    density: progress.DensityReport | None = None
    density_trend: TrendFit | None = None
    # measured entries next to their published family, on the benchmarks they were measured on
    family_density: list[progress.DensityReport] = Field(default_factory=list)
    pareto_cost: progress.ParetoReport | None = None
    pareto_size: progress.ParetoReport | None = None
    price_trend: TrendFit | None = None
    # the density trend on other benchmark sets (analysis.progress.DENSITY_SENSITIVITY_SETS)
    density_sensitivity: list[TrendFit] = Field(default_factory=list)
    comparisons: list[PairedComparison] = Field(default_factory=list)  # measured pairs sharing items
    price_claim: PriceClaimReport | None = None  # the Qwen price claim against the catalog
    sweeps: list[SweepReport] = Field(default_factory=list)  # quantization sweeps of the report's runs
    notes: list[str] = Field(default_factory=list)  # what could not be computed, and why

    @property
    def measured(self) -> list[ModelEntry]:
        return [e for e in self.entries if e.provenance == "measured"]

    @property
    def published(self) -> list[ModelEntry]:
        return [e for e in self.entries if e.provenance == "published"]

    def entry(self, key: str) -> ModelEntry | None:
        return next((e for e in self.entries if e.key == key), None)
