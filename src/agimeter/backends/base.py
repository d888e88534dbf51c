"""The seam between tasks and models: request/response records and the Backend protocol.

A backend receives fully rendered strings (prompt building, few-shot and chat templating
happen upstream) and returns one result per request, each with ``Usage`` and ``Timing``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, get_args, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

# The weight/compute dtypes a run may ask for: one set for every backend (``--dtype``). Backends
# whose weights fix the type (GGUF, remote servers) accept them and report what they really use.
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
DTYPES: tuple[str, ...] = get_args(Dtype)


class Record(BaseModel):
    """Base for all records: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Usage(Record):
    """Tokens a request consumed. ``prompt_tokens`` counts the whole prompt as the model sees it
    (context + continuation for log-likelihood); ``computed_prompt_tokens`` is the share the
    backend actually ran through the model after prefix/context sharing (<= prompt_tokens)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    computed_prompt_tokens: int | None = None
    estimated: bool = False


class Timing(Record):
    """Seconds attributed to one request. Batched backends split a batch's time across its
    requests in proportion to their tokens; the sum over requests equals the wall time spent."""

    total_s: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    first_token_s: float | None = None


# ``worker_lost``: the request's work unit killed the worker process that ran it, every time it was
# tried (``runner.executors``); the item is left for a re-run like any other failed request.
ErrorKind = Literal[
    "connection",
    "timeout",
    "rate_limit",
    "server_error",
    "auth",
    "not_found",
    "bad_request",
    "malformed",
    "worker_lost",
]


class RequestError(Record):
    """Why one request failed after its retries. A failed request carries no usage: nothing it
    consumed is counted, and its item is not stored, so a re-run retries it."""

    kind: ErrorKind
    message: str
    status: int | None = None
    attempts: int = 1


class LoglikRequest(Record):
    """Score ``continuation`` after ``context`` (continuation usually starts with a space)."""

    context: str
    continuation: str


class LoglikResult(Record):
    logprob: float
    is_greedy: bool
    num_tokens: int
    usage: Usage
    timing: Timing
    error: RequestError | None = None


class GenRequest(Record):
    """Generation until a stop sequence or ``max_tokens`` new tokens: greedy at temperature 0,
    else sampled (``top_p`` nucleus, ``seed`` for reproducible draws where the backend allows)."""

    prompt: str
    stop: tuple[str, ...] = ()
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    # The same prompt as chat messages ((role, content) pairs), for backends that send messages
    # (a chat API) rather than rendered text; ``prompt`` stays the rendered form.
    messages: tuple[tuple[str, str], ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


class GenResult(Record):
    text: str
    finish_reason: Literal["stop", "length"] = "stop"
    usage: Usage
    timing: Timing
    error: RequestError | None = None


class ModelInfo(Record):
    """Identity of a loaded model. ``identity`` is a content hash (config + weight files, or hub
    revision) used in cache keys; never just the name."""

    backend: str
    name: str
    identity: str
    revision: str | None = None
    num_parameters: int | None = None
    dtype: str | None = None
    device: str | None = None
    has_chat_template: bool = False
    max_length: int | None = None
    extra: dict[str, str] = Field(default_factory=dict)


LoglikCallback = Callable[[int, LoglikResult], None]
GenCallback = Callable[[int, GenResult], None]


@runtime_checkable
class Backend(Protocol):
    """What every backend implements. Callbacks fire as each result is ready (index into the
    request list), so the runner can commit items as soon as they are computed."""

    info: ModelInfo

    def loglikelihood(
        self, requests: Sequence[LoglikRequest], on_result: LoglikCallback | None = None
    ) -> list[LoglikResult]: ...

    def generate(self, requests: Sequence[GenRequest], on_result: GenCallback | None = None) -> list[GenResult]: ...

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        """Render messages with the model's chat template; None when it has none."""
        ...

    def close(self) -> None: ...
