"""The item cache key follows the judge: code results judged by an older sandbox, and refusal verdicts of an
older classifier, are not reused."""

from __future__ import annotations

import pytest

from agimeter.runner import execute
from agimeter.tasks.registry import resolve_task


def test_code_tasks_key_on_the_sandbox_judge_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from agimeter.scoring import sandbox

    code, closed = resolve_task("humaneval"), resolve_task("arc_challenge")
    before_code, before_closed = execute._scoring_identity(code), execute._scoring_identity(closed)
    assert before_code["sandbox_judge"] == sandbox.JUDGE_VERSION
    assert "sandbox_judge" not in before_closed  # other tasks keep their keys (and their cached results)
    monkeypatch.setattr(sandbox, "JUDGE_VERSION", sandbox.JUDGE_VERSION + "-next")
    assert execute._scoring_identity(code) != before_code
    assert execute._scoring_identity(closed) == before_closed


def test_refusal_tasks_key_on_the_classifier_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from agimeter.scoring import refusal

    safety, closed = resolve_task("xstest"), resolve_task("arc_challenge")
    before_safety, before_closed = execute._scoring_identity(safety), execute._scoring_identity(closed)
    assert before_safety["refusal_judge"] == refusal.JUDGE_VERSION
    assert "refusal_judge" not in before_closed
    monkeypatch.setattr(refusal, "JUDGE_VERSION", refusal.JUDGE_VERSION + "-next")
    assert execute._scoring_identity(safety) != before_safety
    assert execute._scoring_identity(closed) == before_closed
