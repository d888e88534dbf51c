"""Async client for OpenAI-compatible servers: JSON calls and streamed calls timed at the byte level.

Used by the ``openai:`` backend (with retries) and by ``agimeter perf`` (without: a load test
records failures instead of hiding them). A streamed request is timed with the monotonic
``time.perf_counter`` clock: when it was sent, when its first byte arrived, and when each SSE
event carrying a token arrived (taken the moment the socket read returned, before any parsing).
The time the client itself spends parsing is measured too and reported as client overhead.

Three limits keep a server that stops answering from holding a run (see ``ServerWatch``):
``read_timeout_s`` ends a stream that goes silent after sending data (a stalled stream),
``timeout_s`` ends any attempt, and ``give_up_s`` ends every request to a server that has sent
nothing, or has answered nothing successfully while attempts time out, for that long.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from agimeter.backends._retry import RETRYABLE, backoff_delay, classify_status, parse_retry_after
from agimeter.backends._server_watch import Deadline, ServerWatch
from agimeter.backends.base import ErrorKind, RequestError
from agimeter.backends.stream import StreamTrace

T = TypeVar("T")


class EndpointConfig(BaseModel):
    """Where and how to reach one model on an OpenAI-compatible server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = Field(default=600.0, gt=0)  # one attempt, from sending to the last byte
    read_timeout_s: float = Field(default=30.0, gt=0)  # silence of a stream that has sent data
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    concurrency: int = Field(default=8, ge=1)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


