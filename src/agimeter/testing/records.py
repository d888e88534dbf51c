"""Store records for tests: a scored item with every field set, overridable by keyword."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from agimeter.store.records import ItemRecord


def item_record(doc_id: int, cache_key: str, **fields: Any) -> ItemRecord:
    """A multiple-choice item of task ``t`` that was answered right; ``fields`` override any field."""
    values: dict[str, Any] = {
        "task": "t",
        "task_version": "1",
        "doc_id": doc_id,
        "target": 0,
        "prediction": 0,
        "correct": True,
        "metrics": {"acc": 1.0},
        "loglikelihoods": [-1.0, -2.0],
        "is_greedy": [True, False],
        "prompt_tokens": 10,
        "completion_tokens": 0,
        "computed_prompt_tokens": 6,
        "prefill_s": 0.1,
        "decode_s": 0.0,
        "total_s": 0.1,
        "prompt_sha256": "p",
        "cache_key": cache_key,
    }
    return ItemRecord.model_validate({**values, **fields})


def sqlite_count(path: Path, sql: str) -> int:
    """``select count(*) ...`` on a SQLite store file that another process may be writing; 0 while
    the file or its tables do not exist yet (for tests that watch a run from outside)."""
    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(path, timeout=30)
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:  # tables not created yet
        return 0
