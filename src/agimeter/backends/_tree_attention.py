"""Tree attention for packed log-likelihood forwards, as a transformers attention function.

A packed forward is a row of trie nodes (see ``_packing``) that attend to the trunk keys left in
the KV cache by earlier forwards (``cached``; every node descends from them) and to their own
ancestors in the row. A dense (row x keys) mask with one SDPA call computes that exactly, but it
pays for every masked score: the CPU kernels skip blocks only for ``is_causal``, so a 3,000-token
few-shot context costs the full square instead of the triangle, and a forest of short items pays
row length x row length for a few dozen ancestors each. The layout splits the row instead:

- **chains**: runs that start at a root (or, at row 0, right after the cached trunk) where each
  node is the previous one's child, i.e. a plain causal sequence: one SDPA call with
  ``is_causal`` (or a small offset mask after a cached trunk);
- **tiles**: every other node, in row order, cut into tiles of ``TILE_ROWS`` queries; a tile's
  keys are the cached trunk plus the union of its nodes' ancestors (gathered), its mask the tree
  relation between them. All tiles run as one batched SDPA call.

Both give exactly the dense mask's attention (the tests compare them). GQA runs without
repeating keys where the kernel allows it (CPU always; CUDA when there is no mask). Sliding
window layers AND the window (by depth) into each mask, as the dense path does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from agimeter.backends._packing import ancestor_mask, window_mask

ATTENTION_NAME = "agimeter_tree"
TILE_ROWS = 128
"""Queries per tile: small tiles waste fewer masked scores, large ones gather fewer keys."""
MIN_CHAIN = 32
"""Shorter causal runs go into tiles: a separate kernel call would cost more than it saves."""


@dataclass
class _Tiles:
    query_index: torch.Tensor  # (B * qmax,) row of each padded query
    key_index: torch.Tensor  # (B * kmax,) key position (cached + row) of each padded key
    allowed: np.ndarray  # (B, qmax, kmax) tree relation; pads see key 0 only and are dropped
    query_depths: np.ndarray  # (B, qmax)
    key_depths: np.ndarray  # (B, kmax)
    source: torch.Tensor  # positions in B * qmax that hold real queries ...
    target: torch.Tensor  # ... and their rows
    batch: int
    qmax: int
    kmax: int


@dataclass
class TreeLayout:
    """How one packed forward's attention is computed: chains plus one batch of tiles."""

    rows: int
    cached: int
    depths: np.ndarray
    """Trie depth of each row node (its position id)."""
    chains: list[tuple[int, int]]
    tiles: _Tiles | None
    windows: bool
    """Apply sliding windows where a layer asks for one (the backend found a sliding model)."""
    device: torch.device
    _masks: dict[tuple[str, int, int | None], torch.Tensor | None] = field(default_factory=dict)

    def chain_mask(self, start: int, stop: int, window: int | None) -> torch.Tensor | None:
        """None for a plain causal chain (``is_causal``); else a (q, k) mask for the chain's
        keys: [cached trunk +] the chain itself, windowed when the layer slides."""
        offset = self.cached if start == 0 else 0
        key = ("chain", start, window)
        if key not in self._masks:
            length = stop - start
            if offset == 0 and (window is None or window >= length):
                self._masks[key] = None
            else:
                query_depths = self.depths[start:stop]
                key_depths = np.concatenate([np.arange(offset), query_depths])
                allowed = np.ones((length, offset + length), dtype=bool)
                allowed[:, offset:] = np.tri(length, dtype=bool)
                if window is not None:
                    allowed &= window_mask(query_depths, key_depths, window)
                self._masks[key] = torch.from_numpy(allowed).to(self.device)[None, None]
        return self._masks[key]

    def tile_mask(self, window: int | None) -> torch.Tensor:
        """(B, 1, qmax, kmax) boolean mask of the tile batch."""
        tiles = self.tiles
        assert tiles is not None
        key = ("tiles", 0, window)
        cached = self._masks.get(key)
        if cached is None:
            allowed = tiles.allowed
            if window is not None:
                distance = tiles.query_depths[:, :, None] - tiles.key_depths[:, None, :]
                allowed = allowed & (distance < window)
                allowed[:, :, 0] |= ~allowed.any(-1)  # a pad row keeps one key (no NaN rows)
            cached = torch.from_numpy(np.ascontiguousarray(allowed)).to(self.device)[:, None]
            self._masks[key] = cached
        return cached


