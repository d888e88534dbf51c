"""Tree packing for log-likelihood: requests that share a token prefix share its computation.

Long prefixes shared by a run of requests that does not fit one pack (a few-shot preamble across a
subject's questions) become a *trunk*: computed once into a KV cache that every pack of the run
attends to. ``plan_forwards`` turns groups into model calls: a trunk's last chunk rides in the
same forward as its first pack, so a run that fits the budget costs one forward.

Every request's model input (context + continuation minus its last token) is inserted into a
token trie. Packs are sets of trie nodes, each a union of whole root-to-leaf paths, so a pack is
a forest laid out in one row: a node attends to itself and its ancestors only, and its position
id is its depth, which reproduces exactly what a plain causal forward over the path computes.
Sliding-window layers additionally drop ancestors (and trunk tokens) ``window`` or more positions
above a node (``window_mask``), as their plain causal forward does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TokenTrie:
    """Flat trie: node ``i`` holds ``tokens[i]`` below ``parents[i]`` (-1 for a root)."""

    tokens: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    _children: list[dict[int, int]] = field(default_factory=list)
    _roots: dict[int, int] = field(default_factory=dict)

    def insert(self, sequence: Sequence[int]) -> list[int]:
        """Insert ``sequence``; return the node id of each of its tokens."""
        path: list[int] = []
        parent = -1
        for token in sequence:
            children = self._roots if parent < 0 else self._children[parent]
            node = children.get(token)
            if node is None:
                node = len(self.tokens)
                self.tokens.append(token)
                self.parents.append(parent)
                self.depths.append(len(path))
                self._children.append({})
                children[token] = node
            path.append(node)
            parent = node
        return path


@dataclass
class Pack:
    """One packed row: trie nodes in topological order and the requests answered from it."""

    nodes: list[int]
    requests: list[int]


@dataclass
class Group:
    """Requests sharing ``trunk`` (root-first node ids, possibly empty) and their packs below it."""

    trunk: list[int]
    packs: list[Pack]


@dataclass
class Forward:
    """One model call: ``nodes`` (topological order) attend to the first ``cached`` trunk nodes,
    left in the KV cache by earlier forwards, and to their own ancestors among ``nodes``."""

    group: int
    nodes: list[int]
    cached: int
    keep: int
    """Leading nodes of ``nodes`` (trunk) whose keys stay cached for the group's later forwards."""
    requests: list[int]
    """Requests whose scored nodes are all computed here."""


