"""Backends are chosen by the prefix of the model spec (``hf:``, ``fake:``), never by isinstance.

Built-in factories are registered by reference and imported on first use, so that the CLI does not
pay for torch when it does not need it. A plugin package registers its own prefix with
``@backend("mine")`` (or ``BACKENDS.add_lazy("mine", "pkg.heavy:create")``) in a module named by an
``agimeter.backends`` entry point; see ``agimeter.registry``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from agimeter.backends.base import DTYPES, Backend
from agimeter.errors import ConfigError, ModelError
from agimeter.registry import Registry


class BackendFactory(Protocol):
    def __call__(self, spec: str, /, **options: object) -> Backend: ...


F = TypeVar("F", bound=BackendFactory)

BACKENDS: Registry[BackendFactory] = Registry("backend", group="agimeter.backends", error=ModelError)

BACKENDS.add_lazy("hf", "agimeter.backends.hf_alias:create")
BACKENDS.add_lazy("fake", "agimeter.backends.fake:create")
BACKENDS.add_lazy("gguf", "agimeter.backends.gguf:create")
BACKENDS.add_lazy("openai", "agimeter.backends.openai_compat:create")


def backend(prefix: str) -> Callable[[F], F]:
    """``@backend("mine")`` on a factory ``(spec, **options) -> Backend``: ``mine:...`` model specs use it."""

    def register(factory: F) -> F:
        BACKENDS.add(prefix, factory)
        return factory

    return register


def backend_prefixes() -> list[str]:
    return BACKENDS.names()


def split_model_spec(model: str) -> tuple[str, str]:
    prefix, sep, rest = model.partition(":")
    if not sep or prefix not in BACKENDS:
        known = ", ".join(f"{p}:" for p in backend_prefixes())
        raise ModelError(f"unknown model spec {model!r}: expected one of {known} followed by a model")
    if not rest:
        raise ModelError(f"model spec {model!r} names no model after {prefix!r}")
    return prefix, rest


def create_backend(model: str, **options: object) -> Backend:
    """Create the backend for ``model`` (e.g. ``hf:Qwen/Qwen2.5-0.5B``); ``dtype`` is checked here,
    the same for every backend, whether it uses it or not."""
    prefix, rest = split_model_spec(model)
    dtype = options.get("dtype", "auto")
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    return BACKENDS.get(prefix)(rest, **options)
