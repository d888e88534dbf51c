"""What is measured about one streamed generation, by any backend that streams (HTTP or in-process).

All times are ``time.perf_counter()`` readings (the monotonic clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agimeter.backends.base import RequestError


@dataclass
class StreamTrace:
    """Everything measured about one streamed request (the successful attempt only)."""

    sent_at: float = 0.0
    first_byte_at: float | None = None
    token_times: list[float] = field(default_factory=list)
    done_at: float = 0.0
    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    server_timings: dict[str, Any] | None = None
    client_s: float = 0.0  # time spent in this client parsing the stream
    attempts: int = 1
    error: RequestError | None = None

    @property
    def ttft_s(self) -> float | None:
        return self.token_times[0] - self.sent_at if self.token_times else None

    @property
    def e2e_s(self) -> float:
        return self.done_at - self.sent_at
