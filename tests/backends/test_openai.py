"""The ``openai:`` backend against the fixed-delay stub server (a real HTTP server in its own
process): generation, usage, retries, faults and echo log-likelihood."""

from __future__ import annotations

import json
import math
import time

import pytest

from agimeter.backends.base import GenRequest, LoglikRequest
from agimeter.backends.openai_compat import LoglikUnsupportedError, OpenAIBackend, create
from agimeter.errors import ConfigError, ModelError
from agimeter.testing.stub_server import _logprob, _tokens

FAST = {"max_retries": "3", "backoff_base_s": "0.01"}


@pytest.mark.timing  # the TTFT bound: retried once on a busy machine, both attempts reported
def test_generate_text_usage_and_ttft(stub_server) -> None:
    url = stub_server("--first-ms", "40", "--itl-ms", "2", "--responses", json.dumps({"capital": "Paris is it."}))
    backend = create(f"stub-model@{url}", **FAST)
    results = backend.generate(
        [
            GenRequest(prompt="What is the capital of France?", max_tokens=8),
            GenRequest(prompt="Say something", max_tokens=8, stop=(" 42",)),
            GenRequest(prompt="Say something", max_tokens=2),
        ]
    )
    assert [r.text for r in results] == ["Paris is it.", "The answer is", "The answer"]
    assert [r.finish_reason for r in results] == ["stop", "stop", "length"]
    first = results[0]
    assert first.usage.completion_tokens == 3 and first.usage.prompt_tokens == 6
    assert not first.usage.estimated
    assert first.timing.first_token_s is not None
    assert 0.040 <= first.timing.first_token_s < 0.040 + 0.030
    assert first.timing.total_s >= 0.040 + 2 * 0.002  # tokens leave on an absolute schedule
    assert backend.info.identity and backend.info.identity != "stub-model"


def test_chat_api_and_missing_usage_is_estimated(stub_server) -> None:
    url = stub_server("--first-ms", "1", "--itl-ms", "1", "--no-usage")
    backend = create(f"stub-model@{url}", api="chat", **FAST)
    (result,) = backend.generate([GenRequest(prompt="hello there", max_tokens=16)])
    assert result.text == "The answer is 42."
    assert result.usage.estimated
    assert result.usage.completion_tokens == 4  # one per streamed event


def test_retries_rate_limit_and_503_without_double_counting(stub_server) -> None:
    url = stub_server("--first-ms", "1", "--itl-ms", "1")
    backend = create(f"stub-model@{url}", **FAST)
    results = backend.generate([GenRequest(prompt="<<429>> a", max_tokens=8), GenRequest(prompt="<<503-once>> b")])
    for result in results:
        assert result.error is None
        assert result.text == "The answer is 42."
        assert result.usage.completion_tokens == 4  # the successful attempt only


def test_faults_become_classified_errors(stub_server) -> None:
    url = stub_server("--first-ms", "1", "--itl-ms", "1")
    backend = create(f"stub-model@{url}", read_timeout_s="0.5", **FAST)
    prompts = ["<<500>>", "<<stall>>", "<<malformed>>", "fine"]
    results = backend.generate([GenRequest(prompt=p, max_tokens=8) for p in prompts])
    kinds = [r.error.kind if r.error else None for r in results]
    assert kinds == ["server_error", "timeout", "malformed", None]
    assert results[0].error is not None and results[0].error.attempts == 4  # 1 + 3 retries
    assert results[2].error is not None and results[2].error.attempts == 1  # not retried
    assert all(r.usage.completion_tokens == 0 for r in results[:3])


def test_preflight_errors_are_one_line(stub_server) -> None:
    url = stub_server("--api-key", "sekret")
    with pytest.raises(ModelError, match=r"HTTP 401.*OPENAI_API_KEY"):
        create(f"stub-model@{url}")
    with pytest.raises(ModelError, match=r"cannot reach http://127\.0\.0\.1:9/v1/models"):
        create("stub-model@http://127.0.0.1:9/v1")
    url2 = stub_server("--model", "a", "--model", "b")
    with pytest.raises(ModelError, match=r"does not serve model 'c'; it serves: a, b"):
        create(f"c@{url2}")
    with pytest.raises(ConfigError, match="unknown --model-arg"):
        create(f"a@{url2}", temperature="1")


