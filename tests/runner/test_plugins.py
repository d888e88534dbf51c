"""A separate package adds a backend and a scorer through entry points, without editing agimeter:
a tiny installed distribution (a dist-info with ``entry_points.txt``) in a temporary directory on
``sys.path``, run through ``execute_run`` and through ``agimeter run``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agimeter.backends.fake import FakeBackend
from agimeter.errors import ConfigError, TaskSpecError
from agimeter.runner.session import RunOptions, execute_run, load_backend, prepare_tasks
from agimeter.store.repository import Store
from agimeter.tasks.registry import load_spec
from agimeter.testing.plugins import fresh_registries, write_distribution

PLUGIN = '''\
"""A third-party plugin: an ``echo:`` backend and a batch ``word_count`` scorer."""

from agimeter.backends import backend
from agimeter.backends.fake import FakeBackend
from agimeter.scoring import BaseScorer, Judged, from_judged, scorer

BATCHES = []  # answers per score() call


@backend("echo")
def create(spec, **options):
    """A scripted model: short answers to the questions about 0 and 2, long ones otherwise."""
    model = FakeBackend(spec, responses={"is 0 +": "one", "is 2 +": "three"}, default="a long answer of six words")
    model.info = model.info.model_copy(update={"backend": "echo"})
    return model


@scorer("word_count", version="3")
class WordCount(BaseScorer):
    metrics = ("short",)

    @property
    def batch_size(self):
        return 4

    def score(self, spec, answers, context, on_scored):
        BATCHES.append(len(answers))
        for index in reversed(range(len(answers))):  # any order: each score names its answer
            answer = answers[index]
            words = len(answer.generations[0].split())
            judged = Judged({"short": float(words <= 3)}, extracted=str(words), details={"words": words})
            on_scored(index, from_judged(spec, answer.item, answer.generations, judged))
'''

ENTRY_POINTS = {
    "agimeter.backends": {"echo": "agimeter_demo_plugin"},
    "agimeter.scorers": {"word_count": "agimeter_demo_plugin:WordCount"},
}


def _install_plugin(root: Path, source: str = PLUGIN) -> Path:
    return write_distribution(root, "agimeter_demo_plugin", source, ENTRY_POINTS)


@pytest.fixture()
def fresh() -> Iterator[None]:
    with fresh_registries("agimeter_demo_plugin"):
        yield


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None) -> Path:
    root = _install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    return root


def _task(toy_env: dict[str, Path]) -> Path:
    """The toy generate task, scored by the plugin's scorer."""
    text = toy_env["gen"].read_text().replace("name: toy_gen", "name: toy_words")
    path = toy_env["tmp"] / "toy_words.yaml"
    path.write_text(text.replace("metrics: [exact_match]", "scoring: {kind: word_count}\nmetrics: [short]"))
    return path


def test_a_plugin_backend_and_scorer_run_through_execute_run(
    plugin: Path, toy_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    options = RunOptions(model="echo:demo", tasks=[str(_task(toy_env))], data_dir=str(toy_env["data"]), limit=10)
    backend, load_s = load_backend(options)
    assert backend.info.backend == "echo"
    store = Store.open(f"sqlite:///{toy_env['store']}")
    run = execute_run(options, store, prepare_tasks(options), backend, load_s)
    assert run.status == "finished"

    demo: Any = sys.modules["agimeter_demo_plugin"]
    assert demo.BATCHES == [4, 4, 2]  # the scorer's batch size, the rest at the end
    rows = store.run_items(run.id)
    assert [r.doc_id for r in rows] == list(range(10))
    assert [r.metrics for r in rows] == [{"short": float(i in (0, 2))} for i in range(10)]
    assert rows[0].details == {"words": 1} and rows[1].details == {"words": 6}  # evidence kept per item
    assert rows[0].prediction == "1"

    again = execute_run(options, store, prepare_tasks(options), backend, load_s)
    assert store.run_totals(again.id).items_cached == 10  # same scorer version: every item cached
    with monkeypatch.context() as patch:
        patch.setattr(demo.WordCount, "version", "4")
        bumped = execute_run(options, store, prepare_tasks(options), backend, load_s)
    totals = store.run_totals(bumped.id)
    assert (totals.items_computed, totals.items_cached) == (10, 0)  # a new scorer version re-scores
    assert {r.cache_key for r in store.run_items(bumped.id)}.isdisjoint(r.cache_key for r in rows)


def test_a_plugin_backend_and_scorer_run_through_the_cli(
    tmp_path: Path, toy_env: dict[str, Path], agimeter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _install_plugin(tmp_path / "site")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p))
    store = f"sqlite:///{toy_env['store']}"
    task = str(_task(toy_env))
    common = ("--data-dir", str(toy_env["data"]), "--store", store, "--limit", "5")
    res = agimeter("run", "--model", "echo:demo", "--tasks", task, *common)
    assert res.returncode == 0, res.stderr
    (run,) = Store.open(store).list_runs()
    rows = Store.open(store).run_items(run.id)
    assert [r.metrics["short"] for r in rows] == [1.0, 0.0, 1.0, 0.0, 0.0]
    exported = [json.loads(line) for line in agimeter("export", run.id, "--store", store).stdout.splitlines()]
    assert [e["details"] for e in exported] == [{"words": n} for n in (1, 6, 1, 6, 6)]

    unknown = agimeter("run", "--model", "nope:demo", "--tasks", task, *common)
    assert unknown.returncode == 2
    assert "expected one of echo:, fake:, gguf:, hf:, openai: followed by a model" in unknown.stderr


def test_a_plugin_that_fails_to_load_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None, toy_env: dict[str, Path]
) -> None:
    broken = "raise RuntimeError('needs a GPU\\nand more')\n"
    monkeypatch.syspath_prepend(str(_install_plugin(tmp_path / "site", broken)))
    with pytest.raises(TaskSpecError) as err:
        load_spec(_task(toy_env))
    assert str(err.value) == (
        "scorer plugin word_count = agimeter_demo_plugin:WordCount (entry point group agimeter.scorers) "
        "failed to load: RuntimeError: needs a GPU"
    )


def test_a_scorer_that_needs_a_grader_model_gets_it_by_role(
    plugin: Path, toy_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    options = RunOptions(model="echo:demo", tasks=[str(_task(toy_env))], data_dir=str(toy_env["data"]), limit=3)
    prepared = prepare_tasks(options)
    demo: Any = sys.modules["agimeter_demo_plugin"]
    monkeypatch.setattr(demo.WordCount, "roles", ("grader",))
    store = Store.open(f"sqlite:///{toy_env['store']}")
    backend, _ = load_backend(options)
    with pytest.raises(ConfigError, match=r"toy_words.yaml: scorer 'word_count' needs a 'grader' model"):
        execute_run(options, store, prepared, backend, 0.0)
    assert store.list_runs() == []  # refused before anything was stored

    graded: list[str] = []
    score = demo.WordCount.score

    def score_with_grader(self: Any, spec: Any, answers: Any, context: Any, on_scored: Any) -> None:
        graded.append(context.model("grader").info.name)
        score(self, spec, answers, context, on_scored)

    monkeypatch.setattr(demo.WordCount, "score", score_with_grader)
    run = execute_run(options, store, prepared, backend, 0.0, models={"grader": FakeBackend("judge")})
    assert run.status == "finished" and graded == ["judge"]
