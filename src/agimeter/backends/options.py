"""The options the runner hands every backend (``--dtype``, ``--device``, ``--batch-size``), parsed
and checked once, the same for every backend (``registry.create_backend``); each backend's own
options subclass ``BackendOptions`` and add theirs (``HFOptions``, ``GGUFOptions``,
``OpenAIOptions``), narrowing a shared one where the stack allows less (gguf: CPU only)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agimeter.backends.base import DTYPES, Dtype
from agimeter.errors import ConfigError, first_problem


class BackendOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Backends whose weights fix the type (GGUF, remote servers) accept every dtype and report
    # what they really use; ``device`` is a torch device string or "auto".
    dtype: Dtype = "auto"
    device: str = "auto"
    batch_size: int | None = Field(default=None, ge=1)


SHARED_OPTIONS = frozenset(BackendOptions.model_fields)


def parse_shared(options: Mapping[str, object]) -> BackendOptions:
    """The shared options among ``options`` (a backend's own are left to it), checked: a bad value
    is a one-line ``ConfigError`` naming the command-line option."""
    dtype = options.get("dtype", "auto")
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    try:
        return BackendOptions.model_validate({k: v for k, v in options.items() if k in SHARED_OPTIONS})
    except ValidationError as err:
        where, message = first_problem(err)
        raise ConfigError(f"--{where.replace('_', '-')}: {message}") from None
