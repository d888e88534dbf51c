"""Constructed stores for tests: evaluation runs with chosen sizes, dates, protocols and scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agimeter.runner.hardware import detect_hardware
from agimeter.runner.meter import Measurement
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store
from agimeter.testing.records import item_record


def measurement(
    items: int, wall_s: float = 100.0, tokens_per_item: int = 100, computed_share: float = 1.0
) -> Measurement:
    """A run's measurement: ``items`` computed items of ``tokens_per_item`` prompt tokens each."""
    tokens = items * tokens_per_item
    return Measurement(
        wall_s=wall_s, load_s=0.0, items_computed=items, items_cached=0, items_per_s=items / wall_s,
        prompt_tokens=tokens, computed_prompt_tokens=int(tokens * computed_share), completion_tokens=0,
        prefill_s=wall_s * 0.9, decode_s=0.0, prefill_tokens_per_s=tokens / (wall_s * 0.9), decode_tokens_per_s=None,
        peak_rss_bytes=1_500_000_000, cuda_max_allocated_bytes=None, hardware=detect_hardware(),
    )  # fmt: skip


def protocol(
    task: str, dimension: str = "reasoning", shots: int = 0, *, counts: bool | None = True, **extra: Any
) -> dict[str, Any]:
    """A stored task protocol; ``counts`` None leaves ``counts_toward_dimension`` out (older runs)."""
    body: dict[str, Any] = {
        "task": task,
        "version": "1",
        "dimension": dimension,
        "metrics": ["acc"],
        "fewshot": {"num_fewshot": shots},
        "prompt": {"chat": False},
        "standard": {"num_fewshot": shots, "chat": False},
        **extra,
    }
    if counts is not None:
        body["counts_toward_dimension"] = counts
    return body


def eval_run(
    store: Store,
    run_id: str,
    tasks: dict[str, tuple[int, float]],
    *,
    model: str = "hf:org/M-1B",
    identity: str = "sha-model",
    created: datetime = datetime(2026, 1, 1),
    protocols: dict[str, dict[str, Any]] | None = None,
    config: dict[str, Any] | None = None,
    task_sizes: dict[str, int] | None = None,
    price_per_hour: float = 0.36,
    chance: float = 0.25,
    num_parameters: int = 1_000_000_000,
    **summary: Any,
) -> RunRecord:
    """Store a finished run: per task, (items, share answered right) as MC items of 100 tokens."""
    total = sum(n for n, _ in tasks.values())
    run = RunRecord(
        id=run_id, run_key=f"k-{run_id}", status="finished", created_at=created, updated_at=created, model=model,
        model_identity=identity, tasks=list(tasks),
        config={"price_per_hour": price_per_hour, "profile": "laptop-cpu", **(config or {})},
        model_info={"backend": "hf", "name": model, "identity": identity, "num_parameters": num_parameters},
        summary={
            "protocols": {t: (protocols or {}).get(t) or protocol(t) for t in tasks},
            "measurement": measurement(total).model_dump(mode="json"),
            "task_sizes": task_sizes or {t: 1000 for t in tasks},
            **summary,
        },
    )  # fmt: skip
    store.create_run(run)
    for task, (n, share) in tasks.items():
        right = round(n * share)
        for i in range(n):
            correct = i < right
            store.add_item(
                run_id,
                item_record(
                    i, f"{run_id}-{task}-{i}", task=task, correct=correct, metrics={"acc": float(correct)},
                    chance={"acc": chance}, prompt_tokens=100, computed_prompt_tokens=100,
                    prediction=0 if correct else 1,
                ),
            )  # fmt: skip
    return run
