"""The CLI end to end on the fake backend: run, runs, show, export, tasks, and every error case."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agimeter.store.repository import Store

Cli = Callable[..., subprocess.CompletedProcess[str]]


def base_args(toy: dict[str, Path], *tasks: str) -> list[str]:
    return [
        "--data-dir",
        str(toy["data"]),
        "--store",
        f"sqlite:///{toy['store']}",
        "--tasks",
        ",".join(tasks),
    ]


def test_run_show_export_roundtrip(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    res = agimeter("run", "--model", "fake:m", *base_args(toy_env, str(toy_env["mc"]), str(toy_env["gen"])))
    assert res.returncode == 0, res.stderr
    assert "toy_mc" in res.stdout and "toy_gen" in res.stdout and "$ per 1M tokens" in res.stdout
    store = Store.open(f"sqlite:///{toy_env['store']}")
    (run,) = store.list_runs()
    assert run.status == "finished"

    listed = agimeter("runs", "--store", f"sqlite:///{toy_env['store']}")
    assert run.id in listed.stdout and "finished" in listed.stdout

    lines = agimeter("export", run.id[:6], "--store", f"sqlite:///{toy_env['store']}").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 80
    mc = [r for r in rows if r["task"] == "toy_mc"]
    assert [r["doc_id"] for r in mc] == list(range(40))
    for r in mc:
        assert len(r["loglikelihoods"]) == 4 and len(r["is_greedy"]) == 4
        assert r["prediction"] == max(range(4), key=lambda j: r["loglikelihoods"][j])
        assert r["correct"] == (r["prediction"] == r["target"] == 1)
        assert r["prompt_tokens"] > 0 and r["completion_tokens"] == 0
    gen = [r for r in rows if r["task"] == "toy_gen"]
    assert all(r["correct"] == (r["target"] == "42") for r in gen)

    summary = json.loads(
        agimeter("show", run.id, "--format", "json", "--store", f"sqlite:///{toy_env['store']}").stdout
    )
    assert {s["task"] for s in summary["scores"]} == {"toy_mc", "toy_gen"}
    acc = next(s for s in summary["scores"] if s["task"] == "toy_mc")["metrics"]["acc"]
    assert acc["ci_low"] <= acc["mean"] <= acc["ci_high"]
    assert summary["cost"]["usd_per_run"] > 0
    assert summary["measurement"]["items_computed"] == 80
    # The capability map: toy_mc's accuracy normalised against chance (4 choices: 0.25).
    mc_score = next(s for s in summary["scores"] if s["task"] == "toy_mc")
    assert mc_score["chance"]["acc"] == 0.25 and mc_score["dimension"] is not None
    expected = max(0.0, (acc["mean"] - 0.25) / 0.75 * 100)
    assert mc_score["normalized"]["mean"] == pytest.approx(expected)
    assert summary["capability"]["overall"] is not None
    shown = agimeter("show", run.id, "--weights", "knowledge=2", "--store", f"sqlite:///{toy_env['store']}")
    assert "capability map" in shown.stdout and ("█" in shown.stdout or "─" in shown.stdout)
    bad = agimeter("show", run.id, "--weights", "knowledge=-1", "--store", f"sqlite:///{toy_env['store']}")
    assert bad.returncode != 0 and "--weights" in bad.stderr


def test_rerun_reuses_every_item(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    args = ["run", "--model", "fake:m", *base_args(toy_env, str(toy_env["mc"]))]
    assert agimeter(*args).returncode == 0
    second = agimeter(*args, "--format", "json")
    assert second.returncode == 0, second.stderr
    payload = json.loads(second.stdout)
    assert payload["measurement"]["items_computed"] == 0
    assert payload["measurement"]["items_cached"] == 40
    con = sqlite3.connect(toy_env["store"])
    assert con.execute("select count(*) from item_results").fetchone()[0] == 40


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    args = [
        sys.executable,
        "-m",
        "agimeter.cli.app",
        "run",
        "--model",
        "fake:slow",
        "--model-arg",
        "delay_s=0.05",
        *base_args(toy_env, str(toy_env["mc"])),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    done = 0
    while time.time() < deadline:
        time.sleep(0.2)
        if toy_env["store"].exists():
            try:
                done = sqlite3.connect(toy_env["store"]).execute("select count(*) from run_items").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if done >= 8:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 8 <= done < 40, done

    con = sqlite3.connect(toy_env["store"])
    killed_items = con.execute("select count(*) from run_items").fetchone()[0]
    assert con.execute("select status from runs").fetchone()[0] == "running"
    con.close()

    res = agimeter(
        "run",
        "--model",
        "fake:slow",
        "--model-arg",
        "delay_s=0.05",
        *base_args(toy_env, str(toy_env["mc"])),
        "--format",
        "json",
    )
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["run"]["status"] == "finished"
    # Every item was computed by this run (in one session or the other): none is "from cache".
    assert payload["measurement"]["items_computed"] == 40
    assert payload["measurement"]["items_cached"] == 0
    con = sqlite3.connect(toy_env["store"])
    # Only the items not committed before the kill were computed again.
    sessions = con.execute("select items_computed from run_sessions order by number").fetchall()
    assert [n for (n,) in sessions] == [killed_items, 40 - killed_items]
    assert con.execute("select count(*) from runs").fetchone()[0] == 1
    assert con.execute("select count(*) from run_items").fetchone()[0] == 40
    assert con.execute("select count(distinct doc_id) from run_items").fetchone()[0] == 40
    assert con.execute("select count(*) from item_results").fetchone()[0] == 40


def test_tasks_lists_builtins(agimeter: Cli, data_dir: Path) -> None:
    res = agimeter("tasks", "--data-dir", str(data_dir))
    assert res.returncode == 0, res.stderr
    for name in ("mmlu", "arc_challenge", "hellaswag", "gsm8k"):
        assert name in res.stdout
    assert "14,042" in res.stdout  # MMLU test items counted from the data dir


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tasks", "no_such_task"], "no_such_task"),
        (["--model", "nope:x"], "unknown model spec"),
        (["--model", "hf:/definitely/not/a/model"], "/definitely/not/a/model"),
    ],
)
def test_errors_are_one_line_and_nonzero(agimeter: Cli, toy_env: dict[str, Path], args: list[str], needle: str) -> None:
    base = {"--model": "fake:m", "--tasks": str(toy_env["mc"])}
    for key, value in zip(args[::2], args[1::2], strict=True):
        base[key] = value
    flat = [x for kv in base.items() for x in kv]
    res = agimeter("run", *flat, "--data-dir", str(toy_env["data"]), "--store", f"sqlite:///{toy_env['store']}")
    assert res.returncode != 0
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert needle in lines[0] and lines[0].startswith("error:")
    if toy_env["store"].exists():
        con = sqlite3.connect(toy_env["store"])
        assert con.execute("select count(*) from runs").fetchone()[0] == 0


def test_missing_data_file_and_malformed_row(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    res = agimeter(
        "run",
        "--model",
        "fake:m",
        "--tasks",
        str(toy_env["mc"]),
        "--data-dir",
        str(toy_env["tmp"] / "nowhere"),
        "--store",
        f"sqlite:///{toy_env['store']}",
    )
    assert res.returncode != 0 and "toy/toy.jsonl" in res.stderr
    data_file = toy_env["data"] / "toy" / "toy.jsonl"
    lines = data_file.read_text().splitlines()
    lines[6] = '{"question": "broken", '
    data_file.write_text("\n".join(lines) + "\n")
    res = agimeter("run", "--model", "fake:m", *base_args(toy_env, str(toy_env["mc"])))
    assert res.returncode != 0
    assert "toy.jsonl:7" in res.stderr, res.stderr
    assert (
        not toy_env["store"].exists()
        or sqlite3.connect(toy_env["store"]).execute("select count(*) from runs").fetchone()[0] == 0
    )


def test_bad_yaml_names_the_field(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    bad = toy_env["tmp"] / "bad.yaml"
    bad.write_text(toy_env["mc"].read_text().replace("dimension: knowledge", "dimension: astrology"))
    res = agimeter("run", "--model", "fake:m", *base_args(toy_env, str(bad)))
    assert res.returncode != 0
    assert "dimension" in res.stderr and "bad.yaml" in res.stderr
