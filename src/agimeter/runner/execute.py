"""Run items through a backend, score them and commit each one as soon as it is done.

Finished items (same cache key) are never recomputed: a re-run after a crash or ``kill -9``
picks up exactly where the store says it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from agimeter.backends.base import Backend, GenRequest, GenResult, LoglikRequest, LoglikResult
from agimeter.runner.keys import item_cache_key, prompt_sha256
from agimeter.runner.meter import Meter
from agimeter.scoring import ItemScore, score_item
from agimeter.store.records import ItemRecord
from agimeter.store.repository import Store
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec

ChatMode = Literal["auto", "on", "off"]


class ProgressSink(Protocol):
    def start_task(self, name: str, total: int, done: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish_task(self) -> None: ...


class _NoProgress:
    def start_task(self, name: str, total: int, done: int) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def finish_task(self) -> None:
        return None


@dataclass
class PreparedTask:
    spec: TaskSpec
    items: list[Item]
    protocol: dict[str, object] = field(default_factory=dict)
    # Items per subtask in the whole task, when ``items`` is a stratified sample of it.
    population: dict[str, int] | None = None


@dataclass
class _Pending:
    item: Item
    context: str
    cache_key: str


def use_chat(spec: TaskSpec, backend: Backend, mode: ChatMode) -> bool:
    """Chat template: never when off; always (if the model has one) when on; by default only when
    the task's protocol asks for chat and the tokenizer has a template."""
    if mode == "off" or not backend.info.has_chat_template:
        return False
    return mode == "on" or spec.prompt.chat


def _scoring_identity(spec: TaskSpec) -> dict[str, object]:
    """How answers are judged, for the cache key: a change of judge is never a cache hit."""
    identity: dict[str, object] = {
        "scorer": spec.scorer,
        **spec.scoring.model_dump(mode="json"),
        "metrics": spec.metrics,
    }
    if spec.scoring.kind == "code_exec":
        from agimeter.scoring.sandbox import JUDGE_VERSION

        identity["sandbox_judge"] = JUDGE_VERSION
    return identity


