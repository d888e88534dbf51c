"""Judged tasks through ``execute_run`` with scripted fake models: conversations whose second turn
follows the model's own answer, the judge by role, cache reuse, a changed judge re-judging without
generating again, judge errors counted and retried (never a score), and the judge's own meter."""

from __future__ import annotations

from pathlib import Path

import pytest

from agimeter.backends.fake import FakeBackend
from agimeter.runner.session import RunOptions, execute_run, judge_spec, prepare_tasks
from agimeter.store.repository import Store
from agimeter.testing.judged import N, candidate, judge, write_judged_toy


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, Path]:
    return write_judged_toy(tmp_path)


_candidate, _judge = candidate, judge


def _options(env: dict[str, Path], task: str = "conv") -> RunOptions:
    return RunOptions(model="fake:cand", tasks=[str(env[task])], data_dir=str(env["data"]), judge="fake:judge")


def test_the_second_turn_follows_the_models_own_first_answer(env: dict[str, Path]) -> None:
    store = Store.open(f"sqlite:///{env['tmp'] / 's.db'}")
    candidate, judge = _candidate(), _judge()
    options = _options(env)
    run = execute_run(options, store, prepare_tasks(options), candidate, 0.0, models={"grader": judge})
    assert run.status == "finished"
    turn_two = [r.prompt for r in candidate.requests if "second question 0?" in r.prompt]
    expected = candidate.apply_chat_template(
        [
            {"role": "user", "content": "first question 0?"},
            {"role": "assistant", "content": "answer one 0"},
            {"role": "user", "content": "second question 0?"},
        ]
    )
    assert turn_two == [expected]
    rows = store.run_items(run.id)
    assert rows[0].turns == ["answer one 0", "answer two 0"] and rows[0].generation == "answer one 0"
    assert rows[0].metrics == {"score": pytest.approx(0.65), "turn_1": 0.8, "turn_2": 0.5}
    assert rows[0].chance == {"score": 0.1, "turn_1": 0.1, "turn_2": 0.1}
    # The judge saw the benchmark's prompts, filled as FastChat fills them, the reference for items that have one.
    users = [dict(r.messages)["user"] for r in judge.requests]
    assert "[Q] first question 0? [A] answer one 0" in users
    assert "[Q] first question 1? [REF] ref one 1 [A] answer one 1" in users
    assert (
        "[REF2] ref two 1 [Q1] first question 1? [A1] answer one 1 [Q2] second question 1? [A2] answer two 1" in users
    )
    assert {dict(r.messages)["system"] for r in judge.requests} == {"Judge one.", "Judge two."}
    details = rows[1].details or {}
    assert [t["prompt"] for t in details["turns"]] == ["s1r", "m1r"]
    assert details["turns"][0]["judgment"] == "good. Rating: [[8]]"  # the judge's raw output is kept


def test_a_rerun_reuses_every_answer_and_verdict(env: dict[str, Path]) -> None:
    store = Store.open(f"sqlite:///{env['tmp'] / 's.db'}")
    candidate, judge = _candidate(), _judge()
    options = _options(env)
    execute_run(options, store, prepare_tasks(options), candidate, 0.0, models={"grader": judge})
    calls = (candidate.calls, judge.calls)
    assert calls == (2 * N, 2 * N)
    again = execute_run(options, store, prepare_tasks(options), candidate, 0.0, models={"grader": judge})
    assert (candidate.calls, judge.calls) == calls  # nothing asked twice
    assert store.run_totals(again.id).items_cached == N


def test_a_new_judge_rejudges_without_generating_again(env: dict[str, Path]) -> None:
    store = Store.open(f"sqlite:///{env['tmp'] / 's.db'}")
    candidate = _candidate()
    options = _options(env)
    first = execute_run(options, store, prepare_tasks(options), candidate, 0.0, models={"grader": _judge()})
    other = _judge("other judge", **{"[Q] first": "meh [[4]]"})
    second = execute_run(options, store, prepare_tasks(options), candidate, 0.0, models={"grader": other})
    assert second.id != first.id  # another judge is another run
    assert candidate.calls == 2 * N  # the candidate's answers came from the completion cache
    assert other.calls == 2 * N
    rows = store.run_items(second.id)
    assert [r.metrics["turn_1"] for r in rows] == [0.4] * N
    totals = store.run_totals(second.id)
    assert totals.items_computed == N and totals.completion_tokens == 0  # another run paid for the answers
    assert totals.judge_completion_tokens > 0


