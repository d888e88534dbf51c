"""A deterministic fake backend for unit tests: no model, instant, reproducible.

Log-likelihoods come from a hash of (context, continuation), so they are stable across runs and
independent of batching. Generation returns a scripted answer: the first ``responses`` entry whose
key occurs in the prompt, else ``default``; an entry may be a list of answers, of which a sampled
request (temperature > 0) gets number ``seed % len`` and a greedy one the first. ``delay_s`` slows
each request down so that tests can interrupt a run part-way. A scripted answer ``!error:KIND``
(e.g. ``!error:timeout``) is returned as a failed request of that kind: a scripted judge's outage.
A scripted answer ``!crash`` kills the process computing it with SIGKILL: a Ray worker that dies on
one item (the scale-out fault tests; never script it for a backend in the test process itself).

From the command line (``fake:NAME``, e.g. as ``--judge``): ``--model-arg responses_file=PATH`` reads
the script from a JSON object ``{"prompt substring": "answer" or ["answers"]}``, and ``default=``
replaces the default answer, and ``calls_file=PATH`` appends a line per generation request (how
many times a process asked it: the kill-and-resume tests count them).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from agimeter.backends.base import (
    ErrorKind,
    GenCallback,
    GenRequest,
    GenResult,
    LoglikCallback,
    LoglikRequest,
    LoglikResult,
    RequestError,
    Timing,
    Usage,
)
from agimeter.errors import ConfigError
from agimeter.records.model import ModelInfo

ERROR_PREFIX = "!error:"
CRASH = "!crash"


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _hash_unit(*parts: str) -> float:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FakeBackend:
    """Implements the Backend protocol without a model."""

    def __init__(
        self,
        name: str = "fake",
        *,
        responses: Mapping[str, str | Sequence[str]] | None = None,
        default: str = "The answer is 42.",
        delay_s: float = 0.0,
        chat_template: bool = False,
    ) -> None:
        self.responses = dict(responses or {})
        self.default = default
        self.delay_s = delay_s
        self._chat = chat_template
        identity = hashlib.sha256(f"fake:{name}:{sorted(self.responses.items())}:{default}".encode())
        self.info = ModelInfo(
            backend="fake",
            name=name,
            identity=identity.hexdigest(),
            num_parameters=0,
            dtype="none",
            device="cpu",
            has_chat_template=chat_template,
            max_length=4096,
        )
        self.calls = 0
        self.requests: list[GenRequest] = []  # every generation request, in order (tests read them)
        self.calls_file: Path | None = None  # when set, one line per generation request is appended

    def loglikelihood(
        self, requests: Sequence[LoglikRequest], on_result: LoglikCallback | None = None
    ) -> list[LoglikResult]:
        results: list[LoglikResult] = []
        for index, req in enumerate(requests):
            start = time.perf_counter()
            if self.delay_s:
                time.sleep(self.delay_s)
            self.calls += 1
            n_cont = _tokens(req.continuation)
            logprob = -n_cont * (0.5 + 4.0 * _hash_unit(req.context, req.continuation))
            elapsed = time.perf_counter() - start
            result = LoglikResult(
                logprob=logprob,
                is_greedy=_hash_unit("greedy", req.context, req.continuation) < 0.25,
                num_tokens=n_cont,
                usage=Usage(prompt_tokens=_tokens(req.context) + n_cont, completion_tokens=0),
                timing=Timing(total_s=elapsed, prefill_s=elapsed),
            )
            results.append(result)
            if on_result is not None:
                on_result(index, result)
        return results

    def generate(self, requests: Sequence[GenRequest], on_result: GenCallback | None = None) -> list[GenResult]:
        results: list[GenResult] = []
        for index, req in enumerate(requests):
            start = time.perf_counter()
            if self.delay_s:
                time.sleep(self.delay_s)
            self.calls += 1
            self.requests.append(req)
            if self.calls_file is not None:
                with self.calls_file.open("a", encoding="utf-8") as log:
                    log.write(hashlib.sha256(req.model_dump_json().encode()).hexdigest() + "\n")
            scripted = next((out for key, out in self.responses.items() if key in req.prompt), self.default)
            if isinstance(scripted, str):
                text = scripted
            else:
                text = scripted[0 if req.greedy else (req.seed or 0) % len(scripted)]
            if text == CRASH:
                os.kill(os.getpid(), signal.SIGKILL)
            if text.startswith(ERROR_PREFIX):
                kind = cast(ErrorKind, text.removeprefix(ERROR_PREFIX))
                failed = RequestError(kind=kind, message=f"scripted {kind}")
                result = GenResult(text="", usage=Usage(), timing=Timing(), error=failed)
                results.append(result)
                if on_result is not None:
                    on_result(index, result)
                continue
            finish: str = "length"
            for stop in req.stop:
                cut = text.find(stop)
                if cut >= 0:
                    text, finish = text[:cut], "stop"
            words = text.split()
            if len(words) > req.max_tokens:
                words = words[: req.max_tokens]
                text, finish = " ".join(words), "length"
            elapsed = time.perf_counter() - start
            result = GenResult(
                text=text,
                finish_reason="stop" if finish == "stop" else "length",
                usage=Usage(prompt_tokens=_tokens(req.prompt), completion_tokens=len(words)),
                timing=Timing(total_s=elapsed, decode_s=elapsed, first_token_s=elapsed),
            )
            results.append(result)
            if on_result is not None:
                on_result(index, result)
        return results

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        if not self._chat:
            return None
        body = "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages)
        return body + "<|assistant|>"

    def close(self) -> None:
        return None


def create(spec: str, **options: object) -> FakeBackend:
    """``fake:<name>``; options ``delay_s``, ``chat_template``, ``responses_file`` and ``default`` are
    honoured, others ignored."""
    delay = options.get("delay_s", 0.0)
    chat = options.get("chat_template", False)
    scripted: dict[str, str | list[str]] = {}
    if options.get("responses_file"):
        path = Path(str(options["responses_file"]))
        try:
            scripted = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"fake:{spec}: responses_file {path}: {err}") from None
    extra = {"default": str(options["default"])} if "default" in options else {}
    backend = FakeBackend(
        spec or "fake",
        responses=scripted,
        delay_s=float(delay) if isinstance(delay, int | float | str) else 0.0,
        chat_template=str(chat).lower() not in ("", "0", "false", "no"),
        **extra,
    )
    if options.get("calls_file"):
        backend.calls_file = Path(str(options["calls_file"]))
    return backend
