"""Which run stands for a model's task: the largest standard-protocol run, unless pinned; small,
non-standard and undeclared-user-task results are shown but never counted."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from agimeter.analysis.entries import ModelEntry, measured_entries
from agimeter.analysis.selection import DEFAULT_MIN_ITEMS, SelectionPolicy
from agimeter.analysis.side_by_side import side_by_side
from agimeter.store.repository import Store
from agimeter.testing.runs import eval_run, protocol

JAN, FEB, MAR = datetime(2026, 1, 1), datetime(2026, 2, 1), datetime(2026, 3, 1)


def _store(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path}/s.db")


def _only(store: Store, policy: SelectionPolicy | None = None) -> ModelEntry:
    [entry] = measured_entries(store, policy=policy)
    return entry


def test_a_newer_smoke_run_does_not_replace_the_larger_run(tmp_path: Path) -> None:
    store = _store(tmp_path)
    eval_run(store, "large", {"arc_challenge": (60, 0.5)}, created=JAN)
    eval_run(store, "smoke", {"arc_challenge": (1, 1.0)}, created=FEB)
    entry = _only(store)
    [score] = entry.scores
    assert (score.run_id, score.n, score.value, score.status, score.counted) == ("large", 60, 50.0, "ok", True)
    assert score.selection.startswith("run large (n=60), most items of 2 runs; also run smoke (n=1)")
    assert entry.dimensions["reasoning"] == pytest.approx((50.0 - 25.0) / 75.0 * 100)
    assert entry.coverage == ["reasoning"]


def test_equal_sizes_the_newest_wins(tmp_path: Path) -> None:
    store = _store(tmp_path)
    eval_run(store, "old", {"arc_challenge": (60, 0.5)}, created=JAN)
    eval_run(store, "new", {"arc_challenge": (60, 0.7)}, created=FEB)
    assert _only(store).scores[0].run_id == "new"


def test_a_run_below_the_minimum_is_shown_as_insufficient_and_not_counted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    eval_run(store, "smoke", {"arc_challenge": (1, 1.0)}, created=FEB)
    entry = _only(store)
    [score] = entry.scores
    assert score.status == "insufficient" and not score.counted and score.min_items == DEFAULT_MIN_ITEMS
    assert "n=1 < 50" in score.status_note
    assert entry.dimensions == {} and entry.overall is None and entry.coverage == []
    # measured vs published: no "inside CI" verdict on one item
    published = ModelEntry.model_validate(
        {
            "key": "p-m",
            "model": "org/M-1B",
            "provenance": "published",
            "scores": [{"name": "arc_challenge", "benchmark": "arc_challenge", "dimension": "reasoning",
                        "value": 100.0, "provenance": "published"}],
        }
    )  # fmt: skip
    [row] = side_by_side(entry, [published])
    assert row.within_ci is None and any("insufficient" in d for d in row.protocol_differences)
    # the bar can be lowered for every task, and a task smaller than 50 needs all of its items
    assert _only(store, SelectionPolicy(min_items=1)).scores[0].counted
    small = _store(tmp_path / "small")
    eval_run(small, "all", {"arc_challenge": (12, 0.5)}, task_sizes={"arc_challenge": 12})
    assert _only(small).scores[0].counted


def test_a_protocol_override_is_not_the_standard_protocol(tmp_path: Path) -> None:
    store = _store(tmp_path)
    five_shot = protocol("arc_challenge", shots=5, standard={"num_fewshot": 25, "chat": False})
    eval_run(store, "override", {"arc_challenge": (200, 0.9)}, protocols={"arc_challenge": five_shot},
             config={"num_fewshot": 5}, created=FEB)  # fmt: skip
    only_override = _only(store)
    assert only_override.scores[0].status == "non-standard protocol" and not only_override.scores[0].counted
    assert "5-shot instead of 25" in only_override.scores[0].status_note
    standard = protocol("arc_challenge", shots=25, standard={"num_fewshot": 25, "chat": False})
    eval_run(store, "standard", {"arc_challenge": (60, 0.5)}, protocols={"arc_challenge": standard}, created=JAN)
    [score] = _only(store).scores
    assert score.run_id == "standard" and score.counted  # smaller, but the task's own protocol


def test_an_older_run_with_a_fewshot_override_is_non_standard(tmp_path: Path) -> None:
    """Runs stored before protocols carried ``standard``: the run's --num-fewshot option decides."""
    store = _store(tmp_path)
    legacy = {
        "task": "mmlu",
        "version": "1",
        "dimension": "knowledge",
        "metrics": ["acc"],
        "fewshot": {"num_fewshot": 0},
    }
    eval_run(store, "zero", {"mmlu": (80, 0.5)}, protocols={"mmlu": legacy}, config={"num_fewshot": 0})
    [score] = _only(store).scores
    assert score.status == "non-standard protocol" and "--num-fewshot 0" in score.status_note


