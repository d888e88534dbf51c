"""Gather a report: read the store (measured runs), the published catalog and the progress
analyses (density, Pareto, trends) once into ``ReportData``. Analyses that cannot be computed
leave a note instead."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from sqlalchemy.engine import make_url

from agimeter import __version__
from agimeter.analysis.entries import ModelEntry, entries_from
from agimeter.analysis.runs import check_run, is_perf
from agimeter.analysis.selection import SelectionPolicy
from agimeter.analysis.side_by_side import (
    counterparts,
    side_by_side,
)
from agimeter.records.protocol import TaskProtocol
from agimeter.records.run import BadRunError, RunRecord
from agimeter.records.summary import EvalSummary
from agimeter.report.analyses import add_comparisons, add_progress, add_sweeps
from agimeter.report.data import REFERENCE_PUBLISHED, LawRow, ProtocolRow, ReportData, RunInfo
from agimeter.store.published_repo import PublishedSet
from agimeter.store.repository import Store


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
        if not isinstance(run.summary, EvalSummary):
            continue
        applied = run.summary.chat_template
        for task, p in run.summary.protocols.items():
            key = (task, p.protocol_hash or "")
            if key in rows:
                rows[key].runs.append(run.id)
                continue
            rows[key] = _protocol_row(task, p, run.id, applied.get(task))
    return sorted(rows.values(), key=lambda r: r.task)


def _protocol_row(task: str, p: TaskProtocol, run_id: str, chat: bool | None = None) -> ProtocolRow:
    """``chat``: whether the run applied the chat template (its summary says; older protocols
    stored the task's default in ``prompt.chat`` whatever ``--chat`` was)."""
    prompt = p.prompt
    text = "\n".join(t for t in (prompt.description, prompt.doc_to_text) if t) if prompt is not None else ""
    gen, gen_text = p.generation, ""
    if gen is not None:
        gen_text = f"max {gen.max_tokens} tokens, stop {gen.stop}, n={gen.n}, temperature {gen.temperature}"
    return ProtocolRow(
        task=task,
        version=str(p.version) if p.version is not None else "",
        dimension=p.dimension or "",
        output_type=p.output_type or "",
        shots=p.shots,
        metrics=list(p.metrics),
        chat=chat if chat is not None else p.chat,
        chain_of_thought=p.fewshot.chain_of_thought if p.fewshot is not None else False,
        prompt=text,
        generation=gen_text,
        scoring=p.scoring.kind if p.scoring is not None else "",
        deviations=list(p.deviations),
        protocol_hash=p.protocol_hash or "",
        runs=[run_id],
    )
