"""What ``agimeter perf`` sends its requests to: an HTTP server (``openai:``) or a backend that
streams in process (``backends.capabilities.Streams``: gguf)."""

from __future__ import annotations

from typing import Any

from agimeter.backends.base import Backend
from agimeter.backends.capabilities import Streams
from agimeter.backends.stream import StreamTrace
from agimeter.errors import ConfigError
from agimeter.perf.loadgen import HTTPTarget, LocalTarget, StreamTarget
from agimeter.records.options import PerfOptions


def make_target(backend: Backend, options: PerfOptions) -> StreamTarget:
    """The streaming target for a backend: an HTTP server (openai:) or an in-process backend that
    generates token by token (gguf:)."""
    from agimeter.backends.openai_compat import OpenAIBackend

    if isinstance(backend, OpenAIBackend):

        def build(prompt: str, max_tokens: int) -> tuple[str, dict[str, Any]]:
            return backend.stream_payload(prompt, max_tokens, ignore_eos=options.ignore_eos)

        return HTTPTarget(backend.endpoint, build)
    if isinstance(backend, Streams):
        streams = backend

        def generate(prompt: str, max_tokens: int) -> StreamTrace:
            return streams.stream_trace(prompt, max_tokens, ignore_eos=options.ignore_eos)

        return LocalTarget(generate)
    raise ConfigError(
        f"agimeter perf needs a backend that streams (openai:, gguf:), not {backend.info.backend}:; "
        "serve the model with vLLM or llama.cpp and point openai: at it"
    )
