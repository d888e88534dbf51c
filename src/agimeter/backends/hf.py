"""Hugging Face transformers backend.

Log-likelihood uses tree packing (see ``_packing``): requests are tokenized exactly as
lm-eval's ``HFLM`` does, shared prefixes (a question's context across its choices, a few-shot
preamble across documents) are computed once, and the lm head runs only at the positions whose
next-token distribution is scored. Generation is greedy ``model.generate`` with left padding.

Models with sliding-window layers (Gemma 2/3, Mistral, Qwen2 with ``use_sliding_window``) get
the window applied on the tree (a node sees an ancestor iff their depths differ by less than the
window): a custom 4D mask replaces the model's own, so without this every layer would attend
globally. Mixed models take a dict of masks keyed by layer type, as transformers 5 prepares them.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import ConfigDict, Field, ValidationError

from agimeter.backends._hf_head import Logits, pick, slice_elements, split_head
from agimeter.backends._hf_loading import LoadedModel, load_model
from agimeter.backends._lm_eval_rules import encode_pair, scoring_window
from agimeter.backends._packing import (
    Forward,
    Group,
    TokenTrie,
    fair_shares,
    plan_forwards,
    plan_groups,
    round_preserving_sum,
    window_mask,
)
from agimeter.backends._threads import ThreadTuner, cpu_count, wait_policy
from agimeter.backends._tree_attention import (
    build_layout,
    dense_allowed,
    supports_tree_attention,
    tree_attention_enabled,
)
from agimeter.backends.base import (
    Dtype,
    GenCallback,
    GenRequest,
    GenResult,
    LoglikCallback,
    LoglikRequest,
    LoglikResult,
    Timing,
    Usage,
)
from agimeter.backends.options import BackendOptions
from agimeter.errors import ConfigError, first_problem
from agimeter.records.model import ModelInfo

DEFAULT_MAX_LENGTH = 2048
MIN_TRUNK = 256
"""Shorter prefixes shared by a run of requests are recomputed per pack rather than cached."""


class HFOptions(BackendOptions):
    """Load options for :class:`HFBackend` (``hf:`` on the command line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dtype: Dtype = "float32"
    batch_size: int | None = Field(default=None, ge=1)
    """Generation: prompts per batch (default 8 on CPU, 32 on GPU)."""
    pack_tokens: int | None = Field(default=None, ge=1)
    """Log-likelihood: tokens per forward (default 4096; 1024 for models without sdpa, whose
    attention takes a dense mask)."""
    threads: int | None = Field(default=None, ge=1)
    """CPU: intra-op threads, fixed. Default: every core this process may use, fewer while
    measurements show that fewer run faster (another process holds a core)."""
    max_length: int | None = Field(default=None, ge=2)
    gguf_file: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False


@dataclass
class PackStats:
    """Work done by the last ``loglikelihood`` call (for FLOP accounting in benchmarks)."""

    packs: int = 0
    forwards: int = 0
    computed_tokens: int = 0
    attended_keys: int = 0
    """Sum over computed tokens of the keys each attends to (its depth + 1)."""
    lm_head_rows: int = 0


class HFBackend:
    """A transformers causal LM behind the :class:`~agimeter.backends.base.Backend` protocol."""

    def __init__(self, loaded: LoadedModel, options: HFOptions) -> None:
        self._model = loaded.model
        self._tokenizer = loaded.tokenizer
        self._options = options
        self._device = loaded.device
        config = self._model.config
        self.max_length = options.max_length or _resolve_max_length(config, self._tokenizer)
        on_gpu = self._device.type != "cpu"
        # sdpa models take tree attention (no dense mask); eager ones take a dense 4D mask,
        # boolean for sdpa (True = attend), additive for eager.
        self._tree_attention = supports_tree_attention(self._model)
        self._bool_mask = getattr(config, "_attn_implementation", "sdpa") == "sdpa"
        self.pack_tokens = options.pack_tokens or (4096 if self._tree_attention else 1024)
        self.gen_batch_size = options.batch_size or (32 if on_gpu else 8)
        self._tuner = ThreadTuner(cpu_count()) if not on_gpu and options.threads is None else None
        self._sliding_window, self._layer_types = _sliding_layout(config)
        # The head at scored positions only, in slices (None: the model's own head, all at once).
        self._head = split_head(self._model, self._device)
        self._slice_elements = slice_elements(self._model)
        # transformers 5.2x renamed ``past_key_values`` to ``cache`` (the old name warns, then goes).
        called = self._head.base if self._head is not None else self._model
        forward_args = inspect.signature(called.forward).parameters
        self._cache_arg = "cache" if "cache" in forward_args else "past_key_values"
        tok = self._tokenizer
        if tok.bos_token_id is not None:
            self.prefix_token_id: int = int(tok.bos_token_id)
        else:
            self.prefix_token_id = int(tok.eos_token_id)
        self._prefix_text: str = tok.decode(self.prefix_token_id)
        self.last_stats = PackStats()
        self.info = ModelInfo(
            backend="hf",
            name=loaded.name,
            identity=loaded.identity,
            revision=loaded.revision,
            num_parameters=sum(p.numel() for p in self._model.parameters()),
            dtype=str(next(self._model.parameters()).dtype).removeprefix("torch."),
            device=str(self._device),
            has_chat_template=bool(getattr(tok, "chat_template", None)),
            max_length=self.max_length,
            extra={
                "attn_implementation": str(getattr(config, "_attn_implementation", "")),
                "weights_bytes": str(sum(p.numel() * p.element_size() for p in self._model.parameters())),
                "threads": "gpu" if on_gpu else str(options.threads or f"adaptive<={cpu_count()}"),
                "omp_wait": wait_policy(),
            },
        )

    @classmethod
    def load(
        cls,
        model: str,
        *,
        dtype: str = "float32",
        device: str = "auto",
        batch_size: int | None = None,
        max_length: int | None = None,
        gguf_file: str | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        pack_tokens: int | None = None,
        threads: int | None = None,
    ) -> HFBackend:
        """Load ``model`` (a local directory or a hub id found in the local HF cache)."""
        try:
            options = HFOptions(
                dtype=dtype,
                device=device,
                batch_size=batch_size,
                pack_tokens=pack_tokens,
                max_length=max_length,
                gguf_file=gguf_file,
                revision=revision,
                trust_remote_code=trust_remote_code,
                threads=threads,
            )
        except ValidationError as err:
            where, message = first_problem(err)
            raise ConfigError(f"invalid hf backend option {where}: {message}") from err
        if not torch.cuda.is_available():
            torch.set_num_threads(options.threads or cpu_count())
        loaded = load_model(
            model,
            dtype=options.dtype,
            device=options.device,
            gguf_file=options.gguf_file,
            revision=options.revision,
            trust_remote_code=options.trust_remote_code,
        )
        return cls(loaded, options)

    # ----------------------------------------------------------------- tokenization (as HFLM)

    def tok_encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        """``HFLM.tok_encode`` with default arguments (the tokenizer decides about BOS)."""
        kwargs: dict[str, bool] = {}
        if add_special_tokens is not None:
            kwargs["add_special_tokens"] = add_special_tokens
        elif text.startswith(self._prefix_text):
            kwargs["add_special_tokens"] = False
        return list(self._tokenizer.encode(text, **kwargs))

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation tokens exactly as lm-eval's ``loglikelihood`` makes them."""
        return encode_pair(self.tok_encode, self.prefix_token_id, context, continuation)

    # ----------------------------------------------------------------------- log-likelihood

    def loglikelihood(
        self, requests: Sequence[LoglikRequest], on_result: LoglikCallback | None = None
    ) -> list[LoglikResult]:
        """Sum of continuation log-probs per request; shared prefixes are computed once."""
        trie = TokenTrie()
        paths: list[list[int]] = []
        targets: list[list[int]] = []
        sequences: list[list[int]] = []
        for request in requests:
            context_enc, cont_enc = self.encode_pair(request.context, request.continuation)
            whole = scoring_window(context_enc, cont_enc, self.max_length, request.continuation)
            paths.append(trie.insert(whole[:-1]))
            targets.append(cont_enc)
            sequences.append(whole)
        order = sorted(range(len(requests)), key=lambda i: sequences[i])
        budget = self.pack_tokens
        groups = plan_groups(paths, [len(t) for t in targets], order, budget, max(1, min(MIN_TRUNK, budget // 4)))
        forwards = plan_forwards(groups, budget)
        computed = _computed_tokens(groups, paths, len(requests))
        members = [sum(len(pack.requests) for pack in group.packs) for group in groups]
        trunk_s = [0.0] * len(groups)
        stats = self.last_stats = PackStats(packs=sum(len(g.packs) for g in groups))
        results: list[LoglikResult | None] = [None] * len(requests)
        cache: Any = None
        with self._forward_mode():
            for forward in forwards:
                if forward.cached == 0:
                    cache = None  # a new group: nothing of the previous trunk is attended
                began = time.perf_counter()
                scored, cache = self._run_forward(trie, paths, targets, forward, cache)
                seconds = time.perf_counter() - began
                node_s = seconds / len(forward.nodes)
                trunk_s[forward.group] += node_s * forward.keep
                stats.forwards += 1
                stats.computed_tokens += len(forward.nodes)
                stats.attended_keys += sum(trie.depths[node] + 1 for node in forward.nodes)
                if not forward.requests:
                    continue
                skip = len(groups[forward.group].trunk)
                shares = fair_shares(paths, forward.requests, skip=skip)
                for index, share in zip(forward.requests, shares, strict=True):
                    spent = node_s * share + trunk_s[forward.group] / members[forward.group]
                    logprob, is_greedy = scored[index]
                    result = LoglikResult(
                        logprob=logprob,
                        is_greedy=is_greedy,
                        num_tokens=len(targets[index]),
                        usage=Usage(prompt_tokens=len(sequences[index]), computed_prompt_tokens=computed[index]),
                        timing=Timing(total_s=spent, prefill_s=spent),
                    )
                    results[index] = result
                    if on_result is not None:
                        on_result(index, result)
        return [r for r in results if r is not None]

    @contextmanager
    def _forward_mode(self) -> Iterator[None]:
        """Tree attention (when the model takes it) and, on CPU, the measured thread count."""
        with ExitStack() as stack:
            if self._tree_attention:
                stack.enter_context(tree_attention_enabled(self._model))
            if self._tuner is not None:
                stack.enter_context(self._tuner.attached(self._model))
            yield

    def _run_forward(
        self,
        trie: TokenTrie,
        paths: list[list[int]],
        targets: list[list[int]],
        forward: Forward,
        cache: Any,
    ) -> tuple[dict[int, tuple[float, bool]], Any]:
        """One model call over ``forward.nodes``; (logprob, is_greedy) per request it answers, and
        the KV cache holding the group's trunk (None when the group needs none)."""
        nodes = forward.nodes
        slot = {node: i for i, node in enumerate(nodes)}
        parent_slots = [slot.get(trie.parents[node], -1) for node in nodes]
        depths = np.array([trie.depths[node] for node in nodes], dtype=np.int64)
        wanted = {
            index: [slot[node] for node in paths[index][len(paths[index]) - len(targets[index]) :]]
            for index in forward.requests
        }
        columns = sorted({c for cols in wanted.values() for c in cols})
        self.last_stats.lm_head_rows += len(columns)
        extra: dict[str, Any] = {}
        attention: Any = None
        if self._tree_attention:
            extra["tree_layout"] = build_layout(
                parent_slots, depths, forward.cached, windows=self._sliding_window is not None, device=self._device
            )
        else:
            # The trunk is a root-first path: its i-th cached key sits at depth i.
            key_depths = np.concatenate([np.arange(forward.cached, dtype=np.int64), depths])
            attention = self._layer_masks(dense_allowed(parent_slots, forward.cached), depths, key_depths)
        if cache is None and forward.keep:
            # Built from the config, a sliding model's cache would keep only the trunk's last
            # window - 1 tokens on sliding layers; rows index trunk keys by depth under one mask
            # shape, so there every layer keeps the whole trunk and the window is applied by the mask.
            from transformers import DynamicCache

            cache = DynamicCache(config=self._model.config) if self._sliding_window is None else DynamicCache()
        if self._tuner is not None:
            self._tuner.begin_forward(len(nodes))
        inputs: dict[str, Any] = {
            "input_ids": torch.tensor([[trie.tokens[node] for node in nodes]], device=self._device),
            "attention_mask": attention,
            "position_ids": torch.from_numpy(depths)[None].to(self._device),
            self._cache_arg: cache,
            "use_cache": cache is not None,
            **extra,
        }
        logits: Logits
        vocab: int
        with torch.inference_mode():
            if self._head is not None:
                hidden = self._head.base(**inputs).last_hidden_state[0]
                kept = hidden[torch.tensor(columns, dtype=torch.long, device=self._device)]
                head, vocab = self._head, self._head.vocab

                def logits(begin: int, end: int) -> torch.Tensor:
                    return head.logits(kept[begin:end])

            else:
                # A trunk chunk's own logits are never scored.
                keep = torch.tensor(columns, device=self._device) if columns else 1
                full = self._model(**inputs, logits_to_keep=keep).logits[0]
                vocab = int(full.shape[-1])

                def logits(begin: int, end: int) -> torch.Tensor:
                    rows: torch.Tensor = full[begin:end]
                    return rows

            if self._tuner is not None:
                self._tuner.end_forward()
            if cache is not None and len(nodes) > forward.keep:
                cache.crop(forward.keep - len(nodes))
            scored = self._score(logits, len(columns), vocab, wanted, {c: i for i, c in enumerate(columns)}, targets)
        return scored, cache

    def _score(
        self,
        logits: Logits,
        positions: int,
        vocab: int,
        wanted: dict[int, list[int]],
        column_index: dict[int, int],
        targets: list[list[int]],
    ) -> dict[int, tuple[float, bool]]:
        """(sum of target log-probs, all targets greedy) per request, from the kept positions."""
        if not wanted:
            return {}
        rows = torch.tensor([column_index[c] for cols in wanted.values() for c in cols], device=self._device)
        tokens = torch.tensor([t for index in wanted for t in targets[index]], device=self._device)
        picked, hits = pick(logits, positions, vocab, rows, tokens, self._slice_elements)
        picked, hits = picked.cpu(), hits.cpu()
        scored: dict[int, tuple[float, bool]] = {}
        begin = 0
        for index in wanted:
            end = begin + len(targets[index])
            scored[index] = (float(picked[begin:end].sum()), bool(hits[begin:end].all()))
            begin = end
        return scored

    def _layer_masks(
        self, allowed: np.ndarray, query_depths: np.ndarray, key_depths: np.ndarray
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """The model's ``attention_mask`` for a (queries, keys) boolean tree mask: one 4D mask, or
        one per layer type when only some layers slide."""
        if self._sliding_window is None:
            return self._to_4d(allowed)
        sliding = allowed & window_mask(query_depths, key_depths, self._sliding_window)
        if self._layer_types is None:
            return self._to_4d(sliding)
        full = self._to_4d(allowed)
        windowed = self._to_4d(sliding)
        return {kind: windowed if kind == "sliding_attention" else full for kind in self._layer_types}

    def _to_4d(self, allowed: np.ndarray) -> torch.Tensor:
        """sdpa takes the boolean mask (True = attend); eager adds it to the scores."""
        mask = torch.from_numpy(np.ascontiguousarray(allowed))[None, None]
        if not self._bool_mask:
            additive = torch.zeros(mask.shape, dtype=self._model.dtype)
            mask = additive.masked_fill_(~mask, torch.finfo(self._model.dtype).min)
        return mask.to(self._device)

    # --------------------------------------------------------------------------- generation

    def generate(self, requests: Sequence[GenRequest], on_result: GenCallback | None = None) -> list[GenResult]:
        """Generation batched by prompt length with left padding (greedy, or sampled per request);
        requests with different sampling settings never share a batch."""
        from agimeter.backends._hf_generate import generate_batch

        encoded = [self.tok_encode(r.prompt) for r in requests]

        def setting(i: int) -> tuple[float, float]:
            return (requests[i].temperature, requests[i].top_p) if not requests[i].greedy else (0.0, 1.0)

        order = sorted(range(len(requests)), key=lambda i: (setting(i), -len(encoded[i]), i))
        batches: list[list[int]] = []
        for i in order:
            if batches and len(batches[-1]) < self.gen_batch_size and setting(batches[-1][0]) == setting(i):
                batches[-1].append(i)
            else:
                batches.append([i])
        results: list[GenResult | None] = [None] * len(requests)
        for batch in batches:
            batch_results = generate_batch(
                self._model,
                self._tokenizer,
                [encoded[i] for i in batch],
                [requests[i] for i in batch],
                max_length=self.max_length,
                device=self._device,
            )
            for index, result in zip(batch, batch_results, strict=True):
                results[index] = result
                if on_result is not None:
                    on_result(index, result)
        return [r for r in results if r is not None]

    # -------------------------------------------------------------------------------- misc

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        """Render ``messages`` with the tokenizer's chat template (generation prompt added)."""
        if not getattr(self._tokenizer, "chat_template", None):
            return None
        rendered = self._tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return str(rendered)

    def close(self) -> None:
        """Drop the model so its memory can be reclaimed."""
        self._model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def create(spec: str, **options: Any) -> HFBackend:
    """Registry hook: ``hf:<model>`` -> :meth:`HFBackend.load` (options as keyword arguments)."""
    return HFBackend.load(spec, **options)


def _resolve_max_length(config: Any, tokenizer: Any) -> int:
    """Like lm-eval: the config's context length, else the tokenizer's, else 2048."""
    config = getattr(config, "text_config", None) or config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if value is not None:
            return int(value)
    model_max = getattr(tokenizer, "model_max_length", None)
    if model_max is not None and model_max < 10**12:
        return int(model_max)
    return DEFAULT_MAX_LENGTH


def _sliding_layout(config: Any) -> tuple[int | None, tuple[str, ...] | None]:
    """(sliding window, layer types) of a model: (None, None) when no layer slides, (window, None)
    when all do (Mistral: one mask for every layer), (window, types) when only some do."""
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    window = getattr(text_config, "sliding_window", None)
    layer_types = getattr(text_config, "layer_types", None)
    if window is None:
        return None, None
    if layer_types is None:
        return int(window), None
    kinds = tuple(sorted(set(layer_types)))
    if "sliding_attention" not in kinds:
        return None, None
    return int(window), kinds


def _computed_tokens(groups: Sequence[Group], paths: Sequence[Sequence[int]], count: int) -> list[int]:
    """Tokens computed for each request: its fair share of its pack's nodes plus an even share of
    its group's trunk, rounded so that each group's total is exact."""
    computed = [0] * count
    for group in groups:
        members = [index for pack in group.packs for index in pack.requests]
        trunk_share = len(group.trunk) / len(members)
        values: list[float] = []
        for pack in group.packs:
            values += [share + trunk_share for share in fair_shares(paths, pack.requests, skip=len(group.trunk))]
        for index, tokens in zip(members, round_preserving_sum(values), strict=True):
            computed[index] = tokens
    return computed


__all__ = ["HFBackend", "HFOptions", "create"]
