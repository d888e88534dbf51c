"""``agimeter sweep`` end to end on the tiny all-F32 GGUF (quantized to Q8_0 and Q4_0 by llama.cpp)
with two toy tasks: the stored sweep, ``show SWEEP`` (table and JSON), ``sweeps``; a sweep killed
with ``kill -9`` during a variant's evaluation resumes without re-quantizing or recomputing
anything and ends with the same numbers as an uninterrupted one; bad input is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from agimeter.store.repository import Store
from agimeter.testing.models import tiny_corpus
from agimeter.testing.records import sqlite_count

pytestmark = pytest.mark.slow

Cli = Callable[..., subprocess.CompletedProcess[str]]
LIMIT = 20  # items per task: 40 per row
TASKS = ("offline_arith_mc", "offline_logic_gen")  # procedural: no data files


@pytest.fixture(scope="module", autouse=True)
def _llama_cpp() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'agimeter[gguf]')")


def _write_text(root: Path) -> Path:
    (root / "text.txt").write_text("\n".join(tiny_corpus()))
    return root / "text.txt"


def _args(text: Path, model: Path, store: Path, quants: str = "q8_0,q4_0") -> list[str]:
    return [
        "sweep", "--model", f"gguf:{model}", "--quants", quants, "--tasks", ",".join(TASKS), "--limit", str(LIMIT),
        "--task-fewshot", f"{TASKS[0]}=0",  # two groups of tasks: two runs per row
        "--kl-text", str(text), "--kl-tokens", "256", "--kl-chunk", "64",
        "--speed-prompt-tokens", "32", "--speed-gen-tokens", "8", "--speed-repeats", "1",
        "--model-arg", "n_threads=1", "--store", f"sqlite:///{store}",
    ]  # fmt: skip


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "AGIMETER_MODEL_CACHE": str(cache)}


def _cli(args: list[str], cache: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "agimeter.cli.app", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(cache), timeout=timeout)


def _report(store: Path, cache: Path) -> dict[str, Any]:
    (sweep,) = Store.open(f"sqlite:///{store}").list_sweeps()
    res = _cli(["show", sweep.id, "--format", "json", "--store", f"sqlite:///{store}"], cache)
    assert res.returncode == 0, res.stderr
    report: dict[str, Any] = json.loads(res.stdout)
    return report


@pytest.fixture(scope="module")
def uninterrupted(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sweep")
    text = _write_text(root)
    store, cache = root / "store.db", root / "cache"
    res = _cli(_args(text, tiny_gguf, store), cache)
    assert res.returncode == 0, res.stderr[-3000:]
    return {"root": root, "text": text, "store": store, "cache": cache, "stdout": res.stdout, "stderr": res.stderr}


def _numbers(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must not depend on kills and resumes: per row and task the score and the flips, and the
    text divergence."""
    out: list[tuple[Any, ...]] = []
    for row in report["rows"]:
        for task in row["tasks"]:
            paired = task["paired"] or {}
            flips = (paired.get("only_a_correct"), paired.get("only_b_correct"))
            out.append((row["label"], task["task"], task["score"]["mean"], flips))
        d = row["divergence"] or {}
        out.append((row["label"], d.get("mean_kld"), d.get("same_top_p")))
    return out


def test_sweep_end_to_end(uninterrupted: dict[str, Any]) -> None:
    report = _report(uninterrupted["store"], uninterrupted["cache"])
    assert report["status"] == "finished" and report["schema_version"] == 1
    assert report["source"]["file_type"] == "F32" and not report["source"]["quantized"]
    assert not any("already quantized" in note for note in report["notes"])
    ref, q8, q4 = report["rows"]
    assert (ref["quant"], q8["quant"], q4["quant"]) == ("reference", "Q8_0", "Q4_0")
    assert all(row["state"] == "done" for row in report["rows"])
    assert [len(row["run_ids"]) for row in report["rows"]] == [2, 2, 2]
    assert len({run for row in report["rows"] for run in row["run_ids"]}) == 6
    assert ref["file_bytes"] > q8["file_bytes"] > q4["file_bytes"] and q4["gb_saved"] > q8["gb_saved"] > 0
    for row in report["rows"]:
        assert {t["task"] for t in row["tasks"]} == set(TASKS)
        assert all(t["score"]["n"] == LIMIT for t in row["tasks"])
        assert row["peak_rss_bytes"] > 0 and row["decode_tokens_per_s"] > 0 and row["prefill_tokens_per_s"] > 0
    assert ref["overall"] is None and ref["divergence"] is None
    for row in (q8, q4):
        assert row["overall"]["n"] == 2 * LIMIT
        mc = next(t for t in row["tasks"] if t["task"] == TASKS[0])
        assert mc["paired"]["test"] == "McNemar exact" and mc["choice_kl"] >= 0 and mc["choice_kl_items"] == LIMIT
        assert row["divergence"]["scored_tokens"] == 4 * 31
    assert 0 < q8["divergence"]["mean_kld"] < q4["divergence"]["mean_kld"]
    assert report["frontier_gb"] and report["guidance"]

    table = uninterrupted["stdout"]
    for needle in ("F32 (reference)", "Q8_0", "Q4_0", "mean KLD", "same top p %", "Not significant is not the same"):
        assert needle in table
    assert "quantized in" in uninterrupted["stderr"]

    store = ["--store", f"sqlite:///{uninterrupted['store']}"]
    listed = _cli(["sweeps", *store], uninterrupted["cache"])
    assert report["sweep_id"] in listed.stdout and "finished" in listed.stdout
    listed = _cli(["sweeps", *store, "--format", "json"], uninterrupted["cache"])
    (row,) = json.loads(listed.stdout)["sweeps"]
    assert (row["id"], row["status"], row["quants"]) == (report["sweep_id"], "finished", ["Q8_0", "Q4_0"])