def build_layout(
    parent_slots: Sequence[int], depths: np.ndarray, cached: int, *, windows: bool, device: torch.device
) -> TreeLayout:
    """Layout of a row whose node i has its parent at row ``parent_slots[i]`` (-1: a root when
    nothing is cached, else a child of the cached trunk's last node)."""
    n = len(parent_slots)
    parents = np.asarray(parent_slots, dtype=np.int64)
    depth_array = depths.astype(np.int64, copy=False)
    chains: list[tuple[int, int]] = []
    in_chain = np.zeros(n, dtype=bool)
    i = 0
    while i < n:
        # A chain heads at a root, or at row 0 right after the cached trunk (a trunk chunk).
        if parents[i] < 0 and (cached == 0 or i == 0):
            j = i + 1
            while j < n and parents[j] == j - 1:
                j += 1
            if j - i >= MIN_CHAIN:
                chains.append((i, j))
                in_chain[i:j] = True
            i = j
        else:
            i += 1
    rest = np.flatnonzero(~in_chain)
    heads = {start for start, _ in chains}
    tiles = _build_tiles(parent_slots, rest, depth_array, cached, device, heads) if len(rest) else None
    return TreeLayout(n, cached, depth_array, chains, tiles, windows, device)


def _tile_rows(parents: np.ndarray, rows: np.ndarray, chain_heads: set[int]) -> list[np.ndarray]:
    """Cut ``rows`` (row order) into tiles of at most TILE_ROWS, also between the branches of two
    roots when either heads a chain (a tile would otherwise gather both long contexts as keys)."""
    root = np.arange(len(parents))
    for i, parent in enumerate(parents):
        if parent >= 0:
            root[i] = root[parent]
    tiles: list[list[int]] = []
    for row in rows.tolist():
        head, previous = int(root[row]), int(root[tiles[-1][0]]) if tiles else -1
        other_context = head != previous and (head in chain_heads or previous in chain_heads)
        if tiles and len(tiles[-1]) < TILE_ROWS and not other_context:
            tiles[-1].append(row)
        else:
            tiles.append([row])
    return [np.asarray(tile, dtype=np.int64) for tile in tiles]


def _build_tiles(
    parent_slots: Sequence[int],
    rows: np.ndarray,
    depths: np.ndarray,
    cached: int,
    device: torch.device,
    chain_heads: set[int],
) -> _Tiles:
    ancestors = ancestor_mask(parent_slots)
    groups = _tile_rows(np.asarray(parent_slots, dtype=np.int64), rows, chain_heads)
    key_sets = [np.flatnonzero(ancestors[group].any(axis=0)) for group in groups]
    batch, qmax = len(groups), max(len(g) for g in groups)
    kmax = cached + max(len(k) for k in key_sets)
    query_index = np.zeros((batch, qmax), dtype=np.int64)
    key_index = np.zeros((batch, kmax), dtype=np.int64)
    allowed = np.zeros((batch, qmax, kmax), dtype=bool)
    query_depths = np.zeros((batch, qmax), dtype=np.int64)
    key_depths = np.zeros((batch, kmax), dtype=np.int64)
    sources: list[np.ndarray] = []
    for b, (group, keys) in enumerate(zip(groups, key_sets, strict=True)):
        q, k = len(group), cached + len(keys)
        query_index[b, :q] = group
        query_index[b, q:] = group[0]
        key_index[b, :cached] = np.arange(cached)
        key_index[b, cached:k] = cached + keys
        allowed[b, :q, :cached] = True  # every row node descends from the whole cached trunk
        allowed[b, :q, cached:k] = ancestors[np.ix_(group, keys)]
        allowed[b, q:, 0] = True
        query_depths[b, :q] = depths[group]
        key_depths[b, :cached] = np.arange(cached)
        key_depths[b, cached:k] = depths[keys]
        sources.append(b * qmax + np.arange(q))
    return _Tiles(
        query_index=torch.from_numpy(query_index.reshape(-1)).to(device),
        key_index=torch.from_numpy(key_index.reshape(-1)).to(device),
        allowed=allowed,
        query_depths=query_depths,
        key_depths=key_depths,
        source=torch.from_numpy(np.concatenate(sources)).to(device),
        target=torch.from_numpy(rows).to(device),
        batch=batch,
        qmax=qmax,
        kmax=kmax,
    )


