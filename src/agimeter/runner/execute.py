"""Run items through a backend, score them and commit each one as soon as it is done.

Every task is scored by its registered scorer (``agimeter.scoring``): answered items go to it in
batches of the size it asks for, and each item is committed as soon as the scorer reports it.
Finished items (same cache key) are never recomputed: a re-run after a crash or ``kill -9``
picks up exactly where the store says it stopped.

A judged task (its scorer uses a judge model) and a conversation (``Item.followups``) run in
phases: every turn of every item is answered first (a conversation's later turns after the
model's own earlier answers, ``runner.turns``), then the judge scores them in batches. A judged
task's answers and its judge's answers go through the completion cache (``runner.completions``),
so a changed judge re-judges without generating again and a killed run repeats nothing it had.
Judging time is kept off the run's clock (the evaluated model's wall time) and stored per item as
``judge_s``; an item the judge could not score (``ScoreFailure``) is counted and left for the next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agimeter.backends.base import Backend, GenRequest, GenResult, LoglikRequest, LoglikResult
from agimeter.records.items import ItemRecord
from agimeter.records.options import ChatMode
from agimeter.runner.completions import StoreCompletions
from agimeter.runner.gather import Gather
from agimeter.runner.keys import item_cache_key, prompt_sha256, scoring_identity
from agimeter.runner.meter import Meter
from agimeter.runner.run_store import RunStore
from agimeter.runner.turns import Messages, turn_prompt
from agimeter.scoring.base import Answer, ItemScore, ScoreFailure, Scorer, ScoringContext, uses_role
from agimeter.scoring.registry import check_roles, scorer_for
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec


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
Commit = Callable[[_Pending, ItemScore, Sequence[Result], Answer, float], None]


def uses_models(scorer: Scorer, context: ScoringContext) -> bool:
    """Whether the scorer uses a model of its own here (a judge)."""
    return any(uses_role(scorer, role, context) for role in (*scorer.roles, *scorer.optional_roles))


class _ScoringQueue:
    """Answered items waiting for the task's scorer: scored once they hold ``batch_size`` outputs
    (and at the end), each committed as soon as the scorer reports it. With a ``clock`` (a judged
    task), the run's clock stops while the scorer works, and each item is committed with the
    judging time since the one before it."""

    def __init__(
        self,
        spec: TaskSpec,
        scorer: Scorer,
        context: ScoringContext,
        commit: Commit,
        fail: Callable[[ScoreFailure], None],
        clock: Meter | None = None,
    ) -> None:
        self.spec, self.scorer, self.context, self.commit, self.fail = spec, scorer, context, commit, fail
        self.clock = clock
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
        last = time.perf_counter()

        def on_scored(index: int, score: ItemScore | ScoreFailure) -> None:
            nonlocal last
            if done[index]:
                raise RuntimeError(f"scorer {self.scorer.name!r} scored item {index} of a batch twice")
            done[index] = True
            now = time.perf_counter()
            spent, last = now - last, now
            if isinstance(score, ScoreFailure):
                self.fail(score)
                return
            pending, results, answer = batch[index]
            self.commit(pending, score, results, answer, spent if self.clock is not None else 0.0)

        if self.clock is not None:
            self.clock.stop()
        try:
            self.scorer.score(self.spec, [answer for _, _, answer in batch], self.context, on_scored)
        finally:
            if self.clock is not None:
                self.clock.start()
        if not all(done):
            raise RuntimeError(
                f"scorer {self.scorer.name!r} returned no score for {done.count(False)} item(s) of {self.spec.name}"
            )


class Executor:
    def __init__(
        self,
        backend: Backend,
        store: RunStore,
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
        self.models = dict(models or {})

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
        check_roles(spec, scorer, ScoringContext(models=self.models))
        judged = uses_models(scorer, ScoringContext(models=self.models))
        cache = StoreCompletions(self.store, run_id) if judged else None
        scoring = ScoringContext(models=self.models, completions=cache)
        judged_by = scoring_identity(scorer, spec, scoring)
        pending: list[_Pending] = []
        for item in task.items:
            context = self.render(spec, item)
            key = item_cache_key(
                backend=self.backend.info.backend,
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

        def commit(p: _Pending, score: ItemScore, results: Sequence[Result], answer: Answer, judge_s: float) -> None:
            self._commit(run_id, spec, p, score, results, answer, judge_s)

        def fail(failure: ScoreFailure) -> None:
            self.meter.add_error(failure.kind)
            self.meter.failed_items += 1
            self.progress.advance()

        queue = _ScoringQueue(spec, scorer, scoring, commit, fail, clock=self.meter if judged else None)
        try:
            if spec.output_type == "multiple_choice":
                self._run_loglik(spec, todo, queue)
            elif judged or any(p.item.followups for p in todo):
                self._run_turns(spec, todo, queue, cache)
            else:
                self._run_generate(spec, todo, queue)
        finally:
            self.progress.finish_task()

    def _run_loglik(self, spec: TaskSpec, todo: Sequence[_Pending], queue: _ScoringQueue) -> None:
        requests = [LoglikRequest(context=p.context, continuation=c) for p in todo for c in p.item.continuations]

        def ready(i: int, done: list[LoglikResult]) -> None:
            lls, greedy = tuple(r.logprob for r in done), tuple(r.is_greedy for r in done)
            queue.add(todo[i], done, Answer(todo[i].item, loglikelihoods=lls, is_greedy=greedy))

        gather = Gather([len(p.item.continuations) for p in todo], self.meter, ready)
        self.backend.loglikelihood(requests, on_result=gather)
        queue.flush()
        self._check_complete(spec, len(todo), gather.answered, len(gather.failed))

    @staticmethod
    def _gen_request(item: Item, prompt: str, sample: int, messages: Messages = ()) -> GenRequest:
        sampled = item.temperature > 0
        return GenRequest(
            prompt=prompt,
            stop=item.stop,
            max_tokens=item.max_tokens,
            temperature=item.temperature,
            top_p=item.top_p,
            seed=item.sample_seed + sample if sampled else None,
            messages=messages,
        )

    def _run_generate(self, spec: TaskSpec, todo: Sequence[_Pending], queue: _ScoringQueue) -> None:
        requests = [self._gen_request(p.item, p.context, j) for p in todo for j in range(p.item.samples)]

        def ready(i: int, done: list[GenResult]) -> None:
            queue.add(todo[i], done, Answer(todo[i].item, generations=tuple(r.text for r in done)))

        gather = Gather([p.item.samples for p in todo], self.meter, ready)
        self.backend.generate(requests, on_result=gather)
        queue.flush()
        self._check_complete(spec, len(todo), gather.answered, len(gather.failed))

    def _run_turns(
        self, spec: TaskSpec, todo: Sequence[_Pending], queue: _ScoringQueue, cache: StoreCompletions | None
    ) -> None:
        """Answer every turn of every item (turn k of all items in one batch, after turn k - 1),
        through the completion cache when given; then score them all."""
        chat = use_chat(spec, self.backend, self.chat_mode)
        results: list[list[GenResult]] = [[] for _ in todo]
        answers: list[list[str]] = [[] for _ in todo]  # the first sample's answer to each turn
        failed: set[int] = set()
        turn = 0
        while True:
            alive = [i for i, p in enumerate(todo) if i not in failed and turn <= len(p.item.followups)]
            if not alive:
                break
            requests: list[GenRequest] = []
            owner: list[tuple[int, int]] = []
            for i in alive:
                item = todo[i].item
                if turn == 0:
                    requests += [
                        self._gen_request(item, todo[i].context, j, item.chat_messages) for j in range(item.samples)
                    ]
                    owner += [(i, j) for j in range(item.samples)]
                else:
                    prompt, messages = turn_prompt(self.backend, item, answers[i], chat=chat)
                    requests.append(self._gen_request(item, prompt, 0, messages))
                    owner.append((i, 0))
            got = self._answer(spec, requests, owner, cache)
            failed |= {i for (i, _), result in got.items() if result.error is not None}
            for i in alive:
                if i not in failed:
                    mine = [got[key] for key in owner if key[0] == i]
                    results[i] += mine
                    answers[i].append(mine[0].text)
            turn += 1
        for i, p in enumerate(todo):
            if i not in failed:
                samples = tuple(r.text for r in results[i][: p.item.samples])
                turns = tuple(answers[i]) if p.item.followups else ()
                queue.add(p, results[i], Answer(p.item, generations=samples, turns=turns))
        queue.flush()
        self._check_complete(spec, len(todo), len(todo), len(failed))

    def _answer(
        self,
        spec: TaskSpec,
        requests: Sequence[GenRequest],
        owner: Sequence[tuple[int, int]],
        cache: StoreCompletions | None,
    ) -> dict[tuple[int, int], GenResult]:
        """Every request's result by its owner (item, sample); failures counted in the meter."""
        got: dict[tuple[int, int], GenResult] = {}

        def on_result(index: int, result: GenResult) -> None:
            if owner[index] in got:
                return
            got[owner[index]] = result
            if result.error is not None:
                self.meter.add_error(result.error.kind)

        if cache is not None:
            cache.generate(self.backend, requests, on_result)
        else:
            self.backend.generate(requests, on_result=on_result)
        if len(got) != len(requests):
            raise RuntimeError(f"backend returned no result for {len(requests) - len(got)} request(s) of {spec.name}")
        return got

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
        judge_s: float = 0.0,
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
            turns=list(answer.turns) or None,
            judge_prompt_tokens=score.judge_usage.prompt_tokens if score.judge_usage else 0,
            judge_completion_tokens=score.judge_usage.completion_tokens if score.judge_usage else 0,
            judge_s=judge_s,
        )
        self.store.add_item(run_id, record, tick=self.meter.tick())
        self.progress.advance()
