"""Ranking like with like: an entry's overall index is ranked only among entries whose overall
covers the same dimensions.

An overall index is the mean over the dimensions an entry was measured (or reported) on, so two
entries with different coverage average different things: an instruct model reporting IFEval
would outrank its base model on a dimension the base model was never scored on. Entries are
therefore grouped by coverage (the set of dimensions behind ``overall``); ``rank`` is the place
within the group (1 = best), ``rank_among`` the group's size. An entry without an overall index
is unranked. Groups are listed widest coverage first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from agimeter.analysis.entry_model import ModelEntry
from agimeter.tasks.dimensions import DIMENSIONS

ALL_DIMENSIONS: tuple[str, ...] = DIMENSIONS


def coverage_text(entry: ModelEntry) -> str:
    """ "4/8 dimensions" (or "–" when the entry has no overall index)."""
    return f"{len(entry.coverage)}/{len(ALL_DIMENSIONS)} dimensions" if entry.coverage else "–"


def group_key(entry: ModelEntry) -> tuple[int, str]:
    """Order of coverage groups: widest first, then by the dimensions' names."""
    return (-len(entry.coverage), ",".join(sorted(entry.coverage)))


def with_ranks(entries: Sequence[ModelEntry]) -> list[ModelEntry]:
    """The entries with ``rank`` and ``rank_among`` set within their coverage group."""
    groups: dict[tuple[int, str], list[ModelEntry]] = defaultdict(list)
    for e in entries:
        if e.overall is not None and e.coverage:
            groups[group_key(e)].append(e)
    ranks: dict[str, tuple[int, int]] = {}
    for members in groups.values():
        ordered = sorted(members, key=lambda e: (-(e.overall or 0.0), e.model, e.key))
        ranks.update({e.key: (i + 1, len(ordered)) for i, e in enumerate(ordered)})
    return [
        e.model_copy(update={"rank": ranks[e.key][0], "rank_among": ranks[e.key][1]})
        if e.key in ranks
        else e.model_copy(update={"rank": None, "rank_among": None})
        for e in entries
    ]
