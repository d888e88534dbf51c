"""Aggregate stored items into per-task (and per-subtask) scores with confidence intervals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from agimeter.analysis.stats import Estimate, estimate
from agimeter.store.records import ItemRecord

SUMMARY_SCHEMA_VERSION = 1


class TaskScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    task_version: str
    n: int
    metrics: dict[str, Estimate]
    subtasks: dict[str, dict[str, Estimate]]
    prompt_tokens: int
    completion_tokens: int


def summarize(items: Sequence[ItemRecord]) -> list[TaskScore]:
    by_task: dict[str, list[ItemRecord]] = defaultdict(list)
    for item in items:
        by_task[item.task].append(item)
    scores = []
    for task, rows in by_task.items():
        metric_names = sorted({name for row in rows for name in row.metrics})
        subtask_rows: dict[str, list[ItemRecord]] = defaultdict(list)
        for row in rows:
            if row.subtask is not None:
                subtask_rows[row.subtask].append(row)
        scores.append(
            TaskScore(
                task=task,
                task_version=rows[0].task_version,
                n=len(rows),
                metrics={m: estimate([r.metrics[m] for r in rows if m in r.metrics]) for m in metric_names},
                subtasks={
                    sub: {m: estimate([r.metrics[m] for r in srows if m in r.metrics]) for m in metric_names}
                    for sub, srows in sorted(subtask_rows.items())
                }
                if len(subtask_rows) > 1
                else {},
                prompt_tokens=sum(r.prompt_tokens for r in rows),
                completion_tokens=sum(r.completion_tokens for r in rows),
            )
        )
    return scores
