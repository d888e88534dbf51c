"""Backends are chosen by the prefix of the model spec (``hf:``, ``fake:``), never by isinstance.

Factories are imported lazily so that the CLI does not pay for torch when it does not need it.
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from agimeter.backends.base import DTYPES, Backend
from agimeter.errors import ConfigError, ModelError


class BackendFactory(Protocol):
    def __call__(self, spec: str, **options: object) -> Backend: ...


_FACTORIES: dict[str, str] = {
    "hf": "agimeter.backends.hf_alias:create",
    "fake": "agimeter.backends.fake:create",
    "gguf": "agimeter.backends.gguf:create",
    "openai": "agimeter.backends.openai_compat:create",
}


def register(prefix: str, factory_path: str) -> None:
    """Register ``prefix`` → ``"module:function"`` (a factory taking ``(spec, **options)``)."""
    _FACTORIES[prefix] = factory_path


def backend_prefixes() -> list[str]:
    return sorted(_FACTORIES)


def split_model_spec(model: str) -> tuple[str, str]:
    prefix, sep, rest = model.partition(":")
    if not sep or prefix not in _FACTORIES:
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
    module_name, _, func_name = _FACTORIES[prefix].partition(":")
    module = importlib.import_module(module_name)
    factory = cast(BackendFactory, getattr(module, func_name))
    return factory(rest, **options)
