"""Bad input on the command line: every case is one line on stderr (``error: ...``), exit status 2,
no traceback, no usage box, and nothing stored. The messages are pinned whole: they are what a
user reads."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.store.repository import Store

Cli = Callable[..., subprocess.CompletedProcess[str]]

# {store}: a fresh SQLite URL; {task}: the toy multiple-choice YAML; {data}: its data dir; {tmp}: the
# test's folder.
RUN = ["run", "--model", "fake:m", "--tasks", "{task}", "--data-dir", "{data}", "--store", "{store}"]
PERF = ["perf", "--model", "fake:m", "--requests", "3", "--store", "{store}"]

CASES: list[tuple[list[str], str]] = [
    # the options the issue lists
    ([*RUN, "--limit", "-1"], "--limit: must be >= 1, got -1"),
    ([*RUN, "--limit", "0"], "--limit: must be >= 1, got 0"),
    ([*RUN, "--limit", "ten"], "--limit: 'ten' is not a valid integer"),
    ([*RUN, "--target-ci", "0"], "--target-ci: must be between 0 and 0.5 (exclusive), got 0"),
    ([*RUN, "--target-ci", "2"], "--target-ci: must be between 0 and 0.5 (exclusive), got 2"),
    ([*RUN, "--batch-size", "0"], "--batch-size: must be >= 1, got 0"),
    ([*RUN, "--num-fewshot", "-2"], "--num-fewshot: must be >= 0, got -2"),
    (["perf", "--model", "fake:m", "--requests", "-5"], "--requests: must be >= 1, got -5"),
    ([*RUN, "--dtype", "float7"], "--dtype must be one of auto, float32, bfloat16, float16, not 'float7'"),
    # the other numeric options of every command
    ([*RUN, "--sample", "0"], "--sample: must be >= 1, got 0"),
    ([*RUN, "--seed", "-1"], "--seed: must be >= 0, got -1"),
    ([*RUN, "--target-ci", "nan"], "--target-ci: must be between 0 and 0.5 (exclusive), got nan"),
    ([*RUN, "--price-per-hour", "-1"], "--price-per-hour: must be a finite number >= 0, got -1"),
    ([*RUN, "--usd-per-cny", "0"], "--usd-per-cny: must be a finite number > 0, got 0"),
    ([*RUN, "--batch-size", "2.5"], "--batch-size: '2.5' is not a valid integer"),
    (["runs", "--limit", "0", "--store", "{store}"], "--limit: must be >= 1, got 0"),
    ([*PERF, "--duration", "0"], "--duration: must be a finite number > 0, got 0"),
    ([*PERF, "--concurrency", "0"], "--concurrency needs positive numbers, got '0'"),
    ([*PERF, "--concurrency", "inf"], "--concurrency needs positive numbers, got 'inf'"),
    ([*PERF, "--max-concurrency", "0"], "--max-concurrency: must be >= 1, got 0"),
    ([*PERF, "--input-tokens", "0"], "--input-tokens: must be >= 1, got 0"),
    ([*PERF, "--output-tokens", "-3"], "--output-tokens: must be >= 1, got -3"),
    ([*PERF, "--warmup", "-1"], "--warmup: must be >= 0, got -1"),
    ([*PERF, "--seed", "-1"], "--seed: must be >= 0, got -1"),
    ([*PERF, "--price-per-hour", "x"], "--price-per-hour: 'x' is not a valid number"),
    (["compare", "a", "b", "--alpha", "2", "--store", "{store}"], "--alpha must be between 0 and 1"),
    (["report", "--usd-per-cny", "-1", "--store", "{store}"], "--usd-per-cny: must be a finite number > 0, got -1"),
    (["prices", "--usd-per-cny", "0"], "--usd-per-cny: must be a finite number > 0, got 0"),
    (["trends", "--n-boot", "5", "--store", "{store}"], "--n-boot: must be >= 100, got 5"),
    (["trends", "--threshold", "120", "--store", "{store}"], "--threshold: must be <= 100, got 120"),
    (["trends", "--seed", "-1", "--store", "{store}"], "--seed: must be >= 0, got -1"),
    (["trends", "--usd-per-cny", "0", "--store", "{store}"], "--usd-per-cny: must be a finite number > 0, got 0"),
    (["serve", "--port", "0", "--store", "{store}"], "--port: must be >= 1, got 0"),
    (["serve", "--port", "70000", "--store", "{store}"], "--port: must be <= 65535, got 70000"),
    (["push", "x", "--to", "http://127.0.0.1:9", "--timeout", "0"], "--timeout: must be >= 1, got 0"),
    # usage errors that click would print as a box
    (["run", "--tasks", "{task}", "--store", "{store}"], "missing --model"),
    ([*RUN, "--lmit", "3"], "No such option: --lmit (Possible options: --limit)"),
    (["show"], "missing RUN_ID"),
    # store URLs
    (["runs", "--store", "sqlite:////proc/agimeter-test/s.db"],
     "cannot open store 'sqlite:////proc/agimeter-test/s.db': cannot create /proc/agimeter-test: "
     "No such file or directory"),
    (["runs", "--store", "sqlite:////proc/s.db"],
     "cannot open store 'sqlite:////proc/s.db': (sqlite3.OperationalError) unable to open database file"),
    (["runs", "--store", "sqlite:///{tmp}/a-file/s.db"],
     "cannot open store 'sqlite:///{tmp}/a-file/s.db': {tmp}/a-file exists and is not a folder"),
    (["runs", "--store", "sqlite:///{tmp}/a-file/deeper/s.db"],
     "cannot open store 'sqlite:///{tmp}/a-file/deeper/s.db': cannot create {tmp}/a-file/deeper: Not a directory"),
    (["runs", "--store", "sqlite:///{tmp}/a-folder"],
     "cannot open store 'sqlite:///{tmp}/a-folder': {tmp}/a-folder is a folder, not a database file"),
    # bracketed text is printed as written, not read as rich markup
    ([*RUN, "--tasks", "agimeter[gguf]"],
     "unknown task 'agimeter[gguf]': not a built-in task or a YAML file ("),
]  # fmt: skip


def _fill(text: str, toy: dict[str, Path]) -> str:
    store = f"sqlite:///{toy['store']}"
    for key, value in (("{store}", store), ("{task}", toy["mc"]), ("{data}", toy["data"]), ("{tmp}", toy["tmp"])):
        text = text.replace(key, str(value))
    return text


def _args(args: list[str], toy: dict[str, Path], *extra: str) -> list[str]:
    return [_fill(a, toy) for a in args] + list(extra)


def assert_one_line_error(res: subprocess.CompletedProcess[str], message: str) -> str:
    """Exit 2 and exactly one stderr line, ``error: <message>`` (a prefix when it ends with '(')."""
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and "Usage:" not in res.stderr and "╭" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    if message.endswith("("):
        assert lines[0].startswith(f"error: {message}"), lines[0]
    else:
        assert lines[0] == f"error: {message}"
    return lines[0]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(agimeter: Cli, toy_env: dict[str, Path], args: list[str], message: str):
    (toy_env["tmp"] / "a-file").write_text("not a folder")
    (toy_env["tmp"] / "a-folder").mkdir()
    res = agimeter(*_args(args, toy_env))
    assert_one_line_error(res, _fill(message, toy_env))
    if toy_env["store"].exists():  # nothing half-done is left behind
        assert sqlite3.connect(toy_env["store"]).execute("select count(*) from runs").fetchone()[0] == 0


def test_bracketed_install_hint_prints_as_written(agimeter: Cli, toy_env: dict[str, Path], tiny_gguf: Path) -> None:
    """The gguf backend's hint ``pip install 'agimeter[gguf]'`` (llama-cpp-python made unimportable)."""
    blocker = toy_env["tmp"] / "no-llama"
    (blocker / "llama_cpp").mkdir(parents=True)
    (blocker / "llama_cpp" / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join([str(blocker), *sys.path])}
    res = subprocess.run(
        [sys.executable, "-m", "agimeter.cli.app", *_args(RUN, toy_env, "--model", f"gguf:{tiny_gguf}")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    line = assert_one_line_error(res, "gguf: backend needs llama-cpp-python: pip install 'agimeter[gguf]'")
    assert "[gguf]" in line


def test_truncated_gguf_is_one_line(agimeter: Cli, toy_env: dict[str, Path], tiny_gguf: Path) -> None:
    cut = toy_env["tmp"] / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[:-1000])
    size = cut.stat().st_size
    res = agimeter(*_args(RUN, toy_env, "--model", f"gguf:{cut}"))
    assert_one_line_error(
        res, f"{cut}: GGUF file is truncated or corrupt ({size:,} bytes, its header declares {size + 1000:,})"
    )


@pytest.mark.parametrize("prefix", ["%", "_", "\\", "%%", "_" * 12])
def test_run_id_prefix_is_literal(agimeter: Cli, toy_env: dict[str, Path], prefix: str) -> None:
    store = f"sqlite:///{toy_env['store']}"
    assert agimeter(*_args(RUN, toy_env, "--limit", "2")).returncode == 0
    (run,) = Store.open(store).list_runs()
    res = agimeter("show", prefix, "--store", store)
    assert_one_line_error(res, f"run {prefix!r} not found; see `agimeter runs`")
    assert agimeter("show", run.id[:4], "--store", store).returncode == 0  # a real prefix still works


def test_sample_larger_than_a_task_is_said(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    """--sample N over tasks of different sizes is legitimate: a smaller task runs in full, with a note."""
    res = agimeter(*_args(RUN, toy_env, "--sample", "1000"))
    assert res.returncode == 0, res.stderr
    assert "note: toy_mc has 40 items, fewer than --sample 1000: evaluated in full" in res.stderr
    (run,) = Store.open(f"sqlite:///{toy_env['store']}").list_runs()
    assert len(Store.open(f"sqlite:///{toy_env['store']}").run_items(run.id)) == 40
