"""Batched generation for the HF backend: left padding, per-row stop strings and limits; greedy,
or sampled when the batch's requests ask for a temperature (one batch, one sampling setting)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from agimeter.backends._lm_eval_rules import cut_at_stop
from agimeter.backends.base import GenRequest, GenResult, Timing, Usage


class _RowStopper:
    """A transformers stopping criterion that finishes each row on its own stop strings or token
    limit, and records when the first token arrived (its first call follows the prefill)."""

    def __init__(self, tokenizer: Any, prompt_width: int, requests: Sequence[GenRequest]) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.requests = requests
        self.done_at: list[int | None] = [None] * len(requests)
        self.first_token_at: float | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        generated = input_ids.shape[1] - self.prompt_width
        finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for row, request in enumerate(self.requests):
            if self.done_at[row] is not None:
                finished[row] = True
                continue
            hit_limit = generated >= request.max_tokens
            hit_stop = False
            if request.stop:
                text = self.tokenizer.decode(input_ids[row, self.prompt_width :], skip_special_tokens=True)
                hit_stop = any(stop and stop in text for stop in request.stop)
            if hit_limit or hit_stop:
                self.done_at[row] = generated
                finished[row] = True
        return finished


def _split(total: float, weights: Sequence[int]) -> list[float]:
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [total / len(weights)] * len(weights)
    return [total * w / weight_sum for w in weights]


def generate_batch(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    requests: Sequence[GenRequest],
    *,
    max_length: int,
    device: torch.device,
) -> list[GenResult]:
    """Generate for one batch of pre-tokenized prompts; results in input order. Every request of
    a batch has the same sampling settings; a sampled batch seeds torch with its first request's
    seed, so the same batches give the same draws."""
    from transformers import StoppingCriteriaList

    first_request = requests[0]
    if any(_setting(r) != _setting(first_request) for r in requests):
        raise ValueError("one batch, one sampling setting")
    sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    if not first_request.greedy:
        sampling = {"do_sample": True, "temperature": first_request.temperature, "top_p": first_request.top_p}
        sampling["top_k"] = None
        torch.manual_seed(first_request.seed if first_request.seed is not None else 0)

    max_new = max(r.max_tokens for r in requests)
    # Leave room for the new tokens, truncating prompts from the left as lm-eval does.
    keep = max(1, max_length - max_new)
    prompts = [p[-keep:] for p in prompts]
    width = max(len(p) for p in prompts)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        attention[row, width - len(prompt) :] = 1
    eos_ids = _eos_ids(model, tokenizer)
    stopper = _RowStopper(tokenizer, width, requests)

    start = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(
            input_ids=ids.to(device),
            attention_mask=attention.to(device),
            max_new_tokens=max_new,
            **sampling,
            num_beams=1,
            eos_token_id=eos_ids,
            pad_token_id=pad_id,
            stopping_criteria=StoppingCriteriaList([stopper]),
            use_cache=True,
        )
    end = time.perf_counter()
    first = stopper.first_token_at or end

    texts: list[str] = []
    reasons: list[str] = []
    completion: list[int] = []
    for row, request in enumerate(requests):
        tokens = output[row, width:].tolist()
        done_at = stopper.done_at[row]
        limit = len(tokens) if done_at is None else done_at
        tokens = tokens[: min(limit, request.max_tokens)]
        hit_eos = False
        for position, token in enumerate(tokens):
            if token in eos_ids:
                tokens, hit_eos = tokens[: position + 1], True
                break
        text, hit_stop = cut_at_stop(tokenizer.decode(tokens, skip_special_tokens=True), request.stop)
        texts.append(text)
        completion.append(len(tokens))
        reasons.append("stop" if hit_stop or hit_eos or len(tokens) < request.max_tokens else "length")

    prefill = _split(first - start, [len(p) for p in prompts])
    decode = _split(end - first, completion)
    return [
        GenResult(
            text=texts[row],
            finish_reason="stop" if reasons[row] == "stop" else "length",
            usage=Usage(prompt_tokens=len(prompts[row]), completion_tokens=completion[row]),
            timing=Timing(
                total_s=prefill[row] + decode[row],
                prefill_s=prefill[row],
                decode_s=decode[row],
                first_token_s=first - start,
            ),
        )
        for row in range(len(requests))
    ]


def _setting(request: GenRequest) -> tuple[float, float]:
    return (0.0, 1.0) if request.greedy else (request.temperature, request.top_p)


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)