class HTTPFailure(Exception):
    """One failed attempt, classified; ``retry_after_s`` from the server when it sent one."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


class OpenAIClient:
    """One aiohttp session per event loop; ``async with OpenAIClient(cfg) as client``. With a
    ``watch``, requests stop when it gives up on the server."""

    def __init__(
        self,
        config: EndpointConfig,
        *,
        retries: bool = True,
        rng: random.Random | None = None,
        watch: ServerWatch | None = None,
    ) -> None:
        self.config = config
        self.retries = retries
        self.watch = watch
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.semaphore = asyncio.Semaphore(config.concurrency)

    async def __aenter__(self) -> OpenAIClient:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(headers=headers, connector=connector)
        if self.watch is not None:
            self.watch.start_call()
            self._watchdog = asyncio.create_task(self.watch.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("OpenAIClient used outside 'async with'")
        return self._session

    def _timeout(self) -> aiohttp.ClientTimeout:
        # No sock_read: waiting for a response to begin is not a stall (a one-slot server such as
        # llama.cpp's queues requests); that wait is bounded by timeout_s and the watch.
        cfg = self.config
        return aiohttp.ClientTimeout(total=cfg.timeout_s, sock_connect=cfg.connect_timeout_s)

    @asynccontextmanager
    async def _attempt(self) -> AsyncIterator[Deadline]:
        """One attempt under its deadline; the deadline firing is a ``timeout`` failure."""
        if self.watch is not None and self.watch.gave_up:
            raise HTTPFailure("timeout", self.watch.gave_up)
        attempt: Deadline | None = None
        try:
            async with asyncio.timeout(None) as deadline:
                attempt = Deadline(deadline)
                if self.watch is not None:
                    self.watch.begin(attempt)
                try:
                    yield attempt
                finally:
                    if self.watch is not None:
                        self.watch.end(attempt)
        except TimeoutError:
            if attempt is None or not attempt.timeout.expired():
                raise
            raise HTTPFailure("timeout", attempt.reason) from None

    def _heard(self, attempt: Deadline, *, streaming: bool) -> None:
        """Bytes arrived: the server is alive; once a stream has sent data, silence is a stall.
        (Before its first data a stream may wait in the server's queue: timeout_s and the watch
        bound that wait, not the stall timer.)"""
        if self.watch is not None:
            self.watch.heard()
        if streaming:
            attempt.stall_after(self.config.read_timeout_s)

    async def _pause(self, delay: float) -> None:
        """Back off before a retry; cut short when the watch gives up (the retry is then not sent)."""
        if self.watch is None:
            await asyncio.sleep(delay)
            return
        with suppress(TimeoutError):
            async with asyncio.timeout(None) as deadline:
                waiting = Deadline(deadline)
                self.watch.pause(waiting)
                try:
                    await asyncio.sleep(delay)
                finally:
                    self.watch.end(waiting)

    # ------------------------------------------------------------------------- plain calls

    async def get_json(self, path: str) -> Any:
        """One GET without retries (for preflight checks)."""
        async with self._attempt() as attempt:
            try:
                async with self.session.get(self.config.url(path), timeout=self._timeout()) as resp:
                    self._heard(attempt, streaming=False)
                    await _raise_for_status(resp)
                    return await resp.json(content_type=None)
            except HTTPFailure:
                raise
            except Exception as err:
                raise _as_failure(err) from None

    async def post_json(self, path: str, payload: dict[str, Any]) -> tuple[Any, int]:
        """POST with retries; returns the decoded body and how many attempts it took."""

        async def once() -> Any:
            async with self._attempt() as attempt:
                try:
                    async with self.session.post(self.config.url(path), json=payload, timeout=self._timeout()) as resp:
                        self._heard(attempt, streaming=False)
                        await _raise_for_status(resp)
                        return await resp.json(content_type=None)
                except HTTPFailure:
                    raise
                except json.JSONDecodeError as err:
                    raise HTTPFailure("malformed", f"response is not JSON: {err}") from None
                except Exception as err:
                    raise _as_failure(err) from None

        return await self.with_retries(once)

    # ----------------------------------------------------------------------- streamed calls

    async def stream(self, path: str, payload: dict[str, Any]) -> StreamTrace:
        """Streamed POST with retries; a failed stream is retried whole and only the attempt
        that succeeded is measured. A request that fails for good has ``error`` set."""
        attempts = 0

        async def once() -> StreamTrace:
            nonlocal attempts
            attempts += 1
            return await self.stream_once(path, payload)

        try:
            trace, _ = await self.with_retries(once)
        except HTTPFailure as failure:
            return StreamTrace(error=request_error(failure, attempts), done_at=time.perf_counter())
        trace.attempts = attempts
        return trace

    async def stream_once(self, path: str, payload: dict[str, Any]) -> StreamTrace:
        """One streamed attempt; raises ``HTTPFailure``."""
        trace = StreamTrace()
        chat = path.rstrip("/").endswith("chat/completions")
        parser = _SSEParser(trace, chat=chat)
        async with self._attempt() as attempt:
            trace.sent_at = time.perf_counter()
            try:
                async with self.session.post(self.config.url(path), json=payload, timeout=self._timeout()) as resp:
                    self._heard(attempt, streaming=False)
                    await _raise_for_status(resp)
                    while chunk := await resp.content.readany():
                        now = time.perf_counter()
                        if trace.first_byte_at is None:
                            trace.first_byte_at = now
                        self._heard(attempt, streaming=True)
                        parser.feed(chunk, now)
                        trace.client_s += time.perf_counter() - now
                        if parser.done:
                            break
            except HTTPFailure:
                raise
            except Exception as err:
                raise _as_failure(err) from None
        trace.done_at = time.perf_counter()
        if not parser.done and not trace.token_times:
            raise HTTPFailure("malformed", "stream ended without data")
        return trace

    async def with_retries(self, call: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """Run ``call`` until it succeeds, a non-retryable failure, or the retry budget is spent."""
        attempt = 0
        watch = self.watch
        while True:
            try:
                result = await call()
            except HTTPFailure as failure:
                if watch is not None and failure.kind == "timeout":
                    watch.timed_out()
                if watch is not None and watch.gave_up:  # nothing more is sent to this server
                    if failure.kind == "timeout" and watch.gave_up not in failure.message:
                        failure = HTTPFailure("timeout", f"{failure.message}; {watch.gave_up}", failure.status)
                    raise failure from None
                if not self.retries or failure.kind not in RETRYABLE or attempt >= self.config.max_retries:
                    raise
                delay = backoff_delay(
                    attempt,
                    base_s=self.config.backoff_base_s,
                    cap_s=self.config.backoff_max_s,
                    retry_after_s=failure.retry_after_s,
                    rng=self._rng,
                )
                attempt += 1
                await self._pause(delay)
            else:
                if watch is not None:
                    watch.succeeded()
                return result, attempt + 1


class _SSEParser:
    """Incremental server-sent-events parser that timestamps token-carrying events."""

    def __init__(self, trace: StreamTrace, *, chat: bool) -> None:
        self.trace = trace
        self.chat = chat
        self.buffer = b""
        self.done = False
        self._parts: list[str] = []

    def feed(self, chunk: bytes, now: float) -> None:
        self.buffer = (self.buffer + chunk).replace(b"\r\n", b"\n")
        while not self.done:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                return
            event, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip(), now)

    def _data(self, data: bytes, now: float) -> None:
        if data == b"[DONE]":
            self.done = True
            self.trace.text = "".join(self._parts)
            return
        try:
            payload = json.loads(data)
        except json.JSONDecodeError:
            raise HTTPFailure("malformed", f"malformed SSE chunk: {data[:80]!r}") from None
        if not isinstance(payload, dict):
            raise HTTPFailure("malformed", f"malformed SSE chunk: {data[:80]!r}")
        if "error" in payload:
            error = payload["error"]
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            raise HTTPFailure("server_error", f"error in stream: {message}")
        if payload.get("usage"):
            self.trace.usage = payload["usage"]
        if isinstance(payload.get("timings"), dict):
            self.trace.server_timings = payload["timings"]
        for choice in payload.get("choices") or ():
            if self.chat:
                delta = choice.get("delta") or {}
                text = delta.get("content") or ""
                has_token = bool(text or delta.get("reasoning_content"))
            else:
                text = choice.get("text") or ""
                has_token = bool(text)
            if has_token:
                self.trace.token_times.append(now)
                self._parts.append(text)
            if choice.get("finish_reason"):
                self.trace.finish_reason = choice["finish_reason"]


async def _raise_for_status(resp: aiohttp.ClientResponse) -> None:
    if resp.status < 400:
        return
    body = await resp.text()
    message = body[:300]
    try:
        parsed = json.loads(body)
        error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
        if isinstance(error, dict) and "message" in error:
            message = str(error["message"])
        elif isinstance(error, str):
            message = error
    except json.JSONDecodeError:
        pass
    raise HTTPFailure(
        classify_status(resp.status),
        f"HTTP {resp.status} {resp.reason}: {message}".strip(),
        status=resp.status,
        retry_after_s=parse_retry_after(resp.headers.get("Retry-After")),
    )


def _as_failure(err: BaseException) -> HTTPFailure:
    if isinstance(err, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return HTTPFailure("timeout", f"timed out ({type(err).__name__})")
    if isinstance(err, aiohttp.ClientConnectorError):
        return HTTPFailure("connection", f"cannot connect: {err.os_error or err}")
    if isinstance(err, aiohttp.ClientError | OSError):
        return HTTPFailure("connection", f"{type(err).__name__}: {err}")
    return HTTPFailure("malformed", f"{type(err).__name__}: {err}")


def request_error(failure: HTTPFailure, attempts: int) -> RequestError:
    """The stored form of a failure that was final."""
    return RequestError(kind=failure.kind, message=failure.message, status=failure.status, attempts=attempts)
