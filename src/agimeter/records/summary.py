"""The run summary: what a run stores about itself besides its items, one of two kinds.

``EvalSummary`` (``kind: "eval"``) for ``agimeter run``: the measurement, each task's protocol
as run, whether the chat template was applied, sampled populations, whole-task sizes and
sequential-sampling results. ``PerfSummary`` (``kind: "perf"``) for ``agimeter perf``: the sweep.

Versions of the run record: 1 stored an evaluation summary without ``kind`` (``{}`` while the
run starts; ``task_sizes`` since late 2026-11, ``populations``/``sequential`` since --sample and
--target-ci, ``judge``/``judged`` since judged tasks); 2 tags every summary with its ``kind``.
``migrate_summary`` brings any of them to the current shape, the measurement and perf blocks
included."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, NonNegativeInt, Tag

from agimeter.records.checks import FiniteOnly
from agimeter.records.judged import JudgedFigures
from agimeter.records.measurement import JudgeMeasurement, Measurement, migrate_measurement
from agimeter.records.perf import PerfResult, migrate_perf
from agimeter.records.protocol import TaskProtocol
from agimeter.records.workers import WorkerMeter

SummaryKind = Literal["eval", "perf"]


class SequentialResult(BaseModel):
    """How ``--target-ci`` ended for one task."""

    model_config = ConfigDict(extra="forbid")

    target_half_width: float
    metric: str | None
    evaluated: int
    population: int
    half_width: float | None
    reached: bool
    looks: int


class EvalSummary(FiniteOnly):
    """What ``runner.session`` stores with an evaluation run (empty while it starts)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["eval"] = "eval"
    measurement: Measurement | None = None
    protocols: dict[str, TaskProtocol] = Field(default_factory=dict)
    chat_template: dict[str, bool] = Field(default_factory=dict)
    populations: dict[str, dict[str, NonNegativeInt]] = Field(default_factory=dict)
    task_sizes: dict[str, NonNegativeInt] = Field(default_factory=dict)  # documents in each whole task
    sequential: dict[str, SequentialResult] = Field(default_factory=dict)
    judge: JudgeMeasurement | None = None  # judged tasks: the judge model's own meter
    judged: list[JudgedFigures] = Field(default_factory=list)  # and their figures (scoring.judge.figures)
    workers: list[WorkerMeter] = Field(default_factory=list)  # a run on Ray workers: each one's meter


class PerfSummary(FiniteOnly):
    """What ``perf.session`` stores with a ``perf`` run."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["perf"] = "perf"
    perf: PerfResult


def summary_kind(raw: object) -> str:
    """The kind a summary declares; untagged (run record v1) summaries are evaluations."""
    kind = raw.get("kind", "eval") if isinstance(raw, dict) else getattr(raw, "kind", "eval")
    return kind if isinstance(kind, str) else repr(kind)


RunSummary = Annotated[
    Annotated[EvalSummary, Tag("eval")] | Annotated[PerfSummary, Tag("perf")], Discriminator(summary_kind)
]
SUMMARIES: dict[str, type[EvalSummary] | type[PerfSummary]] = {"eval": EvalSummary, "perf": PerfSummary}


def migrate_summary(raw: object) -> object:
    """A stored summary of any version in the current shape (tagged, blocks migrated); anything
    that is not a mapping is returned as it is, for validation to name."""
    if not isinstance(raw, dict):
        return raw
    summary: dict[str, Any] = {"kind": summary_kind(raw), **raw}
    if summary["kind"] == "perf" and "perf" in summary:
        summary["perf"] = migrate_perf(summary["perf"])
    if summary["kind"] == "eval" and "measurement" in summary:
        summary["measurement"] = migrate_measurement(summary["measurement"])
    return summary
