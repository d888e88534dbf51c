"""Run items through a backend, score them and commit each one as soon as it is done.

Every task is scored by its registered scorer (``agimeter.scoring``): answered items go to it in
batches of the size it asks for, and each item is committed as soon as the scorer reports it.
Finished items (same cache key) are never recomputed: a re-run after a crash or ``kill -9``
picks up exactly where the store says it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from agimeter.backends.base import Backend, GenRequest, GenResult, LoglikRequest, LoglikResult
from agimeter.runner.keys import item_cache_key, prompt_sha256, scoring_identity
from agimeter.runner.meter import Meter
from agimeter.scoring.base import Answer, ItemScore, Scorer, ScoringContext
from agimeter.scoring.registry import check_roles, scorer_for
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
    size: int | None = None  # documents in the whole task (``items`` may be a subset)


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


Result = LoglikResult | GenResult
Commit = Callable[[_Pending, ItemScore, Sequence[Result], Answer], None]


class _ScoringQueue:
    """Answered items waiting for the task's scorer: scored once they hold ``batch_size`` outputs
    (and at the end), each committed as soon as the scorer reports it."""

    def __init__(self, spec: TaskSpec, scorer: Scorer, context: ScoringContext, commit: Commit) -> None:
        self.spec, self.scorer, self.context, self.commit = spec, scorer, context, commit
        self.waiting: list[tuple[_Pending, Sequence[Result], Answer]] = []
        self.outputs = 0

    def add(self, pending: _Pending, results: Sequence[Result], answer: Answer) -> None:
        self.waiting.append((pending, results, answer))
        self.outputs += answer.outputs
        if self.outputs >= self.scorer.batch_size:
            self.flush()

    def flush(self) -> None:
        batch, self.waiting, self.outputs = self.waiting, [], 0
        if not batch:
            return
        done = [False] * len(batch)

        def on_scored(index: int, score: ItemScore) -> None:
            if done[index]:
                raise RuntimeError(f"scorer {self.scorer.name!r} scored item {index} of a batch twice")
            done[index] = True
            pending, results, answer = batch[index]
            self.commit(pending, score, results, answer)

        self.scorer.score(self.spec, [answer for _, _, answer in batch], self.context, on_scored)
        if not all(done):
            raise RuntimeError(
                f"scorer {self.scorer.name!r} returned no score for {done.count(False)} item(s) of {self.spec.name}"
            )


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
        models: Mapping[str, Backend] | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.meter = meter
        self.numerics = numerics
        self.chat_mode = chat_mode
        self.progress: ProgressSink = progress or _NoProgress()
        # Scorers' own models by role (e.g. "grader"), apart from the evaluated one.
        self.scoring_context = ScoringContext(models=dict(models or {}))

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
        scorer = scorer_for(spec)
        check_roles(spec, scorer, self.scoring_context)
        judged_by = scoring_identity(scorer, spec, self.scoring_context)
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
                scoring=judged_by,
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

        def commit(p: _Pending, score: ItemScore, results: Sequence[Result], answer: Answer) -> None:
            self._commit(run_id, spec, p, score, results, answer)

        queue = _ScoringQueue(spec, scorer, self.scoring_context, commit)
        try:
            if spec.output_type == "multiple_choice":
                self._run_loglik(spec, todo, queue)
            else:
                self._run_generate(spec, todo, queue)
        finally:
            self.progress.finish_task()

    def _run_loglik(self, spec: TaskSpec, todo: Sequence[_Pending], queue: _ScoringQueue) -> None:
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
                lls, greedy = tuple(r.logprob for r in done), tuple(r.is_greedy for r in done)
                queue.add(todo[i], done, Answer(todo[i].item, loglikelihoods=lls, is_greedy=greedy))

        self.backend.loglikelihood(requests, on_result=on_result)
        queue.flush()
        self._check_complete(spec, len(todo), sum(1 for left in remaining if left == 0), len(failed))

    def _run_generate(self, spec: TaskSpec, todo: Sequence[_Pending], queue: _ScoringQueue) -> None:
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

        def on_result(index: int, result: GenResult) -> None:
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
                queue.add(todo[i], done, Answer(todo[i].item, generations=tuple(r.text for r in done)))

        self.backend.generate(requests, on_result=on_result)
        queue.flush()
        self._check_complete(spec, len(todo), sum(1 for left in remaining if left == 0), len(failed))

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
        results: Sequence[Result],
        answer: Answer,
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
            prediction=score.prediction if score.prediction is not None else score.extracted,
            correct=score.correct,
            metrics=score.metrics,
            chance=score.chance,
            weights=score.weights,
            details=score.details or None,
            loglikelihoods=list(score.loglikelihoods) if score.loglikelihoods else None,
            is_greedy=list(answer.is_greedy) if answer.is_greedy is not None else None,
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
