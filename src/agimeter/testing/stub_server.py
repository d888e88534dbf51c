"""A fixed-delay OpenAI-compatible server for tests and the meter benchmark.

Timing is known exactly: the first token leaves ``first_ms`` after the request arrived and each
further token ``itl_ms`` after the previous one (scheduled on absolute times, so delays do not
drift). Faults are injected by markers in the prompt, so one server serves every fault test:

- ``<<500>>``        always HTTP 500
- ``<<429>>``        HTTP 429 with ``Retry-After`` on the first attempt of that prompt, then OK
- ``<<503-once>>``   HTTP 503 on the first attempt of that prompt, then OK
- ``<<stall>>``      two tokens, then silence with the connection held open
- ``--stall-after N`` every stream: N tokens (0: just the headers), then silence, as above
- ``--hang``         every completion request: no answer at all, not even headers
- ``<<malformed>>``  a chunk that is not JSON
- ``fail_rate``      a seeded fraction of all requests gets HTTP 500

``GET /stats[?reset=1]`` gives the median TTFT the stub itself produced (for load-test tools that
are compared with it), ``GET /health`` answers ok.

Generation returns the first ``responses`` value whose key occurs in the prompt, else
``default``, one whitespace-separated word per token; ``ignore_eos`` pads to ``max_tokens``.
``/v1/completions`` with ``echo`` + ``logprobs`` returns deterministic prompt log-probs (one
token per word). The final stream chunk carries server-side ``timings`` as llama.cpp's server
does, and ``usage`` when ``stream_options.include_usage`` is set (unless ``send_usage`` is off).

Run ``python -m agimeter.testing.stub_server --port 0``: it prints ``listening on PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_WORD = re.compile(r"\s*\S+|\s+$")


@dataclass
class StubConfig:
    models: tuple[str, ...] = ("stub-model",)
    first_ms: float = 20.0
    itl_ms: float = 5.0
    api_key: str | None = None
    fail_rate: float = 0.0
    seed: int = 0
    send_usage: bool = True
    echo_logprobs: bool = True
    responses: dict[str, str] = field(default_factory=dict)
    default: str = "The answer is 42."
    stall_after: int | None = None  # every stream goes silent after this many tokens
    hang: bool = False  # generation requests get no response at all


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def _logprob(prefix: str, token: str) -> float:
    digest = hashlib.sha256(f"{prefix}\x1f{token}".encode()).digest()
    return -0.1 - 5.0 * int.from_bytes(digest[:8], "big") / 2**64


class StubServer:
    def __init__(self, config: StubConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._seen: set[str] = set()
        self.requests = 0
        self.app = web.Application()
        self.server_ttft_s: list[float] = []  # first token write - request arrival, per stream
        self.app.router.add_get("/v1/models", self._models)
        self.app.router.add_get("/health", self._health)
        self.app.router.add_get("/stats", self._stats)
        self.app.router.add_post("/v1/completions", self._completions)
        self.app.router.add_post("/v1/chat/completions", self._chat)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        # "created" changes on every call, as vLLM's does: it must not enter a model's identity.
        now = time.time_ns()
        data = [{"id": m, "object": "model", "created": now, "owned_by": "stub"} for m in self.config.models]
        return web.json_response({"object": "list", "data": data})

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    async def _stats(self, request: web.Request) -> web.StreamResponse:
        """Server-side truth for a load test: the TTFT the stub itself produced (median, ms)."""
        values = sorted(self.server_ttft_s)
        payload = {
            "streams": len(values),
            "server_ttft_ms_p50": 1000 * values[len(values) // 2] if values else None,
            "first_ms": self.config.first_ms,
        }
        if request.query.get("reset"):
            self.server_ttft_s.clear()
        return web.json_response(payload)

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if self.config.api_key and request.headers.get("Authorization") != f"Bearer {self.config.api_key}":
            return _error(401, "invalid api key", "authentication_error")
        return None

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=False)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=True)

    async def _serve(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        arrived = time.perf_counter()
        self.requests += 1
        if (denied := self._check_auth(request)) is not None:
            return denied
        body: dict[str, Any] = await request.json()
        if body.get("model") not in self.config.models:
            return _error(404, f"The model `{body.get('model')}` does not exist", "not_found_error")
        prompt = _prompt_text(body, chat=chat)
        if self.config.hang:
            await asyncio.sleep(3600)
        if (fault := self._fault(prompt)) is not None:
            return fault
        max_tokens = int(body.get("max_tokens") or 16)
        if not chat and body.get("echo") and body.get("logprobs") is not None:
            if not self.config.echo_logprobs:
                return _error(400, "echo with logprobs is not supported", "invalid_request_error")
            return web.json_response(_echo_response(body, prompt))
        words = _tokens(next((v for k, v in self.config.responses.items() if k in prompt), self.config.default))
        if body.get("ignore_eos"):
            words = (words + [" tok"] * max_tokens)[:max_tokens]
        words, finish = _apply_stops(words[:max_tokens], body.get("stop"), max_tokens)
        n_prompt = len(_tokens(prompt))
        if not body.get("stream"):
            await asyncio.sleep((self.config.first_ms + self.config.itl_ms * max(len(words) - 1, 0)) / 1000)
            return web.json_response(_full_response(body, "".join(words), finish, n_prompt, len(words), chat=chat))
        stall = 2 if "<<stall>>" in prompt else self.config.stall_after
        return await self._stream(request, body, words, finish, n_prompt, arrived, chat=chat, stall=stall)

    def _fault(self, prompt: str) -> web.Response | None:
        if "<<500>>" in prompt:
            return _error(500, "injected failure", "server_error")
        for marker, status in (("<<429>>", 429), ("<<503-once>>", 503)):
            if marker in prompt and prompt not in self._seen:
                self._seen.add(prompt)
                response = _error(status, "injected transient failure", "rate_limit_error")
                if status == 429:
                    response.headers["Retry-After"] = "0.05"
                return response
        if self.config.fail_rate and self._rng.random() < self.config.fail_rate:
            return _error(500, "injected random failure", "server_error")
        return None

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        words: list[str],
        finish: str,
        n_prompt: int,
        arrived: float,
        *,
        chat: bool,
        stall: int | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        start = loop.time() - (time.perf_counter() - arrived)
        first_sent = arrived
        if stall == 0:
            await asyncio.sleep(3600)
        for k, word in enumerate(words):
            delay = start + (self.config.first_ms + k * self.config.itl_ms) / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if stall is not None and k == stall:
                await asyncio.sleep(3600)
            if k == 0:
                first_sent = time.perf_counter()
                self.server_ttft_s.append(first_sent - arrived)
            await response.write(_sse(_chunk(body, word, None, chat=chat)))
        if "<<malformed>>" in _prompt_text(body, chat=chat):
            await response.write(b"data: {not json\n\n")
        done = time.perf_counter()
        final = _chunk(body, "", finish, chat=chat)
        final["timings"] = {
            "prompt_n": n_prompt,
            "prompt_ms": (first_sent - arrived) * 1000,
            "predicted_n": len(words),
            "predicted_ms": (done - first_sent) * 1000,
            "predicted_per_token_ms": (done - first_sent) * 1000 / max(len(words) - 1, 1),
            # perf_counter is CLOCK_MONOTONIC, shared by all processes of the machine: a client on
            # the same machine can compare its own read time with this write time directly.
            "stub_first_token_monotonic": first_sent,
        }
        await response.write(_sse(final))
        if self.config.send_usage and (body.get("stream_options") or {}).get("include_usage"):
            usage = _chunk(body, "", None, chat=chat)
            usage["choices"] = []
            usage["usage"] = _usage(n_prompt, len(words))
            await response.write(_sse(usage))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _prompt_text(body: dict[str, Any], *, chat: bool) -> str:
    if chat:
        return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))


def _apply_stops(words: list[str], stop: Any, max_tokens: int) -> tuple[list[str], str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    text = ""
    for i, word in enumerate(words):
        for s in stops:
            cut = (text + word).find(s)
            if cut >= 0:
                tail = (text + word)[len(text) : cut]
                return [*words[:i], *([tail] if tail else [])], "stop"
        text += word
    return words, "length" if len(words) >= max_tokens else "stop"


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunk(body: dict[str, Any], text: str, finish: str | None, *, chat: bool) -> dict[str, Any]:
    if chat:
        choice: dict[str, Any] = {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
        return {"id": "stub", "object": "chat.completion.chunk", "model": body["model"], "choices": [choice]}
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    return {"id": "stub", "object": "text_completion", "model": body["model"], "choices": [choice]}


def _full_response(
    body: dict[str, Any], text: str, finish: str, n_prompt: int, n_out: int, *, chat: bool
) -> dict[str, Any]:
    if chat:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
        }
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    return {"id": "stub", "model": body["model"], "choices": [choice], "usage": _usage(n_prompt, n_out)}


def _echo_response(body: dict[str, Any], prompt: str) -> dict[str, Any]:
    """Prompt tokens with log-probs (the first has none, as real servers do) + one new token."""
    tokens = [*_tokens(prompt), " tok"]
    offsets: list[int] = []
    logprobs: list[float | None] = []
    tops: list[dict[str, float] | None] = []
    pos = 0
    for i, token in enumerate(tokens):
        offsets.append(pos)
        pos += len(token)
        lp = None if i == 0 else _logprob(prompt[: offsets[i]], token)
        logprobs.append(lp)
        # The scored token is the greedy one when its log-prob is high; else " other" beats it.
        if lp is None:
            tops.append(None)
        else:
            tops.append({token: lp} if lp > -1.35 else {" other": min(lp + 0.5, 0.0)})
    logprob_block = {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops, "text_offset": offsets}
    choice = {"index": 0, "text": prompt + " tok", "logprobs": logprob_block, "finish_reason": "length"}
    return {"id": "stub", "model": body["model"], "choices": [choice], "usage": _usage(len(tokens) - 1, 1)}


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


async def _serve_forever(server: StubServer, host: str, port: int) -> None:
    runner = web.AppRunner(server.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    print(f"listening on {port}", flush=True)
    await asyncio.Event().wait()


def start_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the stub in its own process (``args`` as on its command line); returns it and its
    base URL. The caller terminates it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agimeter.testing.stub_server", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"stub server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, f"http://127.0.0.1:{int(line.split()[-1])}/v1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--first-ms", type=float, default=20.0)
    parser.add_argument("--itl-ms", type=float, default=5.0)
    parser.add_argument("--model", action="append", default=None, help="served model name (repeatable)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-usage", action="store_true", help="never send a usage chunk (as llama-cpp-python)")
    parser.add_argument("--no-echo", action="store_true", help="refuse echo+logprobs (as chat-only APIs)")
    parser.add_argument("--responses", default="{}", help='JSON {"prompt substring": "answer"}')
    parser.add_argument("--stall-after", type=int, default=None, help="every stream: N tokens, then silence")
    parser.add_argument("--hang", action="store_true", help="never answer generation requests")
    args = parser.parse_args(argv)
    config = StubConfig(
        models=tuple(args.model or ["stub-model"]),
        first_ms=args.first_ms,
        itl_ms=args.itl_ms,
        api_key=args.api_key,
        fail_rate=args.fail_rate,
        seed=args.seed,
        send_usage=not args.no_usage,
        echo_logprobs=not args.no_echo,
        responses=json.loads(args.responses),
        stall_after=args.stall_after,
        hang=args.hang,
    )
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve_forever(StubServer(config), args.host, args.port))


if __name__ == "__main__":
    main()
