"""One contract every backend passes: the fake, hf on the tiny model, gguf on the tiny GGUF and
openai against the stub server, all made through the registry as a run makes them.

The same requests go to each: one result per request in request order, the callback once per
index, usage and timing on every result, no error on a good request, finite log-probs that are not
positive, the greedy flag and token count of each continuation, generation within its token budget
with a finish reason, and ``close()`` twice without an error. What differs between backends (the
numbers themselves) is checked against each other in the stacks' own tests (hf vs gguf parity in
test_gguf.py, hf vs lm-eval in tests/integration).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agimeter.backends.base import Backend, GenRequest, GenResult, LoglikRequest, LoglikResult
from agimeter.backends.capabilities import ChecksLoglikelihood
from agimeter.backends.registry import create_backend

BACKENDS = ("fake", "hf", "gguf", "openai")

# Shared by every backend: two contexts, one shared by three continuations (a multiple-choice item),
# continuations of one and of several tokens.
LOGLIK = [
    LoglikRequest(context="The capital of France is", continuation=" Paris"),
    LoglikRequest(context="The capital of France is", continuation=" Lyon"),
    LoglikRequest(context="The capital of France is", continuation=" a city on the Seine"),
    LoglikRequest(context="2 + 2 =", continuation=" 4"),
]
GENERATE = [
    GenRequest(prompt="Once upon a time", max_tokens=5),
    GenRequest(prompt="The capital of France is", max_tokens=3, stop=("\n",)),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tiny_model_dir: Path, stub_server: Callable[..., str]) -> Iterator[Backend]:
    name = request.param
    if name == "fake":
        made = create_backend("fake:contract")
    elif name == "hf":
        made = create_backend(f"hf:{tiny_model_dir}", device="cpu", dtype="float32")
    elif name == "gguf":
        pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install -e '.[gguf]')")
        tiny_gguf = request.getfixturevalue("tiny_gguf")
        made = create_backend(f"gguf:{tiny_gguf}", n_threads=1, kv_f32=True)
    else:
        url = stub_server("--first-ms", "1", "--itl-ms", "0")
        made = create_backend(f"openai:stub-model@{url}", max_retries=2, backoff_base_s=0.01)
    yield made
    made.close()


def _callbacks() -> tuple[list[int], Callable[[int, object], None]]:
    seen: list[int] = []
    return seen, lambda index, _result: seen.append(index)


def test_it_is_a_backend_with_an_identity(backend: Backend) -> None:
    assert isinstance(backend, Backend)
    assert backend.info.backend and backend.info.identity
    rendered = backend.apply_chat_template([{"role": "user", "content": "hi"}])
    assert rendered is None or "hi" in rendered


def test_loglikelihood_results_in_request_order_with_usage_and_timing(backend: Backend) -> None:
    if isinstance(backend, ChecksLoglikelihood):
        backend.check_loglikelihood()  # the runner asks first; every backend here can
    seen, on_result = _callbacks()
    results = backend.loglikelihood(LOGLIK, on_result=on_result)
    assert len(results) == len(LOGLIK) and sorted(seen) == list(range(len(LOGLIK)))
    for result in results:
        assert isinstance(result, LoglikResult) and result.error is None
        assert math.isfinite(result.logprob) and result.logprob <= 0.0
        assert result.num_tokens >= 1 and isinstance(result.is_greedy, bool)
        assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens == 0
        assert result.timing.total_s >= 0.0 and math.isfinite(result.timing.total_s)
    # The several-token continuation has more tokens than the one-token ones.
    assert results[2].num_tokens > results[0].num_tokens
    # Request order, not computation order: the same request alone scores the same.
    alone = backend.loglikelihood([LOGLIK[3]])
    assert alone[0].logprob == pytest.approx(results[3].logprob, abs=1e-4)


def test_generation_within_its_budget_with_usage_and_timing(backend: Backend) -> None:
    seen, on_result = _callbacks()
    results = backend.generate(GENERATE, on_result=on_result)
    assert len(results) == len(GENERATE) and sorted(seen) == list(range(len(GENERATE)))
    for request, result in zip(GENERATE, results, strict=True):
        assert isinstance(result, GenResult) and result.error is None
        assert result.finish_reason in ("stop", "length")
        assert 0 <= result.usage.completion_tokens <= request.max_tokens
        assert result.usage.prompt_tokens > 0
        assert result.timing.total_s >= 0.0 and math.isfinite(result.timing.total_s)
        assert not any(stop in result.text for stop in request.stop)
    # Greedy is deterministic on every backend.
    again = backend.generate(GENERATE[:1])
    assert again[0].text == results[0].text


def test_close_is_idempotent(backend: Backend) -> None:
    backend.close()
    backend.close()