def test_rerunning_a_finished_sweep_recomputes_nothing(uninterrupted: dict[str, Any], tiny_gguf: Path) -> None:
    store = Store.open(f"sqlite:///{uninterrupted['store']}")
    runs_before = len(store.list_runs())
    res = _cli(_args(uninterrupted["text"], tiny_gguf, uninterrupted["store"]), uninterrupted["cache"])
    assert res.returncode == 0, res.stderr
    assert "is stored and finished" in res.stderr
    assert len(store.list_runs()) == runs_before and len(store.list_sweeps()) == 1


def test_killed_sweep_resumes_without_recomputation(
    uninterrupted: dict[str, Any], tiny_gguf: Path, tmp_path: Path
) -> None:
    text, store, cache = uninterrupted["text"], tmp_path / "store.db", tmp_path / "cache"
    cmd = [sys.executable, "-m", "agimeter.cli.app", *_args(text, tiny_gguf, store)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(cache))
    deadline = time.monotonic() + 300
    # kill while Q8_0's first run is under way: the reference's 40 items are in, and one of Q8_0's
    while sqlite_count(store, "select count(*) from run_items") < 2 * LIMIT + 1:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline, "the sweep did not get to its first variant"
        time.sleep(0.02)
    children = psutil.Process(proc.pid).children()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    psutil.wait_procs(children, timeout=30)  # the row's process dies with the sweep's
    assert all(not c.is_running() for c in children)

    state = Store.open(f"sqlite:///{store}")
    (sweep,) = state.list_sweeps()
    assert sweep.status == "interrupted"
    ref_row, q8_row, q4_row = state.sweep_variants(sweep.id)
    assert (ref_row.state, q8_row.state, q4_row.state) == ("done", "quantized", "pending")
    q8_file = Path(q8_row.path)
    made = q8_file.stat().st_mtime_ns
    items_before = sqlite_count(store, "select count(*) from item_results")

    res = _cli(_args(text, tiny_gguf, store), cache)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "reference: measured already" in res.stderr
    made_now = [line.split(":")[0] for line in res.stderr.splitlines() if "MB, quantized in" in line]
    assert made_now == ["Q4_0"]  # Q8_0 is not quantized again ...
    assert q8_file.stat().st_mtime_ns == made  # ... the file is the one made before the kill

    rows = state.sweep_variants(sweep.id)
    assert rows[0].run_ids == ref_row.run_ids
    assert [len(state.run_sessions(run_id)) for run_id in ref_row.run_ids] == [1, 1]
    q8_runs = state.runs_of_model(f"sha256:{q8_row.sha256}")
    assert {r.id for r in q8_runs} == set(rows[1].run_ids) and len(q8_runs) == 2  # resumed, not redone
    # its first group's run was interrupted and resumed (2 sessions); the second ran once
    assert [len(state.run_sessions(run_id)) for run_id in rows[1].run_ids] == [2, 1]
    # every item computed exactly once: 40 per row, no duplicates, nothing lost
    assert sqlite_count(store, "select count(*) from item_results") == 3 * 2 * LIMIT > items_before
    assert sqlite_count(store, "select count(*) from run_items where cached = 1") == 0
    assert _numbers(_report(store, cache)) == _numbers(_report(uninterrupted["store"], uninterrupted["cache"]))


def test_bad_input_is_one_line(uninterrupted: dict[str, Any], tiny_gguf: Path, tmp_path: Path) -> None:
    text, store, cache = uninterrupted["text"], tmp_path / "store.db", tmp_path / "cache"
    cases = {
        "q8_0,q7_k": "error: unknown quantization type 'q7_k'; valid types: f16, bf16, q8_0,",
    }
    for quants, start in cases.items():
        res = _cli(_args(text, tiny_gguf, store, quants), cache)
        assert res.returncode == 2 and res.stderr.startswith(start), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    args = _args(text, tiny_gguf, store)
    args[args.index("--model") + 1] = "hf:smollm2-135m-instruct"
    res = _cli(args, cache)
    assert res.returncode == 2 and res.stderr.startswith(
        "error: --model 'hf:smollm2-135m-instruct': a sweep needs a GGUF"
    )
    args[args.index("--model") + 1] = f"gguf:{tmp_path / 'missing.gguf'}"
    res = _cli(args, cache)
    assert res.returncode == 2 and "model file not found" in res.stderr
    args = _args(text, tiny_gguf, store)
    args[args.index("--kl-text") + 1] = str(tmp_path / "no-such-text.txt")
    res = _cli(args, cache)
    assert res.returncode == 2 and res.stderr.startswith("error: --kl-text") and "cannot read" in res.stderr
    assert not store.exists() or Store.open(f"sqlite:///{store}").list_sweeps() == []
    assert not cache.exists() or not any(cache.rglob("*.gguf"))
