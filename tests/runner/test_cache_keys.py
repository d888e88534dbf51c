"""The item cache key follows the judge: a scorer's name and version are part of it, and the keys of
items cached before scorers had versions are unchanged (so existing stores keep their results);
refusal verdicts of the classifier before its re-tuning are not reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from agimeter.backends.base import GenRequest
from agimeter.backends.fake import FakeBackend
from agimeter.records.model import ModelInfo
from agimeter.records.options import RunOptions
from agimeter.records.summary import EvalSummary
from agimeter.runner.keys import LEGACY_STACKS, completion_key, item_cache_key, numerics_of, scoring_identity
from agimeter.runner.session import execute_run, prepare_tasks
from agimeter.scoring import ScoringContext, get_scorer
from agimeter.scoring.registry import scorer_for
from agimeter.store.repository import Store
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


def _key(spec: TaskSpec, item: Item, backend: str = "hf") -> str:
    return item_cache_key(
        backend=backend,
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


@pytest.mark.parametrize("backend", sorted(LEGACY_STACKS))
def test_the_stacks_from_before_the_backend_field_keep_their_keys(backend: str) -> None:
    """Stores made before the stack entered the key keep their items: hf, gguf, openai and fake
    identities never collided (each hashes what only its stack reads)."""
    assert _key(resolve_task("arc_challenge"), MC, backend=backend) == KEYS_BEFORE_SCORER_VERSIONS["arc_challenge"]


def test_another_stack_with_the_same_identity_gets_other_keys() -> None:
    spec = resolve_task("arc_challenge")
    legacy = _key(spec, MC, backend="hf")
    new, other = _key(spec, MC, backend="hf_fast"), _key(spec, MC, backend="vllm_inproc")
    assert len({legacy, new, other}) == 3
    request = GenRequest(prompt="Q: 2 + 2?\nA:", max_tokens=8)
    info = ModelInfo(backend="hf", name="m", identity="m" * 64, dtype="float32", device="cpu")
    keys = {completion_key(info.model_copy(update={"backend": b}), request) for b in ("hf", "hf_fast", "vllm_inproc")}
    assert len(keys) == 3


class _SameWeightsOtherStack(FakeBackend):
    """A backend that reuses the fake's identity (as a new backend could reuse hf's identity
    helper) but is another stack: its numbers are not the fake's."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.info = self.info.model_copy(update={"backend": "fake_twin"})


def test_two_backends_with_the_same_weights_never_share_cached_items(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    options = RunOptions(model="fake:m", tasks=["offline_arith_mc", "offline_arith_gen"], limit=4)
    first, twin = FakeBackend("m"), _SameWeightsOtherStack("m")
    assert first.info.identity == twin.info.identity and numerics_of(first.info) == numerics_of(twin.info)
    run_a = execute_run(options, store, prepare_tasks(options), first, 0.0)
    run_b = execute_run(options, store, prepare_tasks(options), twin, 0.0)
    assert run_a.id != run_b.id and run_a.run_key != run_b.run_key  # nor resume each other's runs
    for run in (run_a, run_b):
        assert isinstance(run.summary, EvalSummary) and run.summary.measurement is not None
        assert run.summary.measurement.items_computed == 8 and run.summary.measurement.items_cached == 0
    keys_a = {i.cache_key for i in store.run_items(run_a.id)}
    assert keys_a.isdisjoint(i.cache_key for i in store.run_items(run_b.id))
    # the same stack again is served from the cache
    again = execute_run(options, store, prepare_tasks(options), FakeBackend("m"), 0.0)
    assert isinstance(again.summary, EvalSummary) and again.summary.measurement is not None
    assert again.summary.measurement.items_cached == 8 and again.summary.measurement.items_computed == 0
