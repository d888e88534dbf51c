"""Response (and upload) models of the JSON API: what ``/openapi.json`` documents."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agimeter.analysis.compare import Comparison
from agimeter.analysis.entries import ModelEntry, Provenance
from agimeter.analysis.runs import BadRunError, FiniteOnly, check_run
from agimeter.analysis.summary import TaskScore
from agimeter.store.records import ItemRecord, RunRecord, RunStatus
from agimeter.store.tables import IDENTITY_LENGTH
from agimeter.tasks.dimensions import Dimension

API_SCHEMA_VERSION = 1
MAX_LIMIT = 500
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")

# Sortable columns: the fixed ones and every capability dimension.
FixedColumn = Literal[
    "model", "provenance", "params", "overall", "cost", "ttft", "memory", "backend", "hardware", "released"
]
SortColumn = Literal[FixedColumn, Dimension]
SortOrder = Literal["asc", "desc"]
RunKind = Literal["eval", "perf"]


class ErrorBody(BaseModel):
    """Every non-validation error: one line."""

    model_config = ConfigDict(extra="forbid")

    detail: str


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"] = "ok"
    schema_version: int = API_SCHEMA_VERSION
    runs: int
    entries: int
    published_models: int
    uploads_enabled: bool


class EntryPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int  # entries matching the filters, before pagination
    limit: int
    offset: int
    sort: str
    order: SortOrder
    items: list[ModelEntry]


class RunSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: RunKind
    model: str
    model_identity: str
    status: RunStatus
    tasks: list[str]
    created_at: datetime
    updated_at: datetime
    error: str | None = None


class RunPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    limit: int
    offset: int
    items: list[RunSummary]


class RunDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: RunRecord
    kind: RunKind
    items: int  # scored items linked to the run
    scores: list[TaskScore]  # per task, empty for perf runs
    problem: str | None = None  # why the stored run cannot be read (then no scores), in one line


class CompareRow(BaseModel):
    """One line of a side-by-side comparison: B - A where both are present."""

    model_config = ConfigDict(extra="forbid")

    name: str
    a: float | None
    b: float | None
    diff: float | None
    note: str = ""
    # the paired test on the items both measured with the same prompt (B - A, its 95% bootstrap
    # CI, p-value and shared items), where both entries are measured
    paired_diff: float | None = None
    paired_ci: tuple[float, float] | None = None
    paired_p: float | None = None
    paired_n: int | None = None


class EntryRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    model: str
    provenance: Provenance


class CompareView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: EntryRef
    b: EntryRef
    overall: CompareRow
    dimensions: list[CompareRow]  # normalised 0-100
    benchmarks: list[CompareRow]  # percent; note gives metric/shots/provenance of each side
    cost: CompareRow  # $ per 1M tokens (blended)
    latency: list[CompareRow]  # ms at the lowest sweep point, and output tokens/s
    paired: Comparison | None = None  # item-level paired test when both are measured and share items


class ProtocolDiff(BaseModel):
    """A measured score next to the published one for the same benchmark."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str
    measured: float | None
    published: float | None
    diff: float | None  # measured - published, percentage points
    measured_task: str | None
    differences: list[str]  # protocol differences, in words


class UploadBody(FiniteOnly):
    """``POST /api/v1/runs``: one run and its scored items (``agimeter push``).

    Validated as fully as the readers will read it: the run's summary, config and model info
    against their typed records, no NaN or infinite number anywhere, and the store's column sizes
    (checked here so that every database refuses alike)."""

    model_config = ConfigDict(extra="forbid")

    run: RunRecord
    items: list[ItemRecord] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fits_the_store(self) -> UploadBody:
        if not ID_RE.fullmatch(self.run.id):
            raise ValueError("run.id must be 1-32 characters of A-Z, a-z, 0-9, _ and -")
        if len(self.run.run_key) > 64:
            raise ValueError("run.run_key must be at most 64 characters")
        if len(self.run.model_identity) > IDENTITY_LENGTH:
            raise ValueError(f"run.model_identity must be at most {IDENTITY_LENGTH} characters")
        for item in self.items:
            if len(item.cache_key) > 64 or len(item.task) > 128:
                raise ValueError("item cache_key must be at most 64 characters and task at most 128")
        try:
            check_run(self.run)
        except BadRunError as err:
            raise ValueError(str(err)) from None
        return self


class UploadResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    items: int
