"""Sequential sampling (``--target-ci``): evaluate a task in growing chunks of its stratified
random order and stop as soon as the 95% CI of its primary metric is narrower than asked.

Every prefix of the order is a proportional stratified sample (``tasks.sampling``), and the
estimate is the stratified one (weights = subtask sizes, finite-population correction). The
estimate is looked at after each chunk, so its coverage is that of a fixed-size interval at
the stopping size; chunks grow by 1.5x, which keeps the number of looks small (≈ log n)."""

from __future__ import annotations

import math
from collections.abc import Callable

from agimeter.records.protocol import TaskProtocol
from agimeter.records.summary import SequentialResult
from agimeter.runner.execute import Executor, PreparedTask
from agimeter.runner.run_store import RunStore
from agimeter.scoring.aggregate import summarize

FIRST_CHUNK = 64
GROWTH = 1.5


def run_until_ci(
    executor: Executor,
    store: RunStore,
    run_id: str,
    task: PreparedTask,
    target: float,
    after_chunk: Callable[[], None] | None = None,
) -> SequentialResult:
    """``task.items`` must be in stratified random order; ``task.population`` its strata sizes."""
    done, chunk, looks = 0, FIRST_CHUNK, 0
    half: float | None = None
    metric: str | None = None
    total = len(task.items)
    while done < total:
        upto = min(total, done + chunk)
        executor.run_task(run_id, PreparedTask(task.spec, task.items[done:upto], task.protocol, task.population))
        done, chunk, looks = upto, math.ceil(chunk * GROWTH), looks + 1
        if after_chunk is not None:
            after_chunk()
        rows = [r for r in store.run_items(run_id) if r.task == task.spec.name]
        protocol = TaskProtocol.model_validate(task.protocol)
        scores = summarize(rows, {task.spec.name: protocol}, {task.spec.name: task.population or {}})
        if scores and scores[0].primary_metric is not None:
            metric = scores[0].primary_metric
            est = scores[0].metrics[metric]
            half = (est.ci_high - est.ci_low) / 2
            if half <= target:
                break
    population = sum((task.population or {}).values()) or total
    return SequentialResult(
        target_half_width=target,
        metric=metric,
        evaluated=done,
        population=population,
        half_width=half,
        reached=half is not None and half <= target,
        looks=looks,
    )
