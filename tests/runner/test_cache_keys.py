"""The item cache key follows the judge: a scorer's name and version are part of it, and the keys of
items cached before scorers had versions are unchanged (so existing stores keep their results);
refusal verdicts of the classifier before its re-tuning are not reused."""

from __future__ import annotations

import pytest

from agimeter.runner.keys import item_cache_key, scoring_identity
from agimeter.scoring import ScoringContext, get_scorer
from agimeter.scoring.registry import scorer_for
from agimeter.tasks.item import Item
from agimeter.tasks.registry import resolve_task
from agimeter.tasks.spec import TaskSpec

MC = Item(
    task="arc_challenge",
    doc_id=7,
    kind="multiple_choice",
    context="Question: Which is a gas?\nAnswer:",
    continuations=(" oxygen", " iron"),
    choice_texts=("oxygen", "iron"),
    target=0,
)
GEN = Item(task="gsm8k", doc_id=3, kind="generate", context="Q: 2 + 2?\nA:", target="4", stop=("Q:",), max_tokens=256)
CODE = Item(
    task="humaneval",
    doc_id=0,
    kind="generate",
    context="def f():\n",
    target="",
    stop=("\ndef",),
    max_tokens=512,
    extra={"prefix": "def f():\n", "tests": "assert f() == 1"},
)
# Computed by agimeter before the scorer registry (commit b38913f, ``execute._scoring_identity``).
KEYS_BEFORE_SCORER_VERSIONS = {
    "arc_challenge": "46794c70369a2363bafffb1762238ec67e6f38767c987fdd11439607a09b8a7e",
    "gsm8k": "335e0900f8d03c52e44c2e39a6f55b76defd8869576b4bb847a2dd457299a0dc",
    "humaneval": "a57d772e1fb3d319893a95ab20c35965701eddf69302531c94df4be08c99b062",
}


def _identity(spec: TaskSpec) -> dict[str, object]:
    return scoring_identity(scorer_for(spec), spec, ScoringContext())


def _key(spec: TaskSpec, item: Item) -> str:
    return item_cache_key(
        model_identity="m" * 64,
        numerics={"dtype": "float32", "device": "cpu"},
        task=spec.name,
        task_version=spec.version,
        item=item,
        context=item.context,
        scoring=_identity(spec),
    )


@pytest.mark.parametrize(("task", "item"), [("arc_challenge", MC), ("gsm8k", GEN), ("humaneval", CODE)])
def test_keys_of_unchanged_scorers_are_the_keys_from_before_scorer_versions(task: str, item: Item) -> None:
    assert _key(resolve_task(task), item) == KEYS_BEFORE_SCORER_VERSIONS[task]


def test_code_tasks_key_on_the_sandbox_judge_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from agimeter.scoring import sandbox

    code, closed = resolve_task("humaneval"), resolve_task("arc_challenge")
    before_code, before_closed = _identity(code), _identity(closed)
    assert before_code["sandbox_judge"] == sandbox.JUDGE_VERSION == get_scorer("code_exec").version
    assert "sandbox_judge" not in before_closed  # other tasks keep their keys (and their cached results)
    monkeypatch.setattr(type(get_scorer("code_exec")), "version", sandbox.JUDGE_VERSION + "-next")
    assert _identity(code) != before_code
    assert _identity(closed) == before_closed


@pytest.mark.parametrize(("task", "item"), [("arc_challenge", MC), ("gsm8k", GEN)])
def test_a_bumped_scorer_version_changes_the_key(monkeypatch: pytest.MonkeyPatch, task: str, item: Item) -> None:
    spec = resolve_task(task)
    scorer = scorer_for(spec)
    monkeypatch.setattr(type(scorer), "version", "2")
    assert _identity(spec)["scorer_version"] == "2"
    assert _key(spec, item) != KEYS_BEFORE_SCORER_VERSIONS[task]


def test_what_a_scorer_depends_on_enters_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = resolve_task("gsm8k")
    scorer = type(scorer_for(spec))
    monkeypatch.setattr(scorer, "identity", lambda self, spec, context: {"grader": "judge-model-hash"})
    assert _identity(spec)["scorer_identity"] == {"grader": "judge-model-hash"}
    assert _key(spec, GEN) != KEYS_BEFORE_SCORER_VERSIONS["gsm8k"]


def test_refusal_tasks_key_on_the_classifier_version() -> None:
    from agimeter.scoring import refusal

    safety, closed = resolve_task("xstest"), resolve_task("arc_challenge")
    assert get_scorer("refusal").version == refusal.JUDGE_VERSION != "1"  # re-tuned: old verdicts re-scored
    assert _identity(safety)["scorer_version"] == refusal.JUDGE_VERSION
    assert "scorer_version" not in _identity(closed)
