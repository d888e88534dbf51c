"""A judged run in ``show`` and ``--format json``: the judge's meter and cost, the judged tasks' figures."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from agimeter.analysis.judged import judged_figures
from agimeter.analysis.runs import run_items, run_judge, run_judge_cost
from agimeter.store.records import RunRecord
from agimeter.store.repository import Store


def judge_payload(store: Store, run: RunRecord) -> dict[str, Any]:
    """``judge`` (measurement and cost) and ``judged`` (figures per task), when the run has a judge."""
    judge = run_judge(run)
    if judge is None:
        return {}
    figures = judged_figures(run_items(store, run))
    return {
        "judge": {
            "measurement": judge.model_dump(mode="json"),
            "cost": run_judge_cost(run, judge).model_dump(mode="json"),
        },
        "judged": [f.model_dump(mode="json") for f in figures],
    }


def judge_tables(store: Store, run: RunRecord) -> list[Table]:
    from agimeter.cli.render_judge import figures_table, judge_table

    judge = run_judge(run)
    if judge is None:
        return []
    tables = [judge_table(judge, run_judge_cost(run, judge))]
    figures = judged_figures(run_items(store, run))
    if figures:
        tables.append(figures_table(figures))
    return tables
