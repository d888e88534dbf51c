"""The sandbox's seccomp allow-list and pass marker against real benchmark code: every HumanEval
reference solution, and the first 100 of MBPP, pass with their own tests; a reference solution
followed by ``sys.exit(0)`` before its tests does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agimeter.scoring.code import build_program
from agimeter.scoring.sandbox import run_many
from agimeter.tasks.registry import resolve_task
from agimeter.tasks.task import Task


@pytest.mark.slow
def test_reference_solutions_pass_under_the_filter(data_dir: Path) -> None:
    items = Task(resolve_task("humaneval"), data_dir).items()
    rows = [json.loads(line) for line in (data_dir / "humaneval" / "HumanEval.jsonl").open()]
    programs = [build_program(item, row["canonical_solution"]) for item, row in zip(items, rows, strict=True)]
    mbpp = [json.loads(line) for line in (data_dir / "mbpp" / "mbpp.jsonl").open()][:100]
    programs += [r["code"] + "\n" + r["test_setup_code"] + "\n" + "\n".join(r["test_list"]) + "\n" for r in mbpp]
    results = run_many(programs)
    failed = {i: r.reason for i, r in enumerate(results) if r.status != "passed"}
    assert len(results) == 264 and failed == {}
    early = build_program(items[0], rows[0]["canonical_solution"] + "\nimport sys\nsys.exit(0)\n")
    (result,) = run_many([early])
    assert (result.status, result.returncode) == ("failed", 0) and "before the tests finished" in result.reason
