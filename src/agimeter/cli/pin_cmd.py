"""``agimeter pin``: choose by hand which run stands for a model's task in the report, the
leaderboard and the analyses (instead of the largest standard-protocol run)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from agimeter.analysis.selection import PERF_TASK
from agimeter.cli.consoles import console
from agimeter.cli.options import ConfigOpt, FormatOpt, StoreOpt, check_format
from agimeter.cli.stores import open_store
from agimeter.errors import ConfigError
from agimeter.records.run import RunRecord
from agimeter.store.repository import Store


def measured_key(model: str, identity: str) -> str:
    from agimeter.analysis.entry_model import measured_key as key

    return key(model, identity)


def _identity(runs: list[RunRecord], target: str) -> str:
    """The model identity ``target`` names: a model as given to ``run``, an entry key or an identity."""
    found = {
        r.model_identity for r in runs if target in (r.model, r.model_identity, measured_key(r.model, r.model_identity))
    }
    if not found:
        raise ConfigError(f"no stored run of a model {target!r}: give the model as run, its entry key or its identity")
    if len(found) > 1:
        keys = sorted({measured_key(r.model, r.model_identity) for r in runs if r.model_identity in found})
        raise ConfigError(f"{target!r} names {len(found)} models: give one of the entry keys {', '.join(keys)}")
    return found.pop()


def _tasks(run: RunRecord) -> list[str]:
    return [PERF_TASK] if run.is_perf else list(run.tasks)


def pin(
    target: Annotated[
        str | None, typer.Argument(help="The model: as given to `run`, its leaderboard key (m-...) or identity.")
    ] = None,
    run_id: Annotated[str | None, typer.Argument(help="The run to use for it (id or unique prefix).")] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Only this task (default: every task the run has; perf: a perf run).")
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the pins.")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the pins (of MODEL, of --task, or all).")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    output: FormatOpt = "table",
) -> None:
    """Pin a run for a model (and task): the views use it instead of the largest standard run."""
    check_format(output)
    if list_ and clear:
        raise ConfigError("--list and --clear contradict each other")
    db = open_store(store, config)
    try:
        if list_:
            _list(db, output)
        elif clear:
            if run_id is not None:
                raise ConfigError("--clear takes a model (or nothing), not a run")
            identity = _identity(db.list_runs(), target) if target else None
            removed = db.clear_pins(identity, task)
            console.print(f"removed {removed} pin(s)", highlight=False)
        else:
            _pin(db, target, run_id, task)
    finally:
        db.close()


def _pin(db: Store, target: str | None, run_id: str | None, task: str | None) -> None:
    if target is None or run_id is None:
        raise ConfigError("give MODEL and RUN_ID (or --list, or --clear)")
    run = db.get_run(run_id)
    identity = _identity(db.list_runs(), target)
    if run.model_identity != identity:
        raise ConfigError(f"run {run.id} is a run of {run.model} ({run.model_identity[:12]}), not of {target!r}")
    if run.status not in ("finished", "incomplete"):
        raise ConfigError(f"run {run.id} is {run.status}: only finished or incomplete runs can stand for a model")
    if task is not None and task not in _tasks(run):
        raise ConfigError(f"run {run.id} has no task {task!r} (it has {', '.join(_tasks(run))})")
    record = db.pin_run(identity, run.id, task)
    which = f"task {record.task}" if record.task else f"every task it has ({', '.join(_tasks(run))})"
    console.print(f"pinned run {run.id} for {measured_key(run.model, identity)}: {which}", highlight=False)


def _list(db: Store, output: str) -> None:
    pins = db.pins()
    runs = {r.id: r for r in db.list_runs()}
    if output == "json":
        sys.stdout.write(json.dumps([p.model_dump(mode="json") for p in pins], indent=2) + "\n")
        return
    table = Table(title="pinned runs (they stand for their model's task in every view)", title_justify="left")
    for col in ("entry", "model", "task", "run", "pinned (UTC)"):
        table.add_column(col)
    for p in pins:
        run = runs.get(p.run_id)
        model = run.model if run else "?"
        key = measured_key(model, p.model_identity) if run else p.model_identity[:12]
        table.add_row(key, model, p.task or "every task of the run", p.run_id, f"{p.created_at:%Y-%m-%d %H:%M}")
    console.print(table)
    if not pins:
        console.print("no pins: each task uses its run with the most items under the task's own protocol")
