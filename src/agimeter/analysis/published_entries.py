"""Published leaderboard entries: one per catalog model, with its reported scores and, where a
hosted product is linked to the checkpoint, that product's API price."""

from __future__ import annotations

from collections import defaultdict

from agimeter.analysis.benchmarks import BENCHMARKS, normalized
from agimeter.analysis.entry_model import BenchScore, CostInfo, ModelEntry, slug
from agimeter.analysis.price_links import linked_price
from agimeter.store.published_repo import PublishedSet


def _published_cost(published: PublishedSet, model_id: str, usd_per_cny: float | None) -> CostInfo | None:
    p = linked_price(published, model_id, usd_per_cny)
    if p is None:
        return None
    return CostInfo(
        usd_per_1m_input=p.usd_per_1m_input,
        usd_per_1m_output=p.usd_per_1m_output,
        usd_per_1m_blended=p.usd_per_1m_blended,
        basis=f"published API price: {p.provider} {p.model}, {p.date} ({p.source}); "
        "a hosted product linked to this checkpoint",
        provenance="published",
        kind="api",
    )


def published_entries(published: PublishedSet, usd_per_cny: float | None = None) -> list[ModelEntry]:
    out = []
    for catalog, model in published.models:
        scores = [
            BenchScore(
                name=s.benchmark,
                benchmark=s.benchmark,
                dimension=BENCHMARKS[s.benchmark].dimension if s.benchmark in BENCHMARKS else None,
                value=s.value,
                metric=s.metric,
                shots=s.shots,
                normalized=normalized(s.value, BENCHMARKS[s.benchmark].chance) if s.benchmark in BENCHMARKS else None,
                protocol=f"{s.shots if s.shots is not None else '?'}-shot {s.metric}; {s.setting}",
                source=published.cite(catalog, s.source).text(),
                provenance="published",
            )
            for s in model.scores
        ]
        dims: dict[str, list[float]] = defaultdict(list)
        for s in scores:
            if s.dimension and s.normalized is not None:
                dims[s.dimension].append(s.normalized)
        dimensions = {d: sum(v) / len(v) for d, v in sorted(dims.items())}
        out.append(
            ModelEntry(
                key="p-" + slug(f"{catalog}-{model.id}"),
                model=model.id,
                provenance="published",
                family=model.family or None,
                organization=model.organization or None,
                variant=model.variant,
                released=model.release_date(),
                released_label=model.released.isoformat() if model.released else model.released_approx,
                params_b=model.params_total_b,
                params_non_embedding_b=model.params_non_embedding_b,
                params_active_b=model.params_active_b,
                # published sizes say nothing about precision: bf16 (2 bytes per parameter) is assumed
                weights_gb=model.params_total_b * 2 if model.params_total_b else None,
                weights_basis="estimate: total parameters x 2 bytes (bf16)" if model.params_total_b else None,
                scores=scores,
                dimensions=dimensions,
                overall=sum(dimensions.values()) / len(dimensions) if dimensions else None,
                coverage=list(dimensions),
                cost=_published_cost(published, model.id, usd_per_cny),
                sources=sorted({published.cite(catalog, model.source).text()} | {s.source for s in scores}),
            )
        )
    return out
