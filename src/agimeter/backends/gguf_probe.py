"""Two probes of a GGUF model beyond task scores: its next-token distributions against a
reference's on a fixed text (llama.cpp-style KL divergence), and its prefill/decode speed.

**Text divergence**, as ``llama-perplexity --kl-divergence`` computes it: the text's tokens are cut
into chunks of ``chunk`` tokens, each evaluated from an empty context (its first token replaced by
BOS when the model adds one); at every position of a chunk's second half the full next-token
distribution of the reference P and of the variant Q give KL(P‖Q) = Σ_v P(v) (log P(v) − log Q(v)),
and "same top p" is the share of positions whose most likely token is the same. Here both models
are evaluated side by side in full precision (float64 over the logits), where llama.cpp stores the
reference's log-probs in 16 bits per token in a file first. The token the text actually has next
gives both models' perplexity too.

**Speed**, as ``llama-bench`` measures it: prefill of a ``prompt_tokens`` prompt from an empty cache
(tokens / time to the first generated token), then ``gen_tokens`` greedy tokens past EOS (decode
tokens/s between the first and the last), repeated; the median of the repeats is reported.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agimeter.errors import ModelError

if TYPE_CHECKING:
    from agimeter.backends.gguf import GGUFBackend

# Rows of logits handled at once in float64 (a 152k vocabulary: 32 rows = 39 MB).
ROW_BLOCK = 32


class TextDivergence(BaseModel):
    """A variant's next-token distributions vs the reference's on a fixed text."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    text: str  # where the text came from
    text_sha256: str
    chunk_tokens: int
    chunks: int
    scored_tokens: int
    mean_kld: float = Field(ge=0)  # nats per token
    kld_stderr: float = Field(ge=0)
    kld_p99: float = Field(ge=0)
    kld_max: float = Field(ge=0)
    same_top_p: float = Field(ge=0, le=1)  # share of positions with the same most likely token
    same_top_p_stderr: float = Field(ge=0)
    ppl_reference: float
    ppl_variant: float
    ln_ppl_ratio: float  # mean over tokens of NLL(variant) - NLL(reference)
    ln_ppl_ratio_stderr: float = Field(ge=0)


class SpeedProbe(BaseModel):
    """Prefill and decode throughput of a model on this machine (medians over ``repeats``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    prompt_tokens: int
    gen_tokens: int
    repeats: int
    threads: str
    prefill_tokens_per_s: float = Field(gt=0)
    decode_tokens_per_s: float = Field(gt=0)
    prefill_runs: list[float]
    decode_runs: list[float]


def log_softmax(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Row-wise log-softmax in float64."""
    rows = np.asarray(logits, dtype=np.float64)
    peak = rows.max(axis=-1, keepdims=True)
    return np.asarray(rows - peak - np.log(np.exp(rows - peak).sum(axis=-1, keepdims=True)))


