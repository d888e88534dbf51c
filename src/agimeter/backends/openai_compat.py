"""``openai:`` — any OpenAI-compatible server or API (vLLM, llama.cpp server, SGLang, hosted APIs).

``openai:MODEL@BASE_URL`` or ``openai:MODEL`` with ``--model-arg base_url=...`` (default
``$OPENAI_BASE_URL`` or ``http://127.0.0.1:8000/v1``). The API key is read from the environment
variable named by ``api_key_env`` (default ``OPENAI_API_KEY``), never from the command line.

- Generation streams (chat or completions API, ``api=``), greedy, stop sequences; TTFT comes
  from the stream. Token usage comes from the server; when it sends none (llama-cpp-python's
  server never does when streaming), tokens are counted with a local tokenizer (``tokenizer=``)
  or estimated from characters, and flagged ``estimated``.
- Log-likelihood uses ``/v1/completions`` with ``echo`` + ``logprobs``; a server or API that
  cannot do that is detected up front (``check_loglikelihood``), before any item runs.
- Requests run concurrently (``concurrency=``), each with a timeout and retries with
  exponential backoff + jitter on 429/5xx/connection errors (Retry-After honoured). Only the
  attempt that succeeded is measured and counted; a request that fails for good is returned
  with ``error`` set and no usage.
- A stream that stops sending for ``read_timeout_s`` (30 s) is a ``timeout``, retried as above; a server
  that sends nothing, or answers nothing successfully, for ``give_up_s`` (120 s) is given up on
  for the rest of the backend's life (see ``ServerWatch``), so it cannot hold a run for longer.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agimeter.backends._lm_eval_rules import cut_at_stop, move_trailing_space
from agimeter.backends._openai_http import EndpointConfig, HTTPFailure, OpenAIClient, request_error
from agimeter.backends._server_watch import ServerWatch
from agimeter.backends.base import (
    GenCallback,
    GenRequest,
    GenResult,
    LoglikCallback,
    LoglikRequest,
    LoglikResult,
    ModelInfo,
    Timing,
    Usage,
)
from agimeter.backends.stream import StreamTrace
from agimeter.errors import ConfigError, ModelError, first_problem

R = TypeVar("R")
MAX_API_STOPS = 4
_ECHO_PROBES = (
    "The sky is",
    "Once upon a time, there was a",
    "The capital of France is",
    "Hello, my name",
    "A, B, C,",
)  # OpenAI's limit; further stop sequences are applied client-side


class OpenAIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default_factory=lambda: os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"))
    api_key_env: str = "OPENAI_API_KEY"
    api: Literal["completions", "chat"] = "completions"
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=600.0, gt=0)  # one attempt, from sending to the last byte
    read_timeout_s: float = Field(default=30.0, gt=0)  # a response that goes silent (a stalled stream)
    give_up_s: float = Field(default=120.0, gt=0)  # a server that answers nothing: stop asking it
    max_retries: int = Field(default=5, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    tokenizer: str | None = None
    preflight: bool = True
    revision: str | None = None  # pin an identity for hosted models whose weights may change
    # Extra JSON merged into every request, e.g. '{"repeat_penalty": 1.0}': llama-cpp-python's
    # server applies a repeat penalty of 1.1 by default, so its "greedy" is not greedy without it.
    extra_body: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extra_body", mode="before")
    @classmethod
    def _json_text(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as err:
                raise ValueError(f"not JSON: {err.msg}") from None
        return value


class LoglikUnsupportedError(ModelError):
    """The server cannot return prompt log-probs."""


class OpenAIBackend:
    def __init__(self, model: str, options: OpenAIOptions) -> None:
        api_key = os.environ.get(options.api_key_env) or None
        self.options = options
        self.endpoint = EndpointConfig(
            base_url=options.base_url,
            model=model,
            api_key=api_key,
            timeout_s=options.timeout_s,
            read_timeout_s=options.read_timeout_s,
            max_retries=options.max_retries,
            backoff_base_s=options.backoff_base_s,
            concurrency=options.concurrency,
        )
        self._watch = ServerWatch(options.give_up_s)
        served = _run(self._preflight()) if options.preflight else None
        self._tokenizer = _load_tokenizer(options.tokenizer) if options.tokenizer else None
        # Identity: what the server says about the model, minus volatile fields (vLLM's "created"
        # is the time of the request), plus every setting that changes outputs.
        stable = {k: v for k, v in (served or {}).items() if k in ("id", "root", "parent", "owned_by", "max_model_len")}
        fingerprint = json.dumps(
            [options.base_url.rstrip("/"), model, stable, options.revision, options.api, options.extra_body],
            sort_keys=True,
        )
        self.info = ModelInfo(
            backend="openai",
            name=model,
            identity=hashlib.sha256(fingerprint.encode()).hexdigest(),
            revision=options.revision,
            dtype="remote",
            device=options.base_url,
            has_chat_template=False,
            extra={"api": options.api, "base_url": options.base_url},
        )
        self._loglik_checked = False

    def _client(self, *, retries: bool = True) -> OpenAIClient:
        """A client for one call; every call shares the watch on the server's liveness."""
        return OpenAIClient(self.endpoint, retries=retries, watch=self._watch)

    # ------------------------------------------------------------------------ preflight

    async def _preflight(self) -> dict[str, Any] | None:
        """Reach the server, check the key and that it serves the model; one-line errors."""
        url = self.endpoint.url("models")
        async with self._client(retries=False) as client:
            try:
                listing = await client.get_json("models")
            except HTTPFailure as failure:
                if failure.kind == "auth":
                    raise ModelError(
                        f"{url}: {failure.message} — set the API key in ${self.options.api_key_env}"
                    ) from None
                if failure.kind in ("connection", "timeout"):
                    raise ModelError(f"cannot reach {url}: {failure.message}") from None
                return None  # some APIs have no /models; the first real request will tell
        entries = listing.get("data", []) if isinstance(listing, dict) else []
        ids = [str(e.get("id")) for e in entries if isinstance(e, dict)]
        if ids and self.endpoint.model not in ids:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            raise ModelError(
                f"{self.endpoint.base_url} does not serve model {self.endpoint.model!r}; it serves: {shown}"
            )
        return next((e for e in entries if isinstance(e, dict) and e.get("id") == self.endpoint.model), None)

    def check_loglikelihood(self) -> None:
        """Raise ``LoglikUnsupportedError`` unless the server returns prompt log-probs."""
        if self._loglik_checked:
            return
        if self.options.api == "chat":
            raise LoglikUnsupportedError("the chat API returns no prompt log-probs (use api=completions)")
        result = _run(self._loglik_many([LoglikRequest(context="The sky is", continuation=" blue")], None))[0]
        if result.error is not None:
            raise LoglikUnsupportedError(f"/v1/completions with echo+logprobs failed: {result.error.message}")
        _run(self._check_echo_alignment())
        self._loglik_checked = True

    async def _check_echo_alignment(self) -> None:
        """Detect servers that return each echoed prompt token's log-prob from the wrong position
        (llama-cpp-python 0.3.x, abetlen/llama-cpp-python#1983). With t the greedy token after a
        prompt P and u the greedy token after P+t, the echoed top log-probs at t's position must
        rank t first; ranking u first is that bug's signature (the row after t). Noise-free: it
        compares token identities, not values. Servers without generation log-probs are skipped."""
        base = {"model": self.endpoint.model, "temperature": 0.0, "max_tokens": 1, "logprobs": 1}
        base.update(self.options.extra_body)
        async with self._client() as client:

            async def greedy(prompt: str) -> str:
                body = (await client.post_json("completions", {**base, "prompt": prompt}))[0]
                return str(body["choices"][0]["logprobs"]["tokens"][0])

            for prompt in _ECHO_PROBES:
                try:
                    token = await greedy(prompt)
                    after = await greedy(prompt + token)
                    body = {**base, "prompt": prompt + token, "echo": True}
                    echo = (await client.post_json("completions", body))[0]["choices"][0]["logprobs"]
                except (HTTPFailure, KeyError, IndexError, TypeError):
                    return
                rows = zip(echo["tokens"], echo["top_logprobs"], echo["text_offset"], strict=False)
                top = next((t for text, t, at in rows if at == len(prompt) and text == token and t), None)
                if top is None or not token or token == after:
                    continue  # the token merged with its neighbours, or no signal: next probe
                ranked_first = max(top.items(), key=lambda kv: kv[1])[0]
                if ranked_first == after and ranked_first != token:
                    raise LoglikUnsupportedError(
                        "echoed prompt log-probs are misaligned by one position, as in llama-cpp-python's "
                        "server (abetlen/llama-cpp-python#1983); use the gguf: backend in-process"
                    )
                return

    # ---------------------------------------------------------------------- log-likelihood

    def loglikelihood(
        self, requests: Sequence[LoglikRequest], on_result: LoglikCallback | None = None
    ) -> list[LoglikResult]:
        self.check_loglikelihood()
        return _run(self._loglik_many(requests, on_result))

    async def _loglik_many(
        self, requests: Sequence[LoglikRequest], on_result: LoglikCallback | None
    ) -> list[LoglikResult]:
        async with self._client() as client:
            calls = [functools.partial(self._loglik_one, client, r) for r in requests]
            return await _gather(client, calls, on_result)

    async def _loglik_one(self, client: OpenAIClient, request: LoglikRequest) -> LoglikResult:
        context, continuation = move_trailing_space(request.context, request.continuation)
        prompt = context + continuation
        payload = {
            "model": self.endpoint.model,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "echo": True,
            "logprobs": 1,
            **self.options.extra_body,
        }
        loop = asyncio.get_running_loop()
        start = loop.time()
        attempts = 1
        try:
            body, attempts = await client.post_json("completions", payload)
            logprob, is_greedy, n_tokens, n_prompt = _parse_echo(body, len(context), len(prompt))
        except HTTPFailure as failure:
            return LoglikResult(
                logprob=float("nan"),
                is_greedy=False,
                num_tokens=0,
                usage=Usage(),
                timing=Timing(),
                error=request_error(failure, attempts),
            )
        elapsed = loop.time() - start
        return LoglikResult(
            logprob=logprob,
            is_greedy=is_greedy,
            num_tokens=n_tokens,
            usage=Usage(prompt_tokens=n_prompt),
            timing=Timing(total_s=elapsed, prefill_s=elapsed),
        )

    # -------------------------------------------------------------------------- generation

    def generate(self, requests: Sequence[GenRequest], on_result: GenCallback | None = None) -> list[GenResult]:
        return _run(self._generate_many(requests, on_result))

    async def _generate_many(self, requests: Sequence[GenRequest], on_result: GenCallback | None) -> list[GenResult]:
        async with self._client() as client:
            calls = [functools.partial(self._generate_one, client, r) for r in requests]
            return await _gather(client, calls, on_result)

    async def _generate_one(self, client: OpenAIClient, request: GenRequest) -> GenResult:
        path, payload = self.stream_payload(
            request.prompt, request.max_tokens, stop=request.stop, messages=request.messages
        )
        if not request.greedy:
            payload.update(temperature=request.temperature, top_p=request.top_p)
            if request.seed is not None:
                payload["seed"] = request.seed
        trace = await client.stream(path, payload)
        if trace.error is not None:
            return GenResult(text="", usage=Usage(), timing=Timing(), error=trace.error)
        text, stopped = cut_at_stop(trace.text, request.stop)
        finish: Literal["stop", "length"] = "stop" if stopped or trace.finish_reason != "length" else "length"
        ttft = trace.ttft_s or trace.e2e_s
        return GenResult(
            text=text,
            finish_reason=finish,
            usage=self._usage(request.prompt, trace),
            timing=Timing(total_s=trace.e2e_s, prefill_s=ttft, decode_s=trace.e2e_s - ttft, first_token_s=ttft),
        )

    def stream_payload(
        self,
        prompt: str,
        max_tokens: int,
        *,
        stop: Sequence[str] = (),
        ignore_eos: bool = False,
        messages: Sequence[tuple[str, str]] = (),
    ) -> tuple[str, dict[str, Any]]:
        """The path and body of a greedy streamed request (also used by ``agimeter perf``)."""
        payload: dict[str, Any] = {
            "model": self.endpoint.model,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop:
            payload["stop"] = list(stop)[:MAX_API_STOPS]
        if ignore_eos:
            payload["ignore_eos"] = True
        payload.update(self.options.extra_body)
        if self.options.api == "chat":
            # A request's own messages (a judge's system prompt, a conversation's turns), else one user turn.
            turns = messages or (("user", prompt),)
            payload["messages"] = [{"role": role, "content": content} for role, content in turns]
            return "chat/completions", payload
        payload["prompt"] = prompt
        return "completions", payload

    def _usage(self, prompt: str, trace: StreamTrace) -> Usage:
        usage = trace.usage or {}
        if "prompt_tokens" in usage and "completion_tokens" in usage:
            return Usage(prompt_tokens=int(usage["prompt_tokens"]), completion_tokens=int(usage["completion_tokens"]))
        if self._tokenizer is not None:
            count = self._tokenizer
            return Usage(prompt_tokens=count(prompt), completion_tokens=count(trace.text), estimated=True)
        # No usage and no tokenizer: one token per streamed event, prompt at ~4 characters a token.
        return Usage(prompt_tokens=max(1, len(prompt) // 4), completion_tokens=len(trace.token_times), estimated=True)

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        return None

    def close(self) -> None:
        return None


async def _gather(
    client: OpenAIClient,
    calls: Sequence[Callable[[], Awaitable[R]]],
    on_result: Callable[[int, R], None] | None,
) -> list[R]:
    """Run calls with bounded concurrency; report each result as soon as it is ready."""
    results: list[R | None] = [None] * len(calls)

    async def one(index: int) -> None:
        async with client.semaphore:
            result = await calls[index]()
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    async with asyncio.TaskGroup() as group:
        for index in range(len(calls)):
            group.create_task(one(index))
    return [r for r in results if r is not None]


def _run(coro: Awaitable[R]) -> R:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _parse_echo(body: Any, context_chars: int, prompt_chars: int) -> tuple[float, bool, int, int]:
    """Sum the log-probs of the echoed tokens that overlap the continuation."""
    try:
        block = body["choices"][0]["logprobs"]
        tokens: list[str] = block["tokens"]
        logprobs: list[float | None] = block["token_logprobs"]
        offsets: list[int] = block["text_offset"]
        tops: list[dict[str, float] | None] = block.get("top_logprobs") or [None] * len(tokens)
    except (KeyError, IndexError, TypeError):
        raise HTTPFailure("malformed", "completion has no echo logprobs (tokens/token_logprobs/text_offset)") from None
    total, greedy, count, n_prompt = 0.0, True, 0, 0
    for token, logprob, offset, top in zip(tokens, logprobs, offsets, tops, strict=False):
        if offset >= prompt_chars:
            break  # the generated token
        n_prompt += 1
        if offset + len(token) <= context_chars:
            continue
        if logprob is None:
            raise HTTPFailure("malformed", "no log-prob for a continuation token (empty context?)")
        total += logprob
        count += 1
        if top:
            greedy = greedy and max(top.items(), key=lambda kv: kv[1])[0] == token
    if count == 0:
        raise HTTPFailure("malformed", "echo returned no continuation tokens")
    return total, greedy, count, n_prompt


def _load_tokenizer(name: str) -> Callable[[str], int]:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as err:
        raise ModelError(f"cannot load tokenizer {name!r}: {str(err).splitlines()[0]}") from None
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


def create(spec: str, **options: Any) -> OpenAIBackend:
    """``openai:MODEL[@BASE_URL]``; runner options that mean nothing to a server are ignored."""
    model, _, base_url = spec.partition("@")
    known = {k: v for k, v in options.items() if k in OpenAIOptions.model_fields}
    if base_url:
        known["base_url"] = base_url
    try:
        parsed = OpenAIOptions.model_validate(known)
    except ValidationError as err:
        where, message = first_problem(err)
        raise ConfigError(f"--model-arg {where}: {message}") from None
    unknown = sorted(set(options) - set(OpenAIOptions.model_fields) - {"dtype", "device", "batch_size"})
    if unknown:
        raise ConfigError(
            f"openai: unknown --model-arg {', '.join(unknown)}; known: {', '.join(OpenAIOptions.model_fields)}"
        )
    return OpenAIBackend(model, parsed)
