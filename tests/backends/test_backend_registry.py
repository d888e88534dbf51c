"""Backend creation: the prefix picks the factory; options every backend shares are checked here."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agimeter.backends.base import DTYPES
from agimeter.backends.registry import backend_prefixes, create_backend
from agimeter.errors import ConfigError


@pytest.mark.parametrize("prefix", backend_prefixes())
def test_unknown_dtype_is_refused_for_every_backend_before_loading(prefix: str) -> None:
    # Nothing is loaded or contacted: the model names below do not exist.
    with pytest.raises(ConfigError) as err:
        create_backend(f"{prefix}:no-such-model@http://127.0.0.1:9/v1", dtype="float7")
    assert str(err.value) == "--dtype must be one of auto, float32, bfloat16, float16, not 'float7'"


def test_fake_accepts_every_listed_dtype() -> None:
    assert DTYPES == ("auto", "float32", "bfloat16", "float16")
    for dtype in DTYPES:
        assert create_backend("fake:m", dtype=dtype).info.backend == "fake"


def test_capabilities_are_declared_by_protocols_not_probed() -> None:
    """A backend has a capability when it has the protocol's method: the runner and perf ask
    ``isinstance``, and a backend without the method is simply not asked."""
    from agimeter.backends.capabilities import ChecksLoglikelihood, Streams
    from agimeter.backends.fake import FakeBackend
    from agimeter.backends.gguf import GGUFBackend
    from agimeter.backends.openai_compat import OpenAIBackend

    fake = FakeBackend("m")
    assert not isinstance(fake, ChecksLoglikelihood) and not isinstance(fake, Streams)
    assert issubclass(OpenAIBackend, ChecksLoglikelihood) and not issubclass(OpenAIBackend, Streams)
    assert issubclass(GGUFBackend, Streams) and not issubclass(GGUFBackend, ChecksLoglikelihood)


def test_the_shared_options_are_one_base_checked_once_for_every_backend() -> None:
    from agimeter.backends.gguf import GGUFOptions
    from agimeter.backends.hf import HFOptions
    from agimeter.backends.openai_compat import OpenAIOptions
    from agimeter.backends.options import SHARED_OPTIONS, BackendOptions

    assert {"dtype", "device", "batch_size"} == SHARED_OPTIONS
    for options in (HFOptions, GGUFOptions, OpenAIOptions):
        assert issubclass(options, BackendOptions) and set(options.model_fields) >= SHARED_OPTIONS
    # checked before any backend is built, the same way for all of them (the fake ignores them)
    with pytest.raises(ConfigError) as err:
        create_backend("fake:m", batch_size=0)
    assert str(err.value) == "--batch-size: Input should be greater than or equal to 1"
    assert GGUFOptions().device == "auto" and HFOptions().dtype == "float32"  # each stack's own defaults
    with pytest.raises(ValidationError):
        GGUFOptions(device="cuda")  # narrowed: this llama.cpp build computes on the CPU