def token_kl(reference_logits: np.ndarray[Any, Any], variant_logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """KL(P‖Q) per row, P = softmax(reference row), Q = softmax(variant row), in nats (≥ 0)."""
    return _kl(log_softmax(reference_logits), log_softmax(variant_logits))


def _kl(log_p: np.ndarray[Any, Any], log_q: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    # Rounding can make a zero divergence a hair negative.
    return np.asarray(np.maximum(0.0, (np.exp(log_p) * (log_p - log_q)).sum(axis=-1)))


class DivergenceSums:
    """Per-position results over the chunks seen so far."""

    def __init__(self) -> None:
        self.kld: list[np.ndarray[Any, Any]] = []
        self.same_top: list[np.ndarray[Any, Any]] = []
        self.nll_reference: list[np.ndarray[Any, Any]] = []
        self.nll_variant: list[np.ndarray[Any, Any]] = []

    def add(
        self,
        reference_logits: np.ndarray[Any, Any],
        variant_logits: np.ndarray[Any, Any],
        targets: Sequence[int],
    ) -> None:
        """Rows of logits at the scored positions and the token that follows each."""
        if reference_logits.shape != variant_logits.shape or len(targets) != len(reference_logits):
            raise ValueError("reference and variant logits and the targets must have the same rows")
        target = np.asarray(targets)
        for start in range(0, len(target), ROW_BLOCK):
            ref = log_softmax(reference_logits[start : start + ROW_BLOCK])
            var = log_softmax(variant_logits[start : start + ROW_BLOCK])
            picked = target[start : start + ROW_BLOCK]
            rows = np.arange(len(picked))
            self.kld.append(_kl(ref, var))
            self.same_top.append(ref.argmax(axis=-1) == var.argmax(axis=-1))
            self.nll_reference.append(-ref[rows, picked])
            self.nll_variant.append(-var[rows, picked])

    def result(self, *, text: str, text_sha256: str, chunk_tokens: int, chunks: int) -> TextDivergence:
        kld = np.concatenate(self.kld) if self.kld else np.zeros(0)
        n = len(kld)
        if n == 0:
            raise ModelError("text divergence: no token was scored (the text is shorter than one chunk)")
        same = np.concatenate(self.same_top).astype(np.float64)
        diff = np.concatenate(self.nll_variant) - np.concatenate(self.nll_reference)
        ppl_ref = float(np.exp(np.concatenate(self.nll_reference).mean()))
        ppl_var = float(np.exp(np.concatenate(self.nll_variant).mean()))
        top = float(same.mean())
        return TextDivergence(
            text=text,
            text_sha256=text_sha256,
            chunk_tokens=chunk_tokens,
            chunks=chunks,
            scored_tokens=n,
            mean_kld=float(kld.mean()),
            kld_stderr=_stderr(kld),
            kld_p99=float(np.percentile(kld, 99)),
            kld_max=float(kld.max()),
            same_top_p=top,
            same_top_p_stderr=math.sqrt(top * (1 - top) / (n - 1)) if n > 1 else 0.0,
            ppl_reference=ppl_ref,
            ppl_variant=ppl_var,
            ln_ppl_ratio=float(diff.mean()),
            ln_ppl_ratio_stderr=_stderr(diff),
        )


def _stderr(values: np.ndarray[Any, Any]) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def chunk_plan(tokens: Sequence[int], chunk: int) -> list[list[int]]:
    """The text's tokens cut into whole chunks of ``chunk`` tokens (a short tail is dropped, as
    llama-perplexity does)."""
    if chunk < 4:
        raise ModelError(f"text divergence: chunks of {chunk} tokens are too short (at least 4)")
    return [list(tokens[i : i + chunk]) for i in range(0, len(tokens) - chunk + 1, chunk)]


def text_divergence(
    reference: GGUFBackend,
    variant: GGUFBackend,
    tokens: Sequence[int],
    *,
    chunk: int,
    text: str,
    text_sha256: str,
) -> TextDivergence:
    """KL divergence and top-token agreement of ``variant`` against ``reference`` on ``tokens``."""
    chunks = chunk_plan(tokens, chunk)
    bos = reference.tok_encode("")  # [BOS] when the model adds one, else []
    sums = DivergenceSums()
    first = chunk // 2
    for piece in chunks:
        if bos:
            piece = [bos[0], *piece[1:]]
        ref = reference.next_token_logits(piece)
        var = variant.next_token_logits(piece)
        # position j predicts token j + 1: score the second half of the chunk
        sums.add(ref[first : chunk - 1], var[first : chunk - 1], piece[first + 1 : chunk])
    return sums.result(text=text, text_sha256=text_sha256, chunk_tokens=chunk, chunks=len(chunks))


def measure_speed(
    backend: GGUFBackend, tokens: Sequence[int], *, prompt_tokens: int, gen_tokens: int, repeats: int
) -> SpeedProbe:
    """Prefill ``prompt_tokens`` of ``tokens`` from an empty cache, then decode ``gen_tokens`` greedily."""
    if len(tokens) < prompt_tokens:
        raise ModelError(f"speed probe: the text has {len(tokens)} tokens, fewer than the {prompt_tokens} asked")
    if gen_tokens < 2 or repeats < 1:
        raise ModelError("speed probe: needs at least 2 generated tokens and 1 repeat")
    prompt = list(tokens[:prompt_tokens])
    prefill: list[float] = []
    decode: list[float] = []
    for _ in range(repeats):
        trace = backend.stream_trace(prompt, gen_tokens, ignore_eos=True, fresh=True)
        times = trace.token_times
        if len(times) < 2:
            raise ModelError("speed probe: the model generated fewer than 2 tokens")
        prefill.append(len(prompt) / (times[0] - trace.sent_at))
        decode.append((len(times) - 1) / (times[-1] - times[0]))
    return SpeedProbe(
        prompt_tokens=len(prompt),
        gen_tokens=gen_tokens,
        repeats=repeats,
        threads=backend.info.extra.get("n_threads", ""),
        prefill_tokens_per_s=statistics.median(prefill),
        decode_tokens_per_s=statistics.median(decode),
        prefill_runs=prefill,
        decode_runs=decode,
    )


__all__ = ["DivergenceSums", "SpeedProbe", "TextDivergence", "measure_speed", "text_divergence", "token_kl"]
