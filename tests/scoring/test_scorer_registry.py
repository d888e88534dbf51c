"""The scorer seam: every built-in metric is a registered ``Scorer``; the runner hands answered items
to the task's scorer in batches and commits each item as the scorer reports it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agimeter.backends.fake import FakeBackend
from agimeter.runner.session import RunOptions, execute_run, prepare_tasks
from agimeter.scoring import (
    SCORERS,
    Answer,
    BaseScorer,
    ItemScore,
    Judged,
    SampleScorer,
    Scorer,
    ScoringContext,
    from_judged,
    get_scorer,
    scorer,
    scorer_names,
)
from agimeter.scoring.base import OnScored
from agimeter.store.repository import Store
from agimeter.tasks.item import Item
from agimeter.tasks.registry import builtin_task_names, resolve_task
from agimeter.tasks.spec import TaskSpec


def test_every_builtin_metric_is_a_registered_scorer() -> None:
    assert scorer_names() == [
        "code_exec",
        "exact_match",
        "ifeval",
        "judge_pairwise",
        "judge_single",
        "math_equiv",
        "multiple_choice",
        "refusal",
    ]
    for name in scorer_names():
        assert isinstance(get_scorer(name), Scorer) and get_scorer(name).name == name
    used = {resolve_task(task).scorer for task in builtin_task_names()}
    assert used == set(scorer_names())  # each one scores at least one built-in task
    assert get_scorer("code_exec").version == "2" and get_scorer("exact_match").version == "1"


def test_code_exec_scores_a_batch_and_reports_each_item_when_its_programs_end() -> None:
    spec = resolve_task("humaneval_sampled")
    passing, failing = "    return a + b\n", "    return a - b\n"

    def answer(doc_id: int, samples: Sequence[str]) -> Answer:
        item = Item(
            task=spec.name,
            doc_id=doc_id,
            kind="generate",
            context="",
            target="",
            extra={"prefix": "def add(a, b):\n", "tests": "assert add(2, 3) == 5\n"},
        )
        return Answer(item, generations=tuple(samples))

    answers = [answer(0, [passing] * 10), answer(1, [failing] * 10), answer(2, [passing] * 5 + [failing] * 5)]
    scored: dict[int, ItemScore] = {}

    def on_scored(index: int, score: ItemScore) -> None:
        assert index not in scored
        scored[index] = score

    get_scorer("code_exec").score(spec, answers, ScoringContext(), on_scored)
    assert sorted(scored) == [0, 1, 2]
    assert scored[0].metrics == {"pass@1": 1.0, "pass@5": 1.0, "pass@10": 1.0}
    assert scored[1].metrics == {"pass@1": 0.0, "pass@5": 0.0, "pass@10": 0.0}
    assert scored[2].metrics["pass@1"] == pytest.approx(0.5) and scored[2].metrics["pass@10"] == 1.0
    assert scored[2].details["status"] == ["passed"] * 5 + ["failed"] * 5


def _run(toy_env: dict[str, Path], limit: int) -> tuple[Store, str]:
    text = toy_env["gen"].read_text().replace("name: toy_gen", "name: toy_shout")
    path = toy_env["tmp"] / "toy_shout.yaml"
    path.write_text(text.replace("metrics: [exact_match]", "scoring: {kind: shout}\nmetrics: [loud]"))
    options = RunOptions(model="fake:m", tasks=[str(path)], data_dir=str(toy_env["data"]), limit=limit)
    store = Store.open(f"sqlite:///{toy_env['store']}")
    return store, execute_run(options, store, prepare_tasks(options), FakeBackend("m", default="HEY"), 0.0).id


def test_a_new_scorer_is_one_class_and_its_registration(toy_env: dict[str, Path]) -> None:
    with SCORERS.isolated():

        @scorer("shout")
        class Shout(SampleScorer):
            metrics = ("loud",)

            def judge(self, spec: TaskSpec, item: Item, generation: str) -> Judged:
                return Judged({"loud": float(generation.isupper())}, extracted=generation)

        store, run_id = _run(toy_env, limit=3)
        assert [r.metrics for r in store.run_items(run_id)] == [{"loud": 1.0}] * 3
        assert [r.prediction for r in store.run_items(run_id)] == ["HEY"] * 3
    assert "shout" not in SCORERS


def test_a_scorer_that_drops_an_item_fails_the_run_and_commits_only_what_it_scored(
    toy_env: dict[str, Path],
) -> None:
    with SCORERS.isolated():

        @scorer("shout")
        class Forgetful(BaseScorer):
            metrics = ("loud",)

            @property
            def batch_size(self) -> int:
                return 2

            def score(
                self, spec: TaskSpec, answers: Sequence[Answer], context: ScoringContext, on_scored: OnScored
            ) -> None:
                answer = answers[0]  # the others are never reported
                on_scored(0, from_judged(spec, answer.item, answer.generations, Judged({"loud": 1.0})))

        with pytest.raises(RuntimeError, match=r"scorer 'shout' returned no score for 1 item\(s\) of toy_shout"):
            _run(toy_env, limit=4)
        store = Store.open(f"sqlite:///{toy_env['store']}")
        (run,) = store.list_runs()
        assert run.status == "failed" and [r.doc_id for r in store.run_items(run.id)] == [0]
