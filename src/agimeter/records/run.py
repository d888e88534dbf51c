"""The run record: one evaluation or perf run, as the store keeps it.

A run's ``summary``, ``config`` and ``model_info`` are stored as JSON columns. ``load_run`` reads a
stored (or uploaded) row of any version: it migrates the old shapes (``migrate_summary``,
``migrate_perf_options``), refuses NaN or infinite numbers, and validates each part against
its record. A row that does not validate still loads, as a run whose ``problem`` names the run
and the first bad field in one line, with empty parts: listings show it, and every reader of
its parts calls ``checked()`` first, which raises that problem (``BadRunError``), so that one old
or malformed row never crashes a reader and callers can leave it out.

Versions: 1 (the first: an untagged evaluation summary), 2 tags the summary with its ``kind``
and types config (``RunOptions`` | ``PerfOptions``) and model info."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from agimeter.errors import StoreError, first_problem
from agimeter.records.checks import first_non_finite
from agimeter.records.model import ModelInfo
from agimeter.records.options import PerfOptions, RunConfig, RunOptions, migrate_perf_options
from agimeter.records.summary import SUMMARIES, EvalSummary, PerfSummary, RunSummary, migrate_summary, summary_kind

RUN_SCHEMA_VERSION = 2

# "incomplete": the run went to the end but some requests failed; re-running resumes it and
# retries only those items. "interrupted": stopped by Ctrl-C/SIGTERM, or stored as "running" while
# the process that ran it is gone (killed, crashed: see ``SessionRecord``); re-running resumes it.
RunStatus = Literal["running", "finished", "incomplete", "failed", "interrupted"]


class BadRunError(StoreError):
    """A stored (or uploaded) run whose summary, config, model info or items do not validate."""


class StoredRunError(ValueError):
    """The first problem of a stored run's JSON parts: ``field: message`` (no run id)."""


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = RUN_SCHEMA_VERSION
    id: str
    run_key: str
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    model: str
    model_identity: str
    tasks: list[str]
    config: RunConfig
    model_info: ModelInfo | None = None  # None: not recorded (a run created by hand)
    summary: RunSummary = Field(default_factory=EvalSummary)
    error: str | None = None
    _problem: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _default_config(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("config"):  # not recorded (a run created by hand)
            return {**data, "config": _unrecorded_config(data)}
        return data

    @model_validator(mode="after")
    def _config_of_its_kind(self) -> RunRecord:
        expected = PerfOptions if isinstance(self.summary, PerfSummary) else RunOptions
        if not isinstance(self.config, expected):
            raise ValueError(f"config: a {self.summary.kind} run's config is {expected.__name__}")
        return self

    @property
    def problem(self) -> str | None:
        """Why the stored row does not validate (one line naming the run and field), or None."""
        return self._problem

    @property
    def is_perf(self) -> bool:
        return isinstance(self.summary, PerfSummary)

    def checked(self) -> RunRecord:
        """This run, when its stored parts validated; else ``BadRunError`` naming the first problem."""
        if self._problem is not None:
            raise BadRunError(self._problem)
        return self


def _unrecorded_config(run: Mapping[str, Any]) -> dict[str, Any]:
    """The config of a run that recorded none: its model (and tasks), every option at its default."""
    if summary_kind(run.get("summary")) == "perf":
        return {"model": run.get("model")}
    return {"model": run.get("model"), "tasks": run.get("tasks")}


def _validated(name: str, model: type[BaseModel], raw: object) -> BaseModel:
    where = first_non_finite(raw)
    if where is not None:
        raise StoredRunError(f"{name}.{where} is not a finite number")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        field, message = first_problem(err)
        raise StoredRunError(f"{'.'.join(p for p in (name, field) if p)}: {message}") from None


def typed_parts(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``summary``, ``config`` and ``model_info`` of a stored or uploaded run (JSON of any version),
    migrated and validated; ``StoredRunError`` names the first problem."""
    summary = migrate_summary(raw.get("summary") or {})
    kind = summary_kind(summary)
    if kind not in SUMMARIES:
        raise StoredRunError(f"summary.kind: unknown kind {kind!r} (expected {' or '.join(map(repr, SUMMARIES))})")
    config = raw.get("config") or _unrecorded_config({**raw, "summary": summary})
    options: type[BaseModel] = RunOptions
    if kind == "perf":
        config, options = migrate_perf_options(config), PerfOptions
    model_info = raw.get("model_info")
    return {
        "summary": _validated("summary", SUMMARIES[kind], summary),
        "config": _validated("config", options, config),
        "model_info": _validated("model_info", ModelInfo, model_info) if model_info else None,
    }


def load_run(raw: Mapping[str, Any]) -> RunRecord:
    """A stored run row (its columns, JSON parts of any version) as a record of the current version;
    a row whose parts do not validate loads with empty parts and its ``problem`` set."""
    header = {k: v for k, v in raw.items() if k not in ("schema_version", "summary", "config", "model_info")}
    try:
        parts = typed_parts(raw)
    except StoredRunError as err:
        run = RunRecord(**header, summary=EvalSummary())
        run._problem = f"run {run.id}: {err}"
        return run
    return RunRecord(**header, **parts)
