"""Tree attention (chains + tiles) against one dense-mask SDPA call, and the forward planner."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agimeter.backends._packing import TokenTrie, plan_forwards, plan_groups, window_mask
from agimeter.backends._tree_attention import (
    MIN_CHAIN,
    TILE_ROWS,
    build_layout,
    dense_allowed,
    sdpa,
    tree_attention,
)

HEADS, KV_HEADS, DIM = 4, 2, 8


def random_row(seed: int, cached: int, shape: str) -> tuple[list[int], np.ndarray]:
    """(parent slots, depths) of a topologically ordered row, laid out as the packer does (each
    node's first child right after it). ``long``: items with long contexts and a few branches;
    ``forest``: many short items; ``chunk``: one chain continuing the cached trunk."""
    rng = random.Random(seed)
    parents: list[int] = []
    depths: list[int] = []

    def add(parent: int) -> int:
        parents.append(parent)
        depths.append(depths[parent] + 1 if parent >= 0 else cached)
        return len(parents) - 1

    def path(parent: int, length: int) -> int:
        for _ in range(length):
            parent = add(parent)
        return parent

    if shape == "chunk":
        path(-1, MIN_CHAIN + 40)
    items = {"long": 3, "forest": 60, "chunk": 2}[shape]
    for _ in range(items):
        context = rng.randint(MIN_CHAIN + 5, 3 * MIN_CHAIN) if shape == "long" else rng.randint(2, 12)
        end = path(-1, context)
        for _ in range(rng.randint(1, 4)):
            # Continuations branch off the context end or a little above it.
            branch = end if rng.random() < 0.7 else max(end - rng.randint(1, 3), end - context + 1)
            path(branch, rng.randint(1, 9))
    return parents, np.asarray(depths, dtype=np.int64)


def dense_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    parents: list[int],
    depths: np.ndarray,
    cached: int,
    window: int | None,
) -> torch.Tensor:
    allowed = dense_allowed(parents, cached)
    if window is not None:
        key_depths = np.concatenate([np.arange(cached), depths])
        allowed &= window_mask(depths, key_depths, window)
    mask = torch.from_numpy(allowed)[None, None]
    groups = HEADS // KV_HEADS
    out = F.scaled_dot_product_attention(
        q, k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1), attn_mask=mask
    )
    return out.transpose(1, 2)


class _Module(torch.nn.Module):
    layer_idx = 0


@pytest.mark.parametrize("shape", ["long", "forest", "chunk"])
@pytest.mark.parametrize("cached", [0, 23])
@pytest.mark.parametrize("window", [None, 9])
def test_tree_attention_equals_the_dense_mask(shape: str, cached: int, window: int | None) -> None:
    parents, depths = random_row(seed=len(shape) + cached, cached=cached, shape=shape)
    rows = len(parents)
    generator = torch.Generator().manual_seed(rows)
    q = torch.randn(1, HEADS, rows, DIM, generator=generator)
    k = torch.randn(1, KV_HEADS, cached + rows, DIM, generator=generator)
    v = torch.randn(1, KV_HEADS, cached + rows, DIM, generator=generator)
    layout = build_layout(parents, depths, cached, windows=True, device=torch.device("cpu"))
    if shape == "long":
        # Both code paths run; below a cached trunk only row 0 heads a chain (the rest hang off it).
        assert len(layout.chains) == (1 if cached else 3) and layout.tiles is not None
    if shape == "forest":
        assert not layout.chains and layout.tiles is not None and layout.tiles.batch > rows // TILE_ROWS
    if shape == "chunk" and cached:
        assert layout.chains[0][0] == 0  # a chain continuing the cached trunk
    ours, _ = tree_attention(_Module(), q, k, v, None, sliding_window=window, tree_layout=layout)
    reference = dense_reference(q, k, v, parents, depths, cached, window)
    assert ours.shape == (1, rows, HEADS, DIM)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_layout_without_windows_ignores_the_layers_window() -> None:
    parents, depths = random_row(seed=3, cached=0, shape="long")
    rows = len(parents)
    q, k, v = (torch.randn(1, h, rows, DIM) for h in (HEADS, KV_HEADS, KV_HEADS))
    layout = build_layout(parents, depths, 0, windows=False, device=torch.device("cpu"))
    ours, _ = tree_attention(_Module(), q, k, v, None, sliding_window=4, tree_layout=layout)
    torch.testing.assert_close(ours, dense_reference(q, k, v, parents, depths, 0, None), rtol=1e-5, atol=1e-5)


def test_tree_attention_outside_a_packed_forward_is_refused() -> None:
    q = torch.randn(1, HEADS, 3, DIM)
    with pytest.raises(RuntimeError, match="packed log-likelihood"):
        tree_attention(_Module(), q, q[:, :KV_HEADS], q[:, :KV_HEADS], None)


def _planned(budget: int, seed: int = 0) -> tuple[TokenTrie, list[list[int]], list[int], list]:
    """Requests like a few-shot run: a shared preamble, per-document contexts, k choices each."""
    rng = random.Random(seed)
    preamble = [rng.randrange(50) for _ in range(300)]
    trie = TokenTrie()
    paths, scored = [], []
    for doc in range(40):
        context = preamble + [rng.randrange(50) for _ in range(rng.randint(20, 60))] + [1000 + doc]
        for choice in range(4):
            continuation = [2000 + choice] + [rng.randrange(50) for _ in range(rng.randint(0, 5))]
            whole = context + continuation
            paths.append(trie.insert(whole[:-1]))
            scored.append(len(continuation))
    order = sorted(range(len(paths)), key=lambda i: [trie.tokens[n] for n in paths[i]])
    groups = plan_groups(paths, scored, order, budget, min(256, budget // 4))
    return trie, paths, scored, plan_forwards(groups, budget)


@pytest.mark.parametrize("budget", [64, 1024, 4096])
def test_every_request_is_answered_once_with_its_scored_nodes_in_the_row(budget: int) -> None:
    _, paths, scored, forwards = _planned(budget)
    answered = [index for forward in forwards for index in forward.requests]
    assert sorted(answered) == list(range(len(paths)))
    computed: set[int] = set()
    for forward in forwards:
        assert len(forward.nodes) <= budget or len(forward.requests) == 1
        row = set(forward.nodes)
        for index in forward.requests:
            assert set(paths[index][-scored[index] :]) <= row
            # Every ancestor is in the row or among the cached trunk nodes computed before.
            assert set(paths[index][: forward.cached]) <= computed
        computed |= row


def test_a_shared_trunk_rides_with_the_first_pack_and_is_computed_once() -> None:
    trie, _, _, forwards = _planned(1024)
    trunk_forwards = [f for f in forwards if f.keep]
    assert len(trunk_forwards) == 1 and trunk_forwards[0].requests  # folded into the first pack
    keep = trunk_forwards[0].keep
    assert keep >= 300
    assert all(f.cached == keep for f in forwards[1:])
    trunk = set(trunk_forwards[0].nodes[:keep])
    assert all(not trunk & set(f.nodes) for f in forwards[1:])  # the trunk is computed once
    assert {node for f in forwards for node in f.nodes} == set(range(len(trie.tokens)))


@pytest.mark.parametrize("masked", [True, False])
def test_grouped_heads_with_repeated_keys_equal_native_gqa(masked: bool) -> None:
    """The repeat-keys branch is what CUDA runs with a mask; here both branches run on the CPU."""
    q, k, v = torch.randn(2, HEADS, 17, DIM), torch.randn(2, KV_HEADS, 17, DIM), torch.randn(2, KV_HEADS, 17, DIM)
    mask = torch.rand(2, 1, 17, 17) > 0.5 if masked else None
    if mask is not None:
        mask[..., 0] = True
    native = sdpa(q, k, v, mask, None, native_gqa=True)
    repeated = sdpa(q, k, v, mask, None, native_gqa=False)
    torch.testing.assert_close(native, repeated, rtol=1e-5, atol=1e-6)