class Executor:
    def __init__(
        self,
        backend: Backend,
        store: Store,
        meter: Meter,
        *,
        numerics: dict[str, str],
        chat_mode: ChatMode = "auto",
        progress: ProgressSink | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.meter = meter
        self.numerics = numerics
        self.chat_mode = chat_mode
        self.progress: ProgressSink = progress or _NoProgress()

    def render(self, spec: TaskSpec, item: Item) -> str:
        if not use_chat(spec, self.backend, self.chat_mode):
            return item.context
        messages = [{"role": r, "content": c} for r, c in item.chat_messages] or [
            {"role": "user", "content": item.context}
        ]
        # A last assistant turn is the start of the answer (a task's response prefix): the turns
        # before it get the generation prompt and the answer continues from it.
        answer_start = messages.pop()["content"] if messages[-1]["role"] == "assistant" else ""
        rendered = self.backend.apply_chat_template(messages)
        return rendered + answer_start if rendered is not None else item.context

    def run_task(self, run_id: str, task: PreparedTask) -> None:
        spec = task.spec
        pending: list[_Pending] = []
        for item in task.items:
            context = self.render(spec, item)
            key = item_cache_key(
                model_identity=self.backend.info.identity,
                numerics=self.numerics,
                task=spec.name,
                task_version=spec.version,
                item=item,
                context=context,
                scoring=_scoring_identity(spec),
            )
            pending.append(_Pending(item, context, key))
        cached = self.store.cached_items(p.cache_key for p in pending)
        # Results this run stored in an earlier session are linked already (and count as computed:
        # see ``Store.run_totals``); only other runs' results are linked here, as cached.
        held = self.store.run_item_keys(run_id)
        self.store.link_cached(
            run_id, [cached[p.cache_key] for p in pending if p.cache_key in cached and p.cache_key not in held]
        )
        todo = [p for p in pending if p.cache_key not in cached]
        self.progress.start_task(spec.name, total=len(pending), done=len(pending) - len(todo))
        try:
            if spec.output_type == "multiple_choice":
                self._run_loglik(run_id, spec, todo)
            else:
                self._run_generate(run_id, spec, todo)
        finally:
            self.progress.finish_task()

    def _run_loglik(self, run_id: str, spec: TaskSpec, todo: Sequence[_Pending]) -> None:
        requests: list[LoglikRequest] = []
        owner: list[tuple[int, int]] = []
        for i, p in enumerate(todo):
            for j, cont in enumerate(p.item.continuations):
                requests.append(LoglikRequest(context=p.context, continuation=cont))
                owner.append((i, j))
        slots: list[list[LoglikResult | None]] = [[None] * len(p.item.continuations) for p in todo]
        remaining = [len(p.item.continuations) for p in todo]

        failed: set[int] = set()

        def on_result(index: int, result: LoglikResult) -> None:
            i, j = owner[index]
            if slots[i][j] is not None:
                return
            slots[i][j] = result
            remaining[i] -= 1
            if result.error is not None:
                self.meter.add_error(result.error.kind)
                failed.add(i)
            if remaining[i] == 0 and i not in failed:
                done = [r for r in slots[i] if r is not None]
                self._commit_loglik(run_id, spec, todo[i], done)

        self.backend.loglikelihood(requests, on_result=on_result)
        self._check_complete(spec, len(todo), sum(1 for left in remaining if left == 0), len(failed))

    def _commit_loglik(self, run_id: str, spec: TaskSpec, p: _Pending, results: Sequence[LoglikResult]) -> None:
        lls = [r.logprob for r in results]
        greedy = [r.is_greedy for r in results]
        score = score_item(spec, p.item, loglikelihoods=lls, is_greedy=greedy)
        self._commit(run_id, spec, p, score, results, prediction=score.prediction, is_greedy=greedy)

    def _run_generate(self, run_id: str, spec: TaskSpec, todo: Sequence[_Pending]) -> None:
        requests: list[GenRequest] = []
        owner: list[tuple[int, int]] = []
        for i, p in enumerate(todo):
            item = p.item
            for j in range(item.samples):
                sampled = item.temperature > 0
                requests.append(
                    GenRequest(
                        prompt=p.context,
                        stop=item.stop,
                        max_tokens=item.max_tokens,
                        temperature=item.temperature,
                        top_p=item.top_p,
                        seed=item.sample_seed + j if sampled else None,
                    )
                )
                owner.append((i, j))
        slots: list[list[GenResult | None]] = [[None] * p.item.samples for p in todo]
        remaining = [p.item.samples for p in todo]
        failed: set[int] = set()
        code = spec.scoring.kind == "code_exec"
        ready: list[int] = []  # code tasks: items whose samples all arrived, waiting for the sandbox

        def on_result(index: int, result: GenResult) -> None:
            i, j = owner[index]
            if slots[i][j] is not None:
                return
            slots[i][j] = result
            remaining[i] -= 1
            if result.error is not None:
                self.meter.add_error(result.error.kind)
                failed.add(i)
            if remaining[i] or i in failed:
                return
            if not code:
                self._commit_generate(run_id, spec, todo[i], [r for r in slots[i] if r is not None])
                return
            ready.append(i)
            if sum(todo[k].item.samples for k in ready) >= self._code_batch:
                flush()

        def flush() -> None:
            batch = [(todo[i], [r for r in slots[i] if r is not None]) for i in ready]
            ready.clear()
            self._commit_code(run_id, spec, batch)

        self.backend.generate(requests, on_result=on_result)
        flush()
        self._check_complete(spec, len(todo), sum(1 for left in remaining if left == 0), len(failed))

    @property
    def _code_batch(self) -> int:
        """Programs per sandbox batch: enough to keep every core busy, small enough to commit often."""
        return 4 * (os.cpu_count() or 1)

    def _commit_generate(self, run_id: str, spec: TaskSpec, p: _Pending, results: Sequence[GenResult]) -> None:
        score = score_item(spec, p.item, generations=[r.text for r in results])
        self._commit(run_id, spec, p, score, results, prediction=score.extracted)

    def _commit_code(self, run_id: str, spec: TaskSpec, batch: Sequence[tuple[_Pending, list[GenResult]]]) -> None:
        """Run every sample's program in the sandbox (in parallel), then score and commit."""
        if not batch:
            return
        from agimeter.scoring.code import build_program, limits_for
        from agimeter.scoring.sandbox import run_many

        programs = [build_program(p.item, r.text) for p, results in batch for r in results]
        outcomes = run_many(programs, limits_for(spec))
        at = 0
        for p, results in batch:
            mine, at = outcomes[at : at + len(results)], at + len(results)
            score = score_item(spec, p.item, generations=[r.text for r in results], exec_results=mine)
            self._commit(run_id, spec, p, score, results, prediction=score.extracted)

    def _check_complete(self, spec: TaskSpec, expected: int, answered: int, failed: int) -> None:
        """Every item must be answered: scored and committed, or failed (counted, retried on re-run)."""
        if answered != expected:
            raise RuntimeError(f"backend returned no result for {expected - answered} item(s) of {spec.name}")
        self.meter.failed_items += failed
        if failed:
            self.progress.advance(failed)

    def _commit(
        self,
        run_id: str,
        spec: TaskSpec,
        p: _Pending,
        score: ItemScore,
        results: Sequence[LoglikResult | GenResult],
        *,
        prediction: int | str | None,
        is_greedy: list[bool] | None = None,
    ) -> None:
        prompt_tokens = sum(r.usage.prompt_tokens for r in results)
        computed = sum(
            r.usage.computed_prompt_tokens if r.usage.computed_prompt_tokens is not None else r.usage.prompt_tokens
            for r in results
        )
        completion = sum(r.usage.completion_tokens for r in results)
        prefill = sum(r.timing.prefill_s for r in results)
        decode = sum(r.timing.decode_s for r in results)
        record = ItemRecord(
            task=spec.name,
            task_version=spec.version,
            doc_id=p.item.doc_id,
            subtask=p.item.subtask,
            target=p.item.target,
            prediction=prediction,
            correct=score.correct,
            metrics=score.metrics,
            chance=score.chance,
            weights=score.weights,
            details=score.details or None,
            loglikelihoods=list(score.loglikelihoods) if score.loglikelihoods else None,
            is_greedy=is_greedy,
            generation=score.generation,
            generations=list(score.generations) or None,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion,
            computed_prompt_tokens=computed,
            prefill_s=prefill,
            decode_s=decode,
            total_s=sum(r.timing.total_s for r in results),
            prompt_sha256=prompt_sha256(p.context, p.item.continuations),
            cache_key=p.cache_key,
        )
        self.store.add_item(run_id, record, tick=self.meter.tick())
        self.progress.advance()
