"""A real llama-cpp-python OpenAI-compatible server on 127.0.0.1 serving the tiny GGUF the suite
builds: ``agimeter run`` (generative and log-likelihood) and ``agimeter perf`` against it, checked
against the same file loaded in-process by the ``gguf:`` backend."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agimeter.store.repository import Store

pytestmark = pytest.mark.slow
Cli = Callable[..., subprocess.CompletedProcess[str]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tiny_gguf: Path) -> Iterator[str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(tiny_gguf), "--host", "127.0.0.1"]
    # --interrupt_requests False: by default a new request silently truncates the running one.
    cmd += ["--port", str(port), "--model_alias", "tiny", "--interrupt_requests", "False", "--n_ctx", "1024"]
    # An f32 KV cache (GGML_TYPE_F32 = 0) on both sides: random weights have near-ties that
    # f16 rounding would flip, and the comparison below is exact.
    cmd += ["--logits_all", "True", "--type_k", "0", "--type_v", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"llama_cpp.server did not start: {proc.stderr.read() if proc.stderr else ''}"
                ) from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def _store(tmp: Path) -> str:
    return f"sqlite:///{tmp / 'store.db'}"


def _run(agimeter: Cli, toy: dict[str, Path], model: str, task: str, *extra: str) -> Store:
    res = agimeter(
        "run", "--model", model, "--tasks", str(toy[task]), "--data-dir", str(toy["data"]),
        "--store", _store(toy["tmp"]), "--limit", "8", *extra,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return Store.open(_store(toy["tmp"]))


def test_generation_over_http_equals_in_process(
    agimeter: Cli, toy_env: dict[str, Path], llama_server: str, tiny_gguf: Path
) -> None:
    # llama-cpp-python's server penalises repeats (1.1) by default: switch it off for greedy.
    penalty = '{"repeat_penalty": 1.0}'
    store = _run(agimeter, toy_env, f"openai:tiny@{llama_server}", "gen", "--model-arg", f"extra_body={penalty}")
    store = _run(agimeter, toy_env, f"gguf:{tiny_gguf}", "gen", "--model-arg", "kv_f32=true")
    remote, local = sorted(store.list_runs(), key=lambda r: r.model.startswith("gguf"))
    assert remote.status == local.status == "finished"
    remote_items, local_items = store.run_items(remote.id), store.run_items(local.id)
    assert len(remote_items) == len(local_items) == 8
    # Same weights, same llama.cpp, greedy: the same text over HTTP as in-process, except that
    # the server drops stray partial UTF-8 bytes (random weights emit them) that we, like
    # transformers, decode as U+FFFD.
    assert [i.generation for i in remote_items] == [(i.generation or "").replace("\ufffd", "") for i in local_items]
    measurement = remote.summary.measurement.model_dump()
    assert measurement["completion_tokens"] > 0 and measurement["errors"] == {}


def test_misaligned_echo_logprobs_are_refused(agimeter: Cli, toy_env: dict[str, Path], llama_server: str) -> None:
    """llama-cpp-python 0.3.36 returns each echoed prompt token's log-prob from the position after
    it (abetlen/llama-cpp-python#1983): scoring through it would be silently wrong. agimeter's
    check compares an echoed log-prob with a generated one and refuses, naming the tasks."""
    args = ["run", "--model", f"openai:tiny@{llama_server}", "--tasks", f"{toy_env['mc']},{toy_env['gen']}"]
    res = agimeter(*args, "--data-dir", str(toy_env["data"]), "--store", _store(toy_env["tmp"]))
    assert res.returncode != 0
    assert "misaligned" in res.stderr and "toy_mc" in res.stderr and "#1983" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_perf_against_llama_server(agimeter: Cli, llama_server: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    res = agimeter(
        "perf", "--model", f"openai:tiny@{llama_server}", "-c", "1,2", "-n", "6", "--input-tokens", "24",
        "--output-tokens", "8", "--tokenizer", str(tiny_model_dir), "--store", _store(tmp_path), "--format", "json",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["input_lengths_exact"]
    for point in payload["points"]:
        assert point["succeeded"] == 6 and point["errors"] == {}
        assert point["ttft"]["p50"] > 0 and point["e2e"]["p50"] >= point["ttft"]["p50"]
        # llama-cpp-python streams no usage: tokens are counted client-side and say so.
        assert point["output_tokens_counted_client_side"]
        assert 0 < point["output_tokens"] <= 6 * 8
        assert point["server"] is None  # it reports no timings either
    # The server runs one request at a time: two clients cannot double its throughput.
    one, two = payload["points"]
    assert two["request_per_s"] < 1.6 * one["request_per_s"]
