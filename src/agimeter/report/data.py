"""Everything a report shows, gathered once into one record that the HTML and markdown views share.

Nothing here formats: ``gather`` reads the store (measured runs), the published catalog and the
progress analyses (density, Pareto, trends), and ``ReportData`` keeps them with their provenance.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import make_url

from agimeter import __version__
from agimeter.analysis import progress
from agimeter.analysis.compare import Comparison
from agimeter.analysis.entries import ModelEntry, entries_from
from agimeter.analysis.price_claim import PriceClaimReport
from agimeter.analysis.runs import BadRunError, check_run, is_perf
from agimeter.analysis.selection import SelectionPolicy
from agimeter.analysis.side_by_side import (
    SideBySideRow,
    counterparts,
    side_by_side,
)
from agimeter.analysis.sweep import SweepReport
from agimeter.analysis.trends import TrendFit
from agimeter.store.published import CatalogImport
from agimeter.store.published_repo import PublishedSet
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store

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


def merge_published(stored: PublishedSet, extra: PublishedSet | None) -> PublishedSet:
    """The store's catalogs plus one read from a file; the file replaces a stored import of the same path."""
    if extra is None:
        return stored
    paths = {i.path for i in extra.imports}
    gone = {i.catalog for i in stored.imports if i.path in paths}
    return PublishedSet(
        imports=[i for i in stored.imports if i.catalog not in gone] + extra.imports,
        models=[x for x in stored.models if x[0] not in gone] + extra.models,
        prices=[x for x in stored.prices if x[0] not in gone] + extra.prices,
        laws=[x for x in stored.laws if x[0] not in gone] + extra.laws,
        citations={**{k: v for k, v in stored.citations.items() if k not in gone}, **extra.citations},
    )


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL: show it as given
        return url


def gather(
    store: Store,
    runs: Sequence[RunRecord],
    published: PublishedSet,
    *,
    store_url: str,
    usd_per_cny: float | None = None,
    model_cards: bool = True,
    now: dt.datetime | None = None,
    policy: SelectionPolicy | None = None,
) -> ReportData:
    """Read everything the report needs; analyses that cannot be computed leave a note instead."""
    from agimeter.report.analyses import add_comparisons, add_progress, add_sweeps  # built on ReportData

    notes: list[str] = []
    skipped = [r.id for r in runs if r.status not in ("finished", "incomplete")]
    if skipped:
        notes.append(f"runs left out (not finished): {', '.join(skipped)}")
    unreadable: set[str] = set()
    for run in runs:  # the entries leave these out too (items that do not validate are only logged)
        try:
            check_run(run)
        except BadRunError as err:
            unreadable.add(run.id)
            notes.append(f"left out, stored data does not validate: {err}")
    # the model cards recorded with the aliases count as published entries too
    entries = entries_from(store, runs, published, usd_per_cny, model_cards=model_cards, policy=policy)
    measured = [e for e in entries if e.provenance == "measured"]
    pub = [e for e in entries if e.provenance == "published"]
    pairs = {m.key: side_by_side(m, pub) for m in measured}
    data = ReportData(
        generated_at=now or dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None),
        agimeter_version=__version__,
        store=redact(store_url),
        runs=[_run_info(r, measured) for r in runs],
        catalogs=published.imports,
        entries=entries,
        radar_reference=_radar_reference(measured, pub),
        side_by_side={k: v for k, v in pairs.items() if v},
        protocols=_protocols([r for r in runs if r.id not in unreadable]),
        laws=[
            LawRow(
                name=law.name,
                quantity=law.quantity,
                doubling_months=law.doubling_months,
                halving_months=law.halving_months,
                factor_per_year=law.factor_per_year,
                source=published.cite(catalog, law.source).text() if law.source else "",
                note=law.note,
            )
            for catalog, law in published.laws
        ],
        notes=notes,
    )
    add_progress(data, entries, published, usd_per_cny)
    add_comparisons(data, store, measured)
    add_sweeps(data, store, runs)
    return data