def plan_groups(
    paths: Sequence[Sequence[int]],
    scored: Sequence[int],
    order: Sequence[int],
    budget: int,
    min_trunk: int,
) -> list[Group]:
    """Split requests (sorted by token sequence in ``order``) into runs sharing a trunk of at least
    ``min_trunk`` nodes; runs with shorter shared prefixes, or small enough to fit one pack, are
    tree-packed without a trunk.

    A trunk never includes a node whose output is scored (the last ``scored[i]`` of path i)."""
    runs: list[tuple[int, list[int]]] = []
    for index in order:
        path = paths[index]
        limit = len(path) - scored[index]
        if runs:
            trunk, members = runs[-1]
            first = paths[members[0]]
            common = 0
            bound = min(trunk, limit)
            while common < bound and first[common] == path[common]:
                common += 1
            if common >= min_trunk:
                runs[-1] = (common, [*members, index])
                continue
        runs.append((limit, [index]))
    groups: list[Group] = []
    loose: list[int] = []
    for trunk, members in runs:
        below = len({node for index in members for node in paths[index][trunk:]})
        # A trunk pays off only when the run does not fit one pack anyway; otherwise packing the
        # run with its neighbours avoids a forward pass for a handful of tokens.
        if trunk < min_trunk or trunk + below <= budget:
            loose.extend(members)
            continue
        if loose:
            groups.append(Group([], plan_packs(paths, loose, budget)))
            loose = []
        # The trunk's last chunk (all of it, usually) shares the first pack's forward.
        tail = trunk - budget * ((trunk - 1) // budget)
        first_budget = budget - tail if budget - tail >= budget // 4 else budget
        packs = plan_packs(paths, members, budget, skip=trunk, first_budget=first_budget)
        groups.append(Group(list(paths[members[0]][:trunk]), packs))
    if loose:
        groups.append(Group([], plan_packs(paths, loose, budget)))
    return groups


def plan_packs(
    paths: Sequence[Sequence[int]],
    order: Sequence[int],
    budget: int,
    skip: int = 0,
    first_budget: int | None = None,
) -> list[Pack]:
    """Group requests (taken in ``order``) into packs of at most ``budget`` distinct nodes
    (``first_budget`` for the first pack), leaving out each path's first ``skip`` nodes (the
    group's trunk).

    ``order`` should sort requests by token sequence so that shared prefixes are adjacent. A
    request whose path alone exceeds the budget gets a pack of its own."""
    packs: list[Pack] = []
    members: set[int] = set()
    nodes: list[int] = []
    requests: list[int] = []
    limit = budget if first_budget is None else first_budget
    for index in order:
        path = paths[index][skip:]
        # Paths are prefix-closed, so the nodes missing from the pack form a suffix of the path.
        shared = 0
        while shared < len(path) and path[shared] in members:
            shared += 1
        new = path[shared:]
        if requests and len(nodes) + len(new) > limit:
            packs.append(Pack(nodes, requests))
            members, nodes, requests = set(), [], []
            new = path
            limit = budget
        members.update(new)
        nodes.extend(new)
        requests.append(index)
    if requests:
        packs.append(Pack(nodes, requests))
    return packs


def plan_forwards(groups: Sequence[Group], budget: int) -> list[Forward]:
    """Model calls for ``groups`` (from :func:`plan_groups` with the same ``budget``): a trunk is
    computed in chunks of ``budget`` nodes, the last one together with the first pack when both
    fit; every other pack is one forward attending to the cached trunk."""
    forwards: list[Forward] = []
    for index, group in enumerate(groups):
        trunk, packs = group.trunk, list(group.packs)
        done = 0
        while done < len(trunk):
            rest = trunk[done:]
            if packs and len(rest) + len(packs[0].nodes) <= budget:
                first = packs.pop(0)
                forwards.append(Forward(index, rest + first.nodes, done, len(rest), first.requests))
                done = len(trunk)
            else:
                chunk = rest[:budget]
                forwards.append(Forward(index, chunk, done, len(chunk), []))
                done += len(chunk)
        forwards += [Forward(index, pack.nodes, len(trunk), 0, pack.requests) for pack in packs]
    return forwards


def ancestor_mask(parent_slots: Sequence[int]) -> np.ndarray:
    """Boolean (n, n) mask: row i is True at i and at every ancestor of i.

    ``parent_slots[i]`` is the row of i's parent (always < i), or -1 for a root."""
    n = len(parent_slots)
    mask = np.zeros((n, n), dtype=bool)
    for row, parent in enumerate(parent_slots):
        if parent >= 0:
            mask[row, : parent + 1] = mask[parent, : parent + 1]
        mask[row, row] = True
    return mask


def window_mask(query_depths: np.ndarray, key_depths: np.ndarray, window: int) -> np.ndarray:
    """Boolean (q, k) mask: True where key depth > query depth - ``window`` (transformers' sliding
    window rule, ``q - k < window``); AND it with the tree mask for sliding-window layers."""
    distance: np.ndarray = np.asarray(query_depths)[:, None] - np.asarray(key_depths)[None, :]
    return distance < window


def fair_shares(paths: Sequence[Sequence[int]], requests: Sequence[int], skip: int = 0) -> list[float]:
    """Each request's share of a pack's nodes: a node's unit is split evenly among the requests
    whose path runs through it, so shares sum to the number of distinct nodes."""
    users: dict[int, int] = {}
    for index in requests:
        for node in paths[index][skip:]:
            users[node] = users.get(node, 0) + 1
    return [sum(1.0 / users[node] for node in paths[index][skip:]) for index in requests]


def round_preserving_sum(values: Sequence[float]) -> list[int]:
    """Round to ints whose sum equals the rounded total (largest remainder method)."""
    floors = [int(v) for v in values]
    missing = round(sum(values)) - sum(floors)
    by_remainder = sorted(range(len(values)), key=lambda i: floors[i] - values[i])
    for i in by_remainder[: max(missing, 0)]:
        floors[i] += 1
    return floors
