"""What only some backends can do, each declared as a small protocol that a backend implements by
having the method (``isinstance(backend, Streams)``), instead of probing it with ``getattr``.

- ``ChecksLoglikelihood``: can tell before a run whether it scores log-likelihoods at all (a
  server may return no prompt log-probs); the runner asks it when a task needs them.
- ``Streams``: generates one request token by token with per-token times, in process, for
  ``agimeter perf`` (HTTP servers are streamed by the load generator itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agimeter.backends.stream import StreamTrace


@runtime_checkable
class ChecksLoglikelihood(Protocol):
    def check_loglikelihood(self) -> None:
        """Raise ``ModelError`` (one line) unless log-likelihood requests can be served."""
        ...


@runtime_checkable
class Streams(Protocol):
    def stream_trace(
        self, prompt: str | Sequence[int], max_tokens: int, *, ignore_eos: bool = False, fresh: bool = False
    ) -> StreamTrace:
        """One greedy generation timed token by token."""
        ...