def _run_info(run: RunRecord, measured: Sequence[ModelEntry]) -> RunInfo:
    used = [s.name for e in measured for s in e.scores if s.run_id == run.id]
    used += ["perf"] if any(p.run_id == run.id for e in measured for p in e.latency[:1]) else []
    return RunInfo(
        id=run.id,
        model=run.model,
        kind="perf" if is_perf(run) else "eval",
        status=run.status,
        created_at=run.created_at,
        tasks=list(run.tasks),
        used_for=used,
    )


def _radar_reference(measured: list[ModelEntry], published: list[ModelEntry]) -> list[str]:
    """Published counterparts of the measured models first, then the published models that cover
    the measured dimensions best and are closest in size to the measured ones (largest if none)."""
    chosen: list[str] = []
    for m in measured:
        chosen += [p.key for p in counterparts(m, published) if p.dimensions and p.key not in chosen]
    axes = {d for m in measured for d in m.dimensions} or {d for p in published for d in p.dimensions}
    sizes = sorted(m.params_b for m in measured if m.params_b)
    target = sizes[len(sizes) // 2] if sizes else None

    def distance(p: ModelEntry) -> float:
        if p.params_b is None:
            return math.inf
        return abs(math.log(p.params_b / target)) if target else -p.params_b

    rest = sorted(
        (p for p in published if p.dimensions and p.key not in chosen),
        key=lambda p: (-len(axes & set(p.dimensions)), distance(p)),
    )
    return (chosen + [p.key for p in rest])[:REFERENCE_PUBLISHED]


def _protocols(runs: Sequence[RunRecord]) -> list[ProtocolRow]:
    rows: dict[tuple[str, str], ProtocolRow] = {}
    for run in sorted(runs, key=lambda r: r.created_at):
        protocols = run.summary.get("protocols", {})
        if not isinstance(protocols, dict):
            continue
        applied = run.summary.get("chat_template") or {}
        for task, p in protocols.items():
            if not isinstance(p, dict):
                continue
            key = (task, str(p.get("protocol_hash", "")))
            if key in rows:
                rows[key].runs.append(run.id)
                continue
            rows[key] = _protocol_row(task, p, run.id, applied.get(task) if isinstance(applied, dict) else None)
    return sorted(rows.values(), key=lambda r: r.task)


def _protocol_row(task: str, p: dict[str, Any], run_id: str, chat: object = None) -> ProtocolRow:
    """``chat``: whether the run applied the chat template (its summary says; older protocols
    stored the task's default in ``prompt.chat`` whatever ``--chat`` was)."""
    prompt = p.get("prompt") or {}
    fewshot = p.get("fewshot") or {}
    gen = p.get("generation")
    scoring = p.get("scoring") or {}
    text = "\n".join(str(prompt.get(k)) for k in ("description", "doc_to_text") if prompt.get(k))
    gen_text = ""
    if isinstance(gen, dict):
        gen_text = (
            f"max {gen.get('max_tokens')} tokens, stop {gen.get('stop')}, n={gen.get('n', 1)}, "
            f"temperature {gen.get('temperature', 0)}"
        )
    shots = fewshot.get("num_fewshot") if isinstance(fewshot, dict) else None
    return ProtocolRow(
        task=task,
        version=str(p.get("version", "")),
        dimension=str(p.get("dimension", "")),
        output_type=str(p.get("output_type", "")),
        shots=shots if isinstance(shots, int) else None,
        metrics=[str(m) for m in p.get("metrics", [])],
        chat=bool(chat) if isinstance(chat, bool) else bool(prompt.get("chat", False)),
        chain_of_thought=bool(fewshot.get("chain_of_thought", False)) if isinstance(fewshot, dict) else False,
        prompt=text,
        generation=gen_text,
        scoring=str(scoring.get("kind", "")) if isinstance(scoring, dict) else "",
        deviations=[str(d) for d in p.get("deviations", [])],
        protocol_hash=str(p.get("protocol_hash", "")),
        runs=[run_id],
    )