def test_api_key_from_env(stub_server, monkeypatch: pytest.MonkeyPatch) -> None:
    url = stub_server("--api-key", "sekret", "--first-ms", "1", "--itl-ms", "1")
    monkeypatch.setenv("MY_KEY", "sekret")
    backend = create(f"stub-model@{url}", api_key_env="MY_KEY")
    (result,) = backend.generate([GenRequest(prompt="x", max_tokens=4)])
    assert result.error is None and result.text


def test_loglikelihood_via_echo(stub_server) -> None:
    url = stub_server()
    backend = create(f"stub-model@{url}", **FAST)
    requests = [
        LoglikRequest(context="Question: what?\nAnswer:", continuation=" yes it is"),
        LoglikRequest(context="Question: what?\nAnswer: ", continuation="no"),
    ]
    results = backend.loglikelihood(requests)
    for request, result in zip(requests, results, strict=True):
        context = request.context.rstrip()
        prompt = context + request.context[len(context) :] + request.continuation
        tokens = _tokens(prompt)
        expected, pos = 0.0, 0
        for token in tokens:
            if pos + len(token) > len(context):
                expected += _logprob(prompt[:pos], token)
            pos += len(token)
        assert math.isclose(result.logprob, expected, rel_tol=1e-12)
        assert result.num_tokens == len(_tokens(request.continuation))
        assert result.usage.prompt_tokens == len(tokens)
    assert isinstance(backend, OpenAIBackend)


def test_loglikelihood_unsupported_is_detected(stub_server) -> None:
    url = stub_server("--no-echo")
    backend = create(f"stub-model@{url}", **FAST)
    with pytest.raises(LoglikUnsupportedError, match="echo"):
        backend.check_loglikelihood()
    chat = create(f"stub-model@{url}", api="chat")
    with pytest.raises(LoglikUnsupportedError, match="chat API"):
        chat.check_loglikelihood()


def test_identity_is_stable_and_follows_settings(stub_server) -> None:
    url = stub_server()
    first, again = create(f"stub-model@{url}"), create(f"stub-model@{url}")
    assert first.info.identity == again.info.identity  # despite "created" changing per call
    other = create(f"stub-model@{url}", extra_body='{"repeat_penalty": 1.0}')
    assert other.info.identity != first.info.identity
    assert create(f"stub-model@{url}", api="chat").info.identity != first.info.identity
    with pytest.raises(ConfigError, match="extra_body"):
        create(f"stub-model@{url}", extra_body="{not json")


# Stalls -------------------------------------------------------------------------------------
# The stub's --stall-after N sends N tokens and then nothing, holding the connection open for an
# hour; --hang never answers at all. Without the limits below each request would wait that hour.


def test_default_limits_bound_a_stall() -> None:
    """The defaults the README states: a stream silent for 30 s ends, a silent server is given up
    on after 120 s; an attempt lasts at most 600 s."""
    from agimeter.backends.openai_compat import OpenAIOptions

    options = OpenAIOptions()
    assert (options.read_timeout_s, options.give_up_s, options.timeout_s) == (30.0, 120.0, 600.0)


def test_stalled_stream_is_a_retried_timeout(stub_server) -> None:
    url = stub_server("--first-ms", "1", "--itl-ms", "1", "--stall-after", "2")
    backend = create(f"stub-model@{url}", read_timeout_s="0.3", give_up_s="60", max_retries="2", backoff_base_s="0.01")
    start = time.perf_counter()
    (result,) = backend.generate([GenRequest(prompt="x", max_tokens=8)])
    elapsed = time.perf_counter() - start
    assert result.error is not None and result.error.kind == "timeout"
    assert result.error.attempts == 3  # retried as any timeout is
    assert result.error.message == "stalled: no bytes for 0.3 s (read_timeout_s)"
    assert elapsed >= 3 * 0.3  # each attempt waited out its stall timer, no less


