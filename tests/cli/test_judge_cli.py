"""``agimeter run --judge`` as a user runs it: bad input refused in one line before any model loads,
an OpenAI-compatible judge (the stub server) whose 429 is counted and retried by the next run,
``show`` with the judge's blocks, and ``kill -9`` mid-judging resumed with nothing asked twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.testing.judged import candidate_responses, judge_responses, write_judged_toy
from agimeter.testing.records import sqlite_count

Cli = Callable[..., subprocess.CompletedProcess[str]]
MISSING_MODEL = "gguf:/nonexistent/never-loaded.gguf"  # loading it would fail with another message


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, Path]:
    paths = write_judged_toy(tmp_path, n=6)
    (tmp_path / "cand.json").write_text(json.dumps(candidate_responses(6)))
    paths["cand"] = tmp_path / "cand.json"
    paths["store"] = tmp_path / "store.db"
    return paths


def _common(env: dict[str, Path], *tasks: str) -> list[str]:
    task_list = ",".join(str(env[t]) for t in tasks or ("conv",))
    return ["--tasks", task_list, "--data-dir", str(env["data"]), "--store", f"sqlite:///{env['store']}"]


def _candidate(env: dict[str, Path]) -> list[str]:
    return ["--model", "fake:cand", "--model-arg", "chat_template=1", "--model-arg", f"responses_file={env['cand']}"]


def test_a_judged_task_without_a_judge_fails_before_any_model_loads(agimeter: Cli, env: dict[str, Path]) -> None:
    res = agimeter("run", "--model", MISSING_MODEL, *_common(env))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "conv_judged: scored by an LLM judge, and no judge model is given" in lines[0]
    assert "--judge MODEL_SPEC" in lines[0] and "never-loaded" not in res.stderr


def test_a_judge_that_does_not_load_is_one_line(agimeter: Cli, env: dict[str, Path]) -> None:
    unknown = agimeter("run", "--model", MISSING_MODEL, "--judge", "nope:judge", *_common(env))
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "unknown model spec 'nope:judge'" in unknown.stderr and "never-loaded" not in unknown.stderr
    missing = agimeter("run", *_candidate(env), "--judge", "gguf:/nonexistent/judge.gguf", *_common(env))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert missing.stderr.startswith("error: judge gguf:/nonexistent/judge.gguf: ")
    assert not env["store"].exists() or not sqlite3.connect(env["store"]).execute("select * from runs").fetchall()


def test_an_openai_judge_rate_limited_once_is_retried_by_the_next_run(
    agimeter: Cli, env: dict[str, Path], stub_server: Callable[..., str]
) -> None:
    responses = json.dumps(judge_responses(**{"<A>": "About the same: [[A=B]]"}))  # pairwise prompts: a tie
    url = stub_server("--first-ms", "1", "--itl-ms", "0", "--responses", responses)
    # The candidate's second answer to question 2 carries the stub's marker: its judge call is
    # answered 429 the first time (no retries here), then normally.
    scripted = candidate_responses(6) | {"second question 2?": "answer two 2 <<429>>"}
    env["cand"].write_text(json.dumps(scripted))
    judge = ["--judge", f"openai:stub-model@{url}", "--judge-arg", "api=chat", "--judge-arg", "max_retries=0"]
    first = agimeter("run", *_candidate(env), *judge, *_common(env, "conv", "pair"))
    assert first.returncode == 3, first.stderr  # incomplete: re-run to retry
    assert "judge rate_limit 1" in first.stdout
    run_id = sqlite3.connect(env["store"]).execute("select id from runs").fetchone()[0]
    items = sqlite3.connect(env["store"]).execute("select count(*) from run_items").fetchone()[0]
    assert items == 6 + 6 - 1  # the rate-limited item is not scored
    again = agimeter("run", *_candidate(env), *judge, *_common(env, "conv", "pair"), "--format", "json")
    assert again.returncode == 0, again.stderr
    payload = json.loads(again.stdout)
    assert payload["run"]["id"] == run_id and payload["run"]["status"] == "finished"
    assert payload["measurement"]["items_computed"] == 12
    judge_block = payload["judge"]["measurement"]
    assert judge_block["model"] == f"openai:stub-model@{url}" and judge_block["weak"] is False
    assert judge_block["items_judged"] == 12 and judge_block["completion_tokens"] > 0
    kinds = {f["task"]: f["kind"] for f in payload["judged"]}
    assert kinds == {"conv_judged": "single", "pair_judged": "pairwise"}
    single = next(f for f in payload["judged"] if f["kind"] == "single")
    assert single["score"] == pytest.approx(6.5) and single["turns"] == {"1": 8.0, "2": 5.0}
    pair = next(f for f in payload["judged"] if f["kind"] == "pairwise")
    assert pair["win_rate"] == 0.5 and pair["ties"] == 12 and pair["swap_inconsistency"] == 0.0
    shown = agimeter("show", run_id, "--store", f"sqlite:///{env['store']}")
    assert shown.returncode == 0, shown.stderr
    for text in ("judge (metered and priced apart", "MT-Bench score (1-10)", "6.50", "swap inconsistency"):
        assert text in shown.stdout


@pytest.mark.slow
def test_kill_9_mid_judging_then_resume_asks_nothing_twice(agimeter: Cli, env: dict[str, Path], tmp_path: Path) -> None:
    judge_file = tmp_path / "judge.json"
    judge_file.write_text(json.dumps(judge_responses()))
    judge_calls, cand_calls = tmp_path / "judge_calls.txt", tmp_path / "cand_calls.txt"
    args = [
        "run",
        *_candidate(env),
        "--model-arg",
        f"calls_file={cand_calls}",
        "--judge",
        "fake:judge",
        "--judge-arg",
        "chat_template=1",
        "--judge-arg",
        f"responses_file={judge_file}",
        "--judge-arg",
        "delay_s=0.3",
        "--judge-arg",
        f"calls_file={judge_calls}",
        *_common(env),
    ]
    cmd = [sys.executable, "-m", "agimeter.cli.app", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"}
    )
    deadline = time.monotonic() + 120
    # Kill once the judge is part-way: some items committed, not all.
    while (
        time.monotonic() < deadline
        and proc.poll() is None
        and sqlite_count(env["store"], "select count(*) from run_items") < 2
    ):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sqlite_count(env["store"], "select count(*) from run_items")
    assert 2 <= done < 6, "the kill came too late to test a resume"
    res = agimeter(*args, "--format", "json")
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["run"]["status"] == "finished" and payload["measurement"]["sessions"] == 2
    assert len(payload["judged"]) == 1 and payload["judged"][0]["items"] == 6
    # Every candidate answer (12 turns) was generated once: none is asked again by the resumed run.
    assert len(cand_calls.read_text().splitlines()) == 12
    # 12 judge calls in all; the kill may lose the one in flight, which the resume asks again.
    calls = judge_calls.read_text().splitlines()
    assert 12 <= len(calls) <= 13 and len(set(calls)) == 12
