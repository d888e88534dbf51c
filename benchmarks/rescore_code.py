"""Re-test a stored code run's answers under the current version of its task's tests.

    python benchmarks/rescore_code.py RUN_ID --store sqlite:///path/to/store.db [--data-dir DIR]

A code task's scoring can change after a run (``humaneval_instruct`` v2 runs the tests in a
namespace that holds the prompt's helpers). Generating the answers again costs minutes to hours on a
CPU; this script takes the greedy answers the run stored, builds each program with the task as it
is now, runs it in agimeter's sandbox and prints pass@1 before and after, with every item that
changed and why. It writes nothing to the store: the stored run keeps the score it was measured
with, and a fresh ``agimeter run`` is what records the new version.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from agimeter.config import resolve_data_dir
from agimeter.scoring.code import build_program, limits_for
from agimeter.scoring.sandbox import run_many
from agimeter.scoring.stats import wilson_interval
from agimeter.store.repository import Store
from agimeter.tasks import Task, resolve_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_id")
    parser.add_argument("--store", required=True)
    parser.add_argument("--data-dir")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()

    store = Store.open(args.store)
    run = store.get_run(args.run_id)
    records = store.run_items(args.run_id)
    data_dir = resolve_data_dir(args.data_dir or getattr(run.config, "data_dir", None))
    rows: list[dict[str, Any]] = []
    for name in sorted({r.task for r in records}):
        spec = resolve_task(name)
        if spec.scoring.kind != "code_exec":
            continue
        stored = [r for r in records if r.task == name]
        items = {i.doc_id: i for i in Task(spec, data_dir).items()}
        answers = [(r, (r.generations or [r.generation or ""])[0]) for r in stored]
        programs = [build_program(items[r.doc_id], answer) for r, answer in answers]
        results = run_many(programs, limits_for(spec))
        before = sum(bool(r.correct) for r, _ in answers)
        after = sum(res.status == "passed" for res in results)
        changed = [
            {
                "doc_id": r.doc_id,
                "stored_version": r.task_version,
                "before": "passed" if r.correct else f"failed ({(r.details or {}).get('reason', ['?'])[0]})",
                "after": res.status if res.status == "passed" else f"{res.status} ({res.reason})",
            }
            for (r, _), res in zip(answers, results, strict=True)
            if bool(r.correct) != (res.status == "passed")
        ]
        n = len(answers)
        rows.append(
            {
                "task": name,
                "stored_versions": sorted({r.task_version for r in stored}),
                "current_version": spec.version,
                "n": n,
                "before": {"passed": before, "pass@1": before / n, "ci95": wilson_interval(before, n)},
                "after": {"passed": after, "pass@1": after / n, "ci95": wilson_interval(after, n)},
                "changed": changed,
            }
        )
    if args.json:
        print(json.dumps({"run": run.id, "model": run.model, "tasks": rows}, indent=2))
        return
    print(f"run {run.id} ({run.model})")
    for row in rows:
        b, a = row["before"], row["after"]
        print(
            f"{row['task']} v{','.join(row['stored_versions'])} -> v{row['current_version']}: "
            f"pass@1 {100 * b['pass@1']:.1f}% ({b['passed']}/{row['n']}) -> {100 * a['pass@1']:.1f}% "
            f"({a['passed']}/{row['n']}) [{100 * a['ci95'][0]:.1f}, {100 * a['ci95'][1]:.1f}]"
        )
        for c in row["changed"]:
            print(f"  doc {c['doc_id']}: {c['before']} -> {c['after']}")


if __name__ == "__main__":
    main()