def test_a_user_task_counts_toward_a_dimension_only_when_it_says_so(tmp_path: Path) -> None:
    store = _store(tmp_path)
    mine = protocol("my_quiz", dimension="knowledge", counts=False)
    eval_run(store, "r", {"mmlu": (60, 0.25), "my_quiz": (60, 1.0)}, protocols={
        "mmlu": protocol("mmlu", dimension="knowledge"), "my_quiz": mine})  # fmt: skip
    entry = _only(store)
    quiz = next(s for s in entry.scores if s.name == "my_quiz")
    assert quiz.status == "user task" and not quiz.counted and quiz.benchmark is None
    assert entry.dimensions == {"knowledge": 0.0}  # mmlu at chance; the 100% quiz does not join it
    declared = _store(tmp_path / "declared")
    mine_declared = {**mine, "counts_toward_dimension": True}
    eval_run(declared, "r", {"mmlu": (60, 0.25), "my_quiz": (60, 1.0)}, protocols={
        "mmlu": protocol("mmlu", dimension="knowledge"), "my_quiz": mine_declared})  # fmt: skip
    assert _only(declared).dimensions == {"knowledge": 50.0}
    # a run stored before tasks declared it: built-in names count, others do not
    legacy = _store(tmp_path / "legacy")
    eval_run(legacy, "r", {"mmlu": (60, 0.25), "my_quiz": (60, 1.0)}, protocols={
        "mmlu": protocol("mmlu", dimension="knowledge", counts=None),
        "my_quiz": protocol("my_quiz", dimension="knowledge", counts=None)})  # fmt: skip
    assert _only(legacy).dimensions == {"knowledge": 0.0}


def test_a_pin_overrides_the_default_choice(tmp_path: Path) -> None:
    store = _store(tmp_path)
    eval_run(store, "big", {"arc_challenge": (80, 0.5), "hellaswag": (80, 0.5)}, created=JAN)
    eval_run(store, "mid", {"arc_challenge": (60, 0.8), "hellaswag": (60, 0.8)}, created=FEB)
    assert {s.run_id for s in _only(store).scores} == {"big"}
    store.pin_run("sha-model", "mid", "arc_challenge")
    by_task = {s.name: s for s in _only(store).scores}
    assert by_task["arc_challenge"].run_id == "mid" and by_task["arc_challenge"].selection.startswith(
        "run mid (n=60), pinned"
    )
    assert by_task["hellaswag"].run_id == "big"
    store.pin_run("sha-model", "mid")  # the whole run: every task it has
    assert {s.run_id for s in _only(store).scores} == {"mid"}
    store.pin_run("sha-model", "big", "hellaswag")  # a task's own pin before the whole-run pin
    assert {s.name: s.run_id for s in _only(store).scores} == {"arc_challenge": "mid", "hellaswag": "big"}
    # a policy without pins, and a run selection that leaves the pinned run out, ignore it
    assert {s.run_id for s in _only(store, SelectionPolicy()).scores} == {"big"}
    [entry] = measured_entries(store, [store.get_run("big")])
    assert {s.run_id for s in entry.scores} == {"big"}
    assert store.clear_pins("sha-model") == 3 and store.pins() == []
