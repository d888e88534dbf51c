"""Judge calls: prompts rendered for the judge model, batched, cached, and failures reported.

Every call of a batch of answers goes to the judge in one ``generate`` (through the run's
completion cache when there is one, so a re-run never asks the judge again what it answered). An
answer is reported once all its calls are back: scored when each gave a verdict, else a
``ScoreFailure`` (the judge's error kind, or ``no_verdict``) that the runner counts and retries on
the next run. Answers without a verdict are never cached, so the next run asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from agimeter.backends.base import Backend, GenRequest, GenResult, Usage
from agimeter.scoring.base import ItemScore, OnScored, ScoreFailure, ScoringContext
from agimeter.tasks.spec import Judge, TaskSpec

V = TypeVar("V")
GRADER = "grader"


def judge_settings(spec: TaskSpec) -> Judge:
    """The task's judge protocol (``scoring.judge``); a spec without one gets the defaults."""
    return spec.scoring.judge or Judge()


def judge_request(backend: Backend, system: str, user: str, settings: Judge) -> GenRequest:
    """One judge call: the system and user messages, in the judge's chat template when it has one
    (else the two joined by a blank line), greedy unless the protocol says otherwise."""
    messages = (("system", system), ("user", user)) if system else (("user", user),)
    rendered = backend.apply_chat_template([{"role": r, "content": c} for r, c in messages])
    prompt = rendered if rendered is not None else "\n\n".join(c for _, c in messages)
    return GenRequest(
        prompt=prompt,
        messages=messages,
        stop=(),
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
    )


def judge_identity(context: ScoringContext) -> dict[str, object]:
    """The judge model for the cache key: its identity and numerics."""
    info = context.model(GRADER).info
    return {"judge": info.identity, "judge_dtype": info.dtype, "judge_kv_cache": info.extra.get("kv_cache")}


def add_usage(results: Sequence[GenResult]) -> Usage:
    return Usage(
        prompt_tokens=sum(r.usage.prompt_tokens for r in results),
        completion_tokens=sum(r.usage.completion_tokens for r in results),
    )


@dataclass(frozen=True)
class Verdicts(Generic[V]):
    """An answer's judge results and their parsed verdicts, in the order its calls were made."""

    results: list[GenResult]
    verdicts: list[V]

    @property
    def usage(self) -> Usage:
        return add_usage(self.results)


def run_calls(
    context: ScoringContext,
    calls: Sequence[Sequence[GenRequest]],
    parse: Callable[[int, int, GenResult], V | None],
    finish: Callable[[int, Verdicts[V]], ItemScore],
    on_scored: OnScored,
) -> None:
    """Judge ``calls[i]`` (the calls of answer i); ``parse(i, j, result)`` reads call j's verdict
    (None: none); ``finish(i, verdicts)`` scores answer i once all its calls gave one."""
    backend = context.model(GRADER)
    requests: list[GenRequest] = []
    owner: list[tuple[int, int]] = []
    for i, answer_calls in enumerate(calls):
        for j, request in enumerate(answer_calls):
            requests.append(request)
            owner.append((i, j))
    slots: list[list[GenResult | None]] = [[None] * len(c) for c in calls]
    verdicts: list[list[V | None]] = [[None] * len(c) for c in calls]
    left = [len(c) for c in calls]

    def on_result(index: int, result: GenResult) -> None:
        i, j = owner[index]
        if slots[i][j] is not None:
            return
        slots[i][j] = result
        if result.error is None:
            verdicts[i][j] = parse(i, j, result)
        left[i] -= 1
        if left[i] == 0:
            on_scored(i, _settle(i))

    def _settle(i: int) -> ItemScore | ScoreFailure:
        results = [r for r in slots[i] if r is not None]
        for result in results:
            if result.error is not None:
                return ScoreFailure(f"judge {result.error.kind}", result.error.message)
        found = [v for v in verdicts[i] if v is not None]
        if len(found) != len(results):
            missing = next(r for r, v in zip(results, verdicts[i], strict=True) if v is None)
            return ScoreFailure("judge no_verdict", f"no verdict in the judge's answer: {missing.text[-120:]!r}")
        return finish(i, Verdicts(results, found))

    for i, answer_calls in enumerate(calls):
        if not answer_calls:
            on_scored(i, _settle(i))
    if not requests:
        return
    if context.completions is None:
        backend.generate(requests, on_result=on_result)
        return

    # A result is kept only when it carries a verdict: one without is asked again next run.
    def keep(index: int, result: GenResult) -> bool:
        i, j = owner[index]
        return result.error is None and parse(i, j, result) is not None

    context.completions.generate(backend, requests, on_result, keep=keep)