def dense_allowed(parent_slots: Sequence[int], cached: int) -> np.ndarray:
    """The (row, cached + row) boolean mask the layout computes (for masks-only attention)."""
    allowed = np.ones((len(parent_slots), cached + len(parent_slots)), dtype=bool)
    allowed[:, cached:] = ancestor_mask(parent_slots)
    return allowed


def sdpa(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float | None,
    native_gqa: bool | None = None,
) -> torch.Tensor:
    """SDPA with a boolean mask, or causal when there is none; grouped-query heads natively
    where the kernel supports it (``native_gqa`` None: CPU always, other devices without a mask,
    as CUDA's mask-capable kernel has no GQA and enable_gqa would fall back to the math kernel)."""
    groups = query.shape[1] // key.shape[1]
    if native_gqa is None:
        native_gqa = query.device.type == "cpu" or mask is None
    if groups > 1 and not native_gqa:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    return F.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, is_causal=mask is None, scale=scale, enable_gqa=groups > 1 and native_gqa
    )


def tree_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    tree_layout: TreeLayout | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function (``ALL_ATTENTION_FUNCTIONS``) computing ``tree_layout``.

    query (1, heads, rows, dim); key and value (1, kv heads, cached + rows, dim) after the cache
    update. Returns (1, rows, heads, dim) like transformers' sdpa function."""
    layout = tree_layout
    if layout is None:
        raise RuntimeError(f"{ATTENTION_NAME} attention runs only inside a packed log-likelihood forward")
    for unsupported in ("softcap", "s_aux"):
        if kwargs.get(unsupported) is not None:
            raise NotImplementedError(f"{ATTENTION_NAME} attention does not support {unsupported}")
    window = sliding_window if layout.windows else None
    heads, rows, dim = query.shape[1], query.shape[2], query.shape[3]
    kv_heads = key.shape[1]
    cached = key.shape[2] - rows
    if (rows, cached) != (layout.rows, layout.cached):
        raise RuntimeError(f"tree layout for {layout.rows} rows after {layout.cached} cached keys, got {rows}/{cached}")
    out = query.new_empty((1, rows, heads, dim))
    for start, stop in layout.chains:
        mask = layout.chain_mask(start, stop, window)
        keys = slice(0 if mask is not None and start == 0 else cached + start, cached + stop)
        result = sdpa(query[:, :, start:stop], key[:, :, keys], value[:, :, keys], mask, scaling)
        out[:, start:stop] = result.transpose(1, 2)
    tiles = layout.tiles
    if tiles is not None:
        batch, qmax, kmax = tiles.batch, tiles.qmax, tiles.kmax
        q = query[0].index_select(1, tiles.query_index).view(heads, batch, qmax, dim).transpose(0, 1)
        k = key[0].index_select(1, tiles.key_index).view(kv_heads, batch, kmax, dim).transpose(0, 1)
        v = value[0].index_select(1, tiles.key_index).view(kv_heads, batch, kmax, dim).transpose(0, 1)
        result = sdpa(q, k, v, layout.tile_mask(window), scaling)  # (B, heads, qmax, dim)
        flat = result.transpose(1, 2).reshape(batch * qmax, heads, dim)
        out[0].index_copy_(0, tiles.target, flat.index_select(0, tiles.source))
    return out, None


_registered: list[bool] = []


def _register() -> None:
    if not _registered:  # once: a wrapper registered later (a profiler's timer) stays in place
        from transformers import AttentionInterface

        AttentionInterface.register(ATTENTION_NAME, tree_attention)
        _registered.append(True)


def supports_tree_attention(model: Any) -> bool:
    """Whether ``model`` dispatches attention through transformers' attention interface with
    sdpa (models loaded with eager attention keep the dense-mask path)."""
    return str(getattr(model.config, "_attn_implementation", "")) == "sdpa"


@contextmanager
def tree_attention_enabled(model: Any) -> Iterator[None]:
    """Route ``model``'s attention through :func:`tree_attention` inside the block."""
    _register()
    configs = {id(m.config): m.config for m in model.modules() if hasattr(m, "config")}
    configs[id(model.config)] = model.config
    previous = {key: config._attn_implementation for key, config in configs.items()}
    try:
        for config in configs.values():
            config._attn_implementation = ATTENTION_NAME
        yield
    finally:
        for key, config in configs.items():
            config._attn_implementation = previous[key]
