"""Stratified, seeded document order: every prefix of it is (close to) a proportional
stratified sample, so ``--sample N`` takes its first N documents and ``--target-ci`` can stop
after any prefix with every stratum represented in proportion."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence


def stratified_order(strata: Sequence[str | None], seed: int) -> list[int]:
    """Indices 0..len-1 ordered so that stratum h's i-th (shuffled) member sits at key
    (i + u_h) / N_h, u_h uniform in [0, 1): strata interleave in proportion to their sizes."""
    rng = random.Random(seed)
    members: dict[str | None, list[int]] = defaultdict(list)
    for index, stratum in enumerate(strata):
        members[stratum].append(index)
    keyed: list[tuple[float, float, int]] = []
    for stratum in sorted(members, key=lambda s: (s is None, s or "")):
        group = members[stratum]
        rng.shuffle(group)
        offset = rng.random()
        for i, index in enumerate(group):
            keyed.append(((i + offset) / len(group), rng.random(), index))
    keyed.sort()
    return [index for _, _, index in keyed]


def population(strata: Sequence[str | None]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for stratum in strata:
        counts[stratum or ""] += 1
    return dict(counts)
