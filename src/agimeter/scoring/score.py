"""Score one item outside a run (tests, benchmarks, stack comparisons) through its task's scorer."""

from __future__ import annotations

from collections.abc import Sequence

from agimeter.scoring.base import Answer, ItemScore, ScoreFailure, ScoringContext
from agimeter.scoring.multiple_choice import mc2
from agimeter.scoring.registry import scorer_for
from agimeter.scoring.scorers.exact_match import extract_answer
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec

__all__ = ["ItemScore", "extract_answer", "mc2", "score_item"]


def score_item(
    spec: TaskSpec,
    item: Item,
    *,
    loglikelihoods: Sequence[float] | None = None,
    is_greedy: Sequence[bool] | None = None,
    generation: str | None = None,
    generations: Sequence[str] | None = None,
    context: ScoringContext | None = None,
) -> ItemScore:
    """Score one item: MC needs ``loglikelihoods`` (one per choice); generate needs the text
    (``generation``, or ``generations`` for n samples). Code tasks run the sandbox here."""
    texts = list(generations) if generations is not None else [generation] if generation is not None else []
    answer = Answer(
        item,
        loglikelihoods=tuple(loglikelihoods or ()),
        is_greedy=tuple(is_greedy) if is_greedy is not None else None,
        generations=tuple(texts),
    )
    scored: list[ItemScore | ScoreFailure] = []
    scorer = scorer_for(spec)
    scorer.score(spec, [answer], context or ScoringContext(), lambda _, score: scored.append(score))
    if len(scored) != 1:
        raise RuntimeError(f"scorer {scorer.name!r} returned {len(scored)} scores for one item")
    if isinstance(scored[0], ScoreFailure):
        raise ScoringFailedError(f"{spec.name} doc {item.doc_id}: {scored[0].kind}: {scored[0].message}")
    return scored[0]


class ScoringFailedError(RuntimeError):
    """The scorer could not score the item now (its judge failed or gave no verdict)."""
