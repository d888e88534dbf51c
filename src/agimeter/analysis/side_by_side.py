"""Measured next to published: for a measured model, the reported numbers of the same checkpoint,
per benchmark, with every protocol difference listed.

The published side comes from the imported catalog (matched on the hub id) and from the model
cards recorded with agimeter's model aliases (``backends/aliases.yaml``). Nothing is averaged
across the two: each row keeps both numbers and says how they were obtained.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from agimeter.analysis.benchmarks import BENCHMARKS, benchmark_of_task, normalized
from agimeter.analysis.entry_model import BenchScore, ModelEntry, slug
from agimeter.backends.aliases import ModelAlias, load_catalog

# Model-card benchmark names -> catalog benchmark keys (only where the card's protocol is the
# usual one for that benchmark; "MMLU (cloze)" or an ARC average stay unlinked).
CARD_NAMES = {
    "hellaswag": "hellaswag",
    "gsm8k": "gsm8k",
    "bbh": "bbh",
    "ifeval": "ifeval",
    "arc-challenge": "arc_challenge",
    "winogrande": "winogrande",
    "mmlu": "mmlu",
}


class SideBySideRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    benchmark: str
    measured: BenchScore
    published: BenchScore
    published_model: str
    difference: float  # measured − published, percentage points
    within_ci: bool | None  # the published value lies inside the measured 95% CI
    protocol_differences: list[str] = Field(default_factory=list)


def hub_id(model: str) -> str | None:
    """The hub id a measured model string names: ``hf:Qwen/Qwen2.5-0.5B`` directly (``@rev``
    stripped), ``hf:smollm2-135m-instruct`` through the alias catalog; None for a local path."""
    name = model.split(":", 1)[-1].split("@", 1)[0].strip()
    if "/" in name and not name.startswith(("/", ".", "~")):
        return name
    alias = load_catalog().get(name)
    return alias.hf_id if alias is not None else None


def alias_card_entries() -> list[ModelEntry]:
    """The model-card scores recorded with each alias, as published entries."""
    return [_card_entry(a) for a in load_catalog().values() if a.published]


def _card_entry(alias: ModelAlias) -> ModelEntry:
    scores = []
    for p in alias.published:
        key = CARD_NAMES.get(p.benchmark.lower())
        bench = BENCHMARKS.get(key) if key else None
        scores.append(
            BenchScore(
                name=p.benchmark,
                benchmark=key,
                dimension=bench.dimension if bench else None,
                value=p.value,
                metric=p.metric or "",
                shots=p.shots,
                normalized=normalized(p.value, bench.chance) if bench else None,
                protocol=p.protocol,
                source=p.source,
                provenance="published",
            )
        )
    return ModelEntry(
        key="p-card-" + slug(alias.alias),
        model=alias.hf_id,
        provenance="published",
        family=alias.hf_id.split("/")[-1].split("-")[0],
        params_b=alias.num_parameters / 1e9,
        scores=scores,
        sources=sorted({p.source for p in alias.published}),
    )


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


def with_release_dates(entries: Sequence[ModelEntry]) -> list[ModelEntry]:
    """Measured entries take the catalog's facts about their published counterpart (the same
    checkpoint): its release date (labelled as such), family, variant and organization, and the
    parameter counts a run does not measure (non-embedding, active). So measured results join the
    density, Pareto and trend views next to their published family."""
    out = []
    for entry in entries:
        if entry.provenance == "measured":
            found = [p for p in counterparts(entry, entries) if p.family or p.released is not None]
            catalog = sorted(found, key=lambda p: p.released is None)  # a dated catalog row before a model card
            if catalog:
                entry = entry.model_copy(update=_counterpart_facts(entry, catalog[0]))
        out.append(entry)
    return out


def _counterpart_facts(entry: ModelEntry, published: ModelEntry) -> dict[str, object]:
    update: dict[str, object] = {}
    if entry.released is None and published.released is not None:
        update["released"] = published.released
        update["released_label"] = f"{published.released_label} (published release of {published.model})"
    for field in ("family", "variant", "organization"):
        if getattr(published, field):  # the catalog's name for the family beats an alias's guess
            update[field] = getattr(published, field)
    for field in ("params_non_embedding_b", "params_active_b"):
        if getattr(entry, field) is None and getattr(published, field) is not None:
            update[field] = getattr(published, field)
    return update


def side_by_side(measured: ModelEntry, published: Sequence[ModelEntry]) -> list[SideBySideRow]:
    rows = []
    for pub in counterparts(measured, published):
        for m in measured.scores:
            bench = benchmark_of_task(m.name)
            if bench is None:
                continue
            for p in pub.scores:
                if p.benchmark != bench.name:
                    continue
                has_ci = m.ci_low is not None and m.ci_high is not None and m.status == "ok"
                # no verdict on a score that does not count (too few items, another protocol)
                inside = m.ci_low <= p.value <= m.ci_high if has_ci and m.ci_low is not None and m.ci_high else None
                rows.append(
                    SideBySideRow(
                        benchmark=bench.name,
                        measured=m,
                        published=p,
                        published_model=pub.model,
                        difference=m.value - p.value,
                        within_ci=inside,
                        protocol_differences=protocol_differences(m, p, bench.task_note),
                    )
                )
    return rows


def protocol_differences(measured: BenchScore, published: BenchScore, task_note: str = "") -> list[str]:
    """Every way the two numbers were obtained differently, in words."""
    out = []
    if measured.status_note:
        out.append(measured.status_note)
    if measured.run_id:
        out.append(f"measured: {measured.selection or 'run ' + measured.run_id}")
    if measured.shots != published.shots:
        theirs = "not stated" if published.shots is None else f"{published.shots}-shot"
        out.append(f"shots: {measured.shots}-shot measured vs {theirs} published")
    if published.metric and measured.metric and not published.metric.lower().startswith(measured.metric.lower()):
        out.append(f"metric: {measured.metric} measured vs {published.metric!r} published")
    if measured.n is not None and measured.ci_low is not None and measured.ci_high is not None:
        out.append(f"measured on {measured.n} items (95% CI {measured.ci_low:.1f}-{measured.ci_high:.1f})")
    if measured.benchmark and measured.name != measured.benchmark:
        out.append(f"measured with agimeter task {measured.name}")
    if task_note:
        out.append(task_note)
    out.append(f"measured protocol: {measured.protocol or 'n/a'}")
    out.append(f"published protocol: {published.protocol or 'n/a'}")
    return out
