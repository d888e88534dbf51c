"""The completion cache: generation results kept in the store by model and exact request.

Judged tasks send their candidate answers and their judge calls through it, so the candidate's
answers are not generated again when only the judge changes, and a killed run resumes with
nothing generated or judged twice: each result is kept as soon as it comes back. A result kept by
an earlier session of the same run still counts (that work is this run's, not yet stored with an
item); one another run paid for comes back with no usage and no time, as cached items cost
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agimeter.backends.base import Backend, GenCallback, GenRequest, GenResult, Timing, Usage
from agimeter.runner.keys import completion_key
from agimeter.store.records import CompletionRecord
from agimeter.store.repository import Store


class StoreCompletions:
    """``scoring.base.CompletionCache`` over the store, for one run."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.hits = 0  # results answered from the cache (tests, progress)

    def generate(
        self,
        backend: Backend,
        requests: Sequence[GenRequest],
        on_result: GenCallback,
        keep: Callable[[int, GenResult], bool] | None = None,
    ) -> None:
        keys = [completion_key(backend.info, request) for request in requests]
        kept = self.store.cached_completions(keys)
        todo: list[int] = []
        for index, key in enumerate(keys):
            record = kept.get(key)
            if record is None:
                todo.append(index)
                continue
            self.hits += 1
            result = GenResult.model_validate(record.result)
            if record.run_id != self.run_id:
                result = result.model_copy(update={"usage": Usage(), "timing": Timing()})
            on_result(index, result)
        if not todo:
            return

        def on_computed(position: int, result: GenResult) -> None:
            index = todo[position]
            if result.error is None and (keep is None or keep(index, result)):
                record = CompletionRecord(
                    cache_key=keys[index], run_id=self.run_id, result=result.model_dump(mode="json")
                )
                self.store.add_completion(record)
            on_result(index, result)

        backend.generate([requests[i] for i in todo], on_result=on_computed)
