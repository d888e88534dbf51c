"""Paired comparison of two measured entries: on the items behind the numbers they show.

Each entry's items are, per task, those of the run its score was chosen from
(``analysis.selection``), so the paired test compares the same numbers the leaderboard, the
report and the model pages show; dimension rows use only the tasks that count.
"""

from __future__ import annotations

from agimeter.analysis.compare import Comparison, compare_items
from agimeter.analysis.entry_model import ModelEntry
from agimeter.store.records import ItemRecord
from agimeter.store.repository import Store


def entry_items(store: Store, entry: ModelEntry) -> tuple[list[ItemRecord], dict[str, dict[str, object]]]:
    """The items and protocols behind the entry's scores: per task, those of the run it was chosen
    from (``analysis.selection``), so the paired test compares the numbers the pages show."""
    items: list[ItemRecord] = []
    protocols: dict[str, dict[str, object]] = {}
    by_run: dict[str, list[str]] = {}
    counted = {s.name for s in entry.scores if s.counted}  # only these make up the dimension rows
    for score in entry.scores:
        if score.run_id is not None:
            by_run.setdefault(score.run_id, []).append(score.name)
    for run_id, tasks in by_run.items():
        run = store.get_run(run_id)
        stored = run.summary.get("protocols", {})
        protocols.update({t: stored[t] for t in tasks if t in stored and t in counted})
        items += [item for item in store.run_items(run.id) if item.task in tasks]
    return items, protocols


def paired_comparison(store: Store, a: ModelEntry, b: ModelEntry) -> Comparison | None:
    """B - A on the items both entries' chosen runs scored with the same prompt; None when they
    are not both measured or share no item."""
    if a.provenance != "measured" or b.provenance != "measured" or a.key == b.key:
        return None
    items_a, protocols_a = entry_items(store, a)
    items_b, protocols_b = entry_items(store, b)
    result = compare_items(items_a, items_b, protocols={**protocols_b, **protocols_a})
    return result if result.shared_items else None
