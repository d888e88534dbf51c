"""Log-probabilities at the scored positions, a bounded slice of the vocabulary matrix at a time.

A transformers CausalLM computes its head over every kept position in one go: [positions, vocab]
logits, and ``log_softmax`` makes a second copy. Where most positions are scored (a 0-shot forest
of short items) on a 152k-vocabulary model, one 4,096-token pack would hold two 2 GB matrices,
more than the whole model. Here the decoder's final hidden states come from the base model and
the head runs on a bounded slice of positions at a time (``slice_elements``); the work is the same.

``split_head`` takes the model apart only where that is exact: it checks, once at load on a few
tokens, that ``head(base(x))`` (with the config's final logit soft-capping, as Gemma 2 applies
it) equals the model's own logits. Any other post-processing (a logit scale, a custom head)
fails the check, and that model keeps its full logits, with the ``log_softmax`` still chunked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

CHUNK_ELEMENTS = 2**23
"""At least 32 MiB of fp32 logits per slice (see ``slice_elements``)."""
HEAD_SHARE = 4
"""... or a quarter of the head's weights: each slice streams the whole head matrix from memory,
so slices much smaller than it cost time. Measured at HellaSwag 0-shot: on SmolLM2 (head 113 MB)
128 MiB slices peaked 370 MiB higher in RSS than 32 MiB ones at the same speed; on Qwen2.5-0.5B
(head 545 MB) 32 MiB slices (55 positions) took 10.0 s against 9.2 s (20 items, 3 rounds)."""

Logits = Callable[[int, int], torch.Tensor]
"""Logits of kept positions [begin, end)."""


@dataclass(frozen=True)
class SplitHead:
    base: torch.nn.Module
    head: torch.nn.Module
    softcap: float | None
    vocab: int

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(hidden)
        if self.softcap:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out


def split_head(model: Any, device: torch.device) -> SplitHead | None:
    """The base model and head of ``model`` when they reproduce its logits exactly, else None."""
    base, head = getattr(model, "base_model", None), model.get_output_embeddings()
    if base is None or base is model or head is None:
        return None
    ids = torch.arange(1, 6, device=device)[None] % int(model.config.vocab_size)
    try:
        with torch.inference_mode():
            theirs = model(input_ids=ids).logits[0].float()
            split = SplitHead(base, head, getattr(model.config, "final_logit_softcapping", None), theirs.shape[-1])
            ours = split.logits(base(input_ids=ids).last_hidden_state[0]).float()
    except (TypeError, AttributeError, RuntimeError):
        return None
    if ours.shape != theirs.shape or not torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4):
        return None
    return split


def slice_elements(model: Any) -> int:
    """Logits per slice for ``model``: ``CHUNK_ELEMENTS``, or ``1 / HEAD_SHARE`` of its head's
    weights where that is more."""
    head = model.get_output_embeddings()
    weight = getattr(head, "weight", None)
    return max(CHUNK_ELEMENTS, int(weight.numel()) // HEAD_SHARE if isinstance(weight, torch.Tensor) else 0)


def pick(
    logits: Logits, positions: int, vocab: int, rows: torch.Tensor, tokens: torch.Tensor, elements: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p(token), token is the argmax) for each (row, token) pair of the kept positions
    [0, positions) of ``vocab`` logits each, computing their log-softmax ``elements`` logits
    (whole positions, at least one) at a time."""
    step = max(1, elements // max(1, vocab))
    picked = torch.empty(len(rows), dtype=torch.float32, device=rows.device)
    hits = torch.empty(len(rows), dtype=torch.bool, device=rows.device)
    for begin in range(0, positions, step):
        end = min(positions, begin + step)
        mine = ((rows >= begin) & (rows < end)).nonzero().flatten()
        if not len(mine):
            continue
        logprobs = torch.log_softmax(logits(begin, end).float(), dim=-1)
        local, wanted = rows[mine] - begin, tokens[mine]
        picked[mine] = logprobs[local, wanted]
        hits[mine] = logprobs.argmax(dim=-1)[local] == wanted
    return picked, hits
