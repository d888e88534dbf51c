"""Runs to table rows: the typed parts (summary, config, model info) are stored as JSON in the
current version of their records. Rows of every version are read back through
``records.run.load_run`` (``Store``): migrations, and a row that does not validate loads with
its problem set."""

from __future__ import annotations

from typing import Any

from agimeter.errors import StoreError
from agimeter.records.model import ModelInfo
from agimeter.records.options import RunConfig
from agimeter.records.run import RunRecord
from agimeter.records.summary import RunSummary
from agimeter.store.tables import RunRow

HEADER = ("id", "run_key", "status", "created_at", "updated_at", "model", "model_identity", "error")


def stored_parts(summary: RunSummary, config: RunConfig, model_info: ModelInfo | None) -> dict[str, Any]:
    """The JSON columns of a run."""
    return {
        "summary": summary.model_dump(mode="json"),
        "config": config.model_dump(mode="json"),
        "model_info": model_info.model_dump(mode="json") if model_info is not None else {},
    }


def run_row(run: RunRecord) -> RunRow:
    """A new row for ``run``; a run loaded with a problem is never written back."""
    if run.problem is not None:
        raise StoreError(f"cannot store {run.problem}")
    return RunRow(
        **{name: getattr(run, name) for name in HEADER},
        schema_version=run.schema_version,
        tasks=list(run.tasks),
        **stored_parts(run.summary, run.config, run.model_info),
    )