def test_wait_before_the_first_token_is_not_a_stall(stub_server) -> None:
    # A one-slot server queues requests: the response may begin long before its first token.
    url = stub_server("--first-ms", "800", "--itl-ms", "1")
    backend = create(f"stub-model@{url}", read_timeout_s="0.2", give_up_s="60", **FAST)
    (result,) = backend.generate([GenRequest(prompt="x", max_tokens=8)])
    assert result.error is None and result.text == "The answer is 42."


def test_silent_server_is_given_up_on_for_the_rest_of_the_run(stub_server) -> None:
    url = stub_server("--hang")  # /v1/models answers (preflight passes), completions never do
    backend = create(f"stub-model@{url}", give_up_s="1", concurrency="4", max_retries="5", backoff_base_s="0.01")
    start = time.perf_counter()
    results = backend.generate([GenRequest(prompt=f"q{i}", max_tokens=4) for i in range(20)])
    first_call = time.perf_counter() - start
    assert [r.error.kind if r.error else None for r in results] == ["timeout"] * 20
    assert all(r.error and "gave up on the server: it sent nothing for 1 s" in r.error.message for r in results)
    assert first_call >= 1.0  # given up after give_up_s of silence, not sooner
    # timeout_s (600 s) bounds no attempt here: 20 requests, 4 at a time, would take 5 x 600 s.
    assert first_call < 600 / 10
    # Later calls (the run's next task) are not sent to the server at all.
    start = time.perf_counter()
    again = backend.generate([GenRequest(prompt="later", max_tokens=4)])
    assert again[0].error is not None and again[0].error.attempts == 1
    assert time.perf_counter() - start < first_call / 2


def test_server_that_keeps_stalling_is_given_up_on(stub_server) -> None:
    # Every attempt gets two tokens and stalls: bytes keep arriving, no request ever succeeds.
    url = stub_server("--first-ms", "1", "--itl-ms", "1", "--stall-after", "2")
    read, retries, n, concurrency = 0.2, 50, 24, 4
    backend = create(
        f"stub-model@{url}",
        read_timeout_s=str(read),
        give_up_s="1",
        max_retries=str(retries),
        backoff_base_s="0.001",
        concurrency=str(concurrency),
    )
    start = time.perf_counter()
    results = backend.generate([GenRequest(prompt=f"q{i}", max_tokens=8) for i in range(n)])
    elapsed = time.perf_counter() - start
    assert all(r.error is not None and r.error.kind == "timeout" for r in results)
    assert all(r.error and "gave up on the server: no request succeeded for 1 s" in r.error.message for r in results)
    # Retrying every request to the end would take at least (retries + 1) stalls per request, with
    # n / concurrency requests one after another: 51 x 0.2 s x 6 = 61 s. Giving up ends it in ~1 s.
    assert elapsed < (retries + 1) * read * (n / concurrency) / 4


def test_stalls_among_successes_are_not_given_up_on(stub_server) -> None:
    url = stub_server("--first-ms", "1", "--itl-ms", "1")
    backend = create(f"stub-model@{url}", read_timeout_s="0.3", give_up_s="5", max_retries="1", backoff_base_s="0.01")
    prompts = ["a", "<<stall>> b", "c", "<<stall>> d"]
    results = backend.generate([GenRequest(prompt=p, max_tokens=8) for p in prompts])
    assert [r.error.message if r.error else None for r in results] == [
        None,
        "stalled: no bytes for 0.3 s (read_timeout_s)",
        None,
        "stalled: no bytes for 0.3 s (read_timeout_s)",
    ]
    (later,) = backend.generate([GenRequest(prompt="e", max_tokens=8)])
    assert later.error is None
