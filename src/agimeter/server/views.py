"""What the pages and the API show beyond single entries: measured vs published pairs and
two-model comparisons. Pure functions of entries (and, for the paired test, the store)."""

from __future__ import annotations

from collections.abc import Sequence

from agimeter.analysis.benchmarks import BENCHMARKS
from agimeter.analysis.compare import Comparison, compare_items
from agimeter.analysis.entries import BenchScore, ModelEntry
from agimeter.backends.aliases import load_catalog as load_aliases
from agimeter.server.query import ttft_p50
from agimeter.server.schemas import CompareRow, CompareView, EntryRef, ProtocolDiff, RunKind, RunSummary
from agimeter.store.records import ItemRecord, RunRecord
from agimeter.store.repository import Store


def run_kind(run: RunRecord) -> RunKind:
    return "perf" if run.summary.get("kind") == "perf" else "eval"


def run_summary(run: RunRecord) -> RunSummary:
    return RunSummary(
        id=run.id,
        kind=run_kind(run),
        model=run.model,
        model_identity=run.model_identity,
        status=run.status,
        tasks=run.tasks,
        created_at=run.created_at,
        updated_at=run.updated_at,
        error=run.error,
    )


# measured vs published ------------------------------------------------------------------------
def hub_id(model: str) -> str | None:
    """The Hugging Face id a measured model string names: ``hf:Qwen/Qwen2.5-0.5B`` directly,
    ``hf:smollm2-135m-instruct`` through the alias catalog; None when it names neither."""
    name = model.split(":", 1)[-1].split("@", 1)[0].strip()
    if "/" in name and not name.startswith(("/", ".", "~")):
        return name
    alias = load_aliases().get(name)
    return alias.hf_id if alias else None


def counterparts(entry: ModelEntry, entries: Sequence[ModelEntry]) -> list[ModelEntry]:
    """The entries of the other provenance for the same checkpoint."""
    if entry.provenance == "measured":
        hub = hub_id(entry.model)
        if hub is None:
            return []
        return [e for e in entries if e.provenance == "published" and e.model.lower() == hub.lower()]
    return [
        e
        for e in entries
        if e.provenance == "measured" and (hub := hub_id(e.model)) and hub.lower() == entry.model.lower()
    ]


def _bench_key(score: BenchScore) -> str:
    return score.benchmark or score.name


def protocol_diffs(measured: ModelEntry, published: ModelEntry) -> list[ProtocolDiff]:
    """Per benchmark that either side has, the two numbers and how the protocols differ."""
    ours = {_bench_key(s): s for s in measured.scores if s.benchmark}
    theirs = {_bench_key(s): s for s in published.scores}
    rows = []
    for bench in sorted(set(ours) | set(theirs)):
        m, p = ours.get(bench), theirs.get(bench)
        if m is None and p is None:
            continue
        differences = []
        if m is None:
            differences.append("not measured by agimeter")
        elif p is None:
            differences.append("not published for this model")
        else:
            if m.shots != p.shots:
                differences.append(f"shots: measured {_shots(m.shots)}, published {_shots(p.shots)}")
            if m.metric and p.metric and m.metric != p.metric:
                differences.append(f"metric: measured {m.metric}, published {p.metric}")
            if m.name != bench:
                differences.append(f"measured with task {m.name}")
            note = BENCHMARKS[bench].task_note if bench in BENCHMARKS else ""
            if note:
                differences.append(note)
            differences.append(f"measured protocol: {m.protocol or 'n/a'}")
            differences.append(f"published protocol: {p.protocol or 'n/a'}")
        rows.append(
            ProtocolDiff(
                benchmark=bench,
                measured=m.value if m else None,
                published=p.value if p else None,
                diff=m.value - p.value if m and p else None,
                measured_task=m.name if m else None,
                differences=differences,
            )
        )
    return rows


def _shots(shots: int | None) -> str:
    return "?" if shots is None else f"{shots}-shot"


# comparison -----------------------------------------------------------------------------------
def _row(name: str, a: float | None, b: float | None, note: str = "") -> CompareRow:
    return CompareRow(name=name, a=a, b=b, diff=b - a if a is not None and b is not None else None, note=note)


def _describe(score: BenchScore | None) -> str:
    if score is None:
        return "—"
    shots = "" if score.shots is None else f", {score.shots}-shot"
    return f"{score.provenance}, {score.metric or 'metric n/a'}{shots}"


def _latency(entry: ModelEntry, field: str) -> float | None:
    points = sorted(entry.latency, key=lambda p: p.level)
    if not points:
        return None
    if field == "output_tokens_per_s":
        return points[0].output_tokens_per_s
    dist = getattr(points[0], field)
    return float(dist.p50) if dist is not None else None


def compare_entries(a: ModelEntry, b: ModelEntry, store: Store | None = None) -> CompareView:
    scores_a = {_bench_key(s): s for s in a.scores}
    scores_b = {_bench_key(s): s for s in b.scores}
    benchmarks = [
        _row(
            name,
            scores_a[name].value if name in scores_a else None,
            scores_b[name].value if name in scores_b else None,
            f"A: {_describe(scores_a.get(name))}; B: {_describe(scores_b.get(name))}",
        )
        for name in sorted(set(scores_a) | set(scores_b))
    ]
    dims = sorted(set(a.dimensions) | set(b.dimensions))
    cost_a = a.cost.usd_per_1m_blended if a.cost else None
    cost_b = b.cost.usd_per_1m_blended if b.cost else None
    return CompareView(
        a=EntryRef(key=a.key, model=a.model, provenance=a.provenance),
        b=EntryRef(key=b.key, model=b.model, provenance=b.provenance),
        overall=_row("overall", a.overall, b.overall),
        dimensions=[_row(d, a.dimensions.get(d), b.dimensions.get(d)) for d in dims],
        benchmarks=benchmarks,
        cost=_row(
            "usd_per_1m_blended",
            cost_a,
            cost_b,
            f"A: {a.cost.basis if a.cost else '—'}; B: {b.cost.basis if b.cost else '—'}",
        ),
        latency=[
            _row("ttft_p50_ms", ttft_p50(a), ttft_p50(b)),
            _row("tpot_p50_ms", _latency(a, "tpot"), _latency(b, "tpot")),
            _row("e2e_p50_ms", _latency(a, "e2e"), _latency(b, "e2e")),
            _row("output_tokens_per_s", _latency(a, "output_tokens_per_s"), _latency(b, "output_tokens_per_s")),
        ],
        paired=_paired(a, b, store) if store is not None else None,
    )


def _items_and_protocols(store: Store, entry: ModelEntry) -> tuple[list[ItemRecord], dict[str, dict[str, object]]]:
    """The newest item per (task, doc) over the entry's evaluation runs, and their protocols."""
    items: dict[tuple[str, int], ItemRecord] = {}
    protocols: dict[str, dict[str, object]] = {}
    for run_id in entry.runs:  # oldest first, as the entry lists them
        run = store.get_run(run_id)
        if run_kind(run) == "perf":
            continue
        protocols.update(run.summary.get("protocols", {}))
        for item in store.run_items(run.id):
            items[(item.task, item.doc_id)] = item
    return list(items.values()), protocols


def _paired(a: ModelEntry, b: ModelEntry, store: Store) -> Comparison | None:
    if a.provenance != "measured" or b.provenance != "measured" or a.key == b.key:
        return None
    items_a, protocols_a = _items_and_protocols(store, a)
    items_b, protocols_b = _items_and_protocols(store, b)
    result = compare_items(items_a, items_b, protocols={**protocols_b, **protocols_a})
    return result if result.shared_items else None