def test_judge_errors_are_counted_and_retried_never_scored(env: dict[str, Path]) -> None:
    store = Store.open(f"sqlite:///{env['tmp'] / 's.db'}")
    candidate = _candidate()
    # Item 0's first turn times out, item 2's second turn is rate-limited (after the backend's own
    # retries), item 3's first judgement names no rating.
    scripted = {
        "[A] answer one 0": "!error:timeout",
        "answer two 2": "!error:rate_limit",
        "[A] answer one 3": "I cannot decide.",
    }
    judge = _judge(**scripted)
    options = _options(env)
    run = execute_run(options, store, prepare_tasks(options), candidate, 0.0, models={"grader": judge})
    assert run.status == "incomplete"
    measurement = run.summary["measurement"]
    assert measurement["errors"] == {"judge timeout": 1, "judge rate_limit": 1, "judge no_verdict": 1}
    assert measurement["failed_items"] == 3
    assert [r.doc_id for r in store.run_items(run.id)] == [1]  # no failure is a score
    asked = judge.calls
    # The judge recovers (same model, same identity): the re-run resumes the run and asks it only
    # what it did not answer with a verdict: item 0's first turn, item 2's second, item 3's first.
    judge.responses = {k: v for k, v in judge.responses.items() if k not in scripted}
    calls_before = candidate.calls
    again = execute_run(options, store, prepare_tasks(options), candidate, 0.0, models={"grader": judge})
    assert again.id == run.id and again.status == "finished"
    assert judge.calls - asked == 3
    assert candidate.calls == calls_before  # every answer was kept
    assert [r.doc_id for r in store.run_items(run.id)] == [0, 1, 2, 3]


def test_the_judge_is_metered_apart_from_the_evaluated_model(env: dict[str, Path]) -> None:
    store = Store.open(f"sqlite:///{env['tmp'] / 's.db'}")
    candidate = _candidate()
    judge = _judge()
    judge.delay_s = 0.05  # judging takes longer than answering here
    options = _options(env)
    run = execute_run(
        options, store, prepare_tasks(options), candidate, 0.0, models={"grader": judge}, judge_load_s=1.5
    )
    measured, judged = run.summary["measurement"], run.summary["judge"]
    rows = store.run_items(run.id)
    assert judged["model"] == "fake:judge" and judged["load_s"] == 1.5 and judged["weak"] is True
    assert judged["items_judged"] == N
    assert judged["prompt_tokens"] == sum(r.judge_prompt_tokens for r in rows) > 0
    assert measured["completion_tokens"] == sum(r.completion_tokens for r in rows)  # the candidate's only
    # 8 judge calls of >= 50 ms: the judging clock has them, the run's (candidate's) clock does not.
    assert judged["wall_s"] >= 8 * 0.05
    assert measured["wall_s"] < judged["wall_s"] / 2


def test_pairwise_judges_both_orders_against_the_baseline(env: dict[str, Path]) -> None:
    store = Store.open(f"sqlite:///{env['tmp'] / 's.db'}")
    candidate = _candidate()
    # Game 1 shows the baseline as A; game 2 the candidate as A. This judge always prefers A,
    # decisively for item 0: fully position-biased.
    judge = FakeBackend(
        "pair judge",
        chat_template=True,
        responses={"<A>baseline answer 0": "[[A>>B]]", "<A>answer one 0": "[[A>>B]]", "<A>": "[[A>B]]"},
    )
    options = _options(env, "pair")
    run = execute_run(options, store, prepare_tasks(options), candidate, 0.0, models={"grader": judge})
    assert run.status == "finished"
    users = [dict(r.messages)["user"] for r in judge.requests]
    assert users[:2] == [
        "<Q>first question 0?<A>baseline answer 0<B>answer one 0",
        "<Q>first question 0?<A>answer one 0<B>baseline answer 0",
    ]
    rows = store.run_items(run.id)
    assert rows[0].metrics == {"win_rate": 0.5} and rows[0].weights == {"win_rate": 6.0}  # 3 wins, 3 losses
    assert rows[1].metrics == {"win_rate": 0.5} and rows[1].weights == {"win_rate": 2.0}
    details = rows[0].details or {}
    assert [g["order"] for g in details["games"]] == ["baseline_first", "candidate_first"]
    assert details["battles"] == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_refusal_uses_the_judge_only_when_one_is_given(env: dict[str, Path], toy_env: dict[str, Path]) -> None:
    refusal = toy_env["gen"].read_text().replace("name: toy_gen", "name: toy_refusal")
    refusal = refusal.replace("metrics: [exact_match]", "scoring: {kind: refusal}\nmetrics: [refused]")
    path = toy_env["tmp"] / "toy_refusal.yaml"
    path.write_text(refusal)
    options = RunOptions(model="fake:cand", tasks=[str(path)], data_dir=str(toy_env["data"]), limit=2)
    prepared = prepare_tasks(options)
    assert judge_spec(options, prepared) is None  # no judge needed, none given
    store = Store.open(f"sqlite:///{toy_env['store']}")
    plain = execute_run(options, store, prepared, FakeBackend("cand"), 0.0)
    assert [(r.details or {})["method"] for r in store.run_items(plain.id)] == ["string_match"] * 2
    judge = FakeBackend("xstest judge", responses={"CLASS:": "2_full_refusal"})
    judged = execute_run(options, store, prepared, FakeBackend("cand"), 0.0, models={"grader": judge})
    rows = store.run_items(judged.id)
    assert [(r.details or {})["method"] for r in rows] == ["judge"] * 2 and [r.metrics["refused"] for r in rows] == [
        1.0
    ] * 2
    assert {r.cache_key for r in rows}.isdisjoint(r.cache_key for r in store.run_items(plain.id))
