"""gguf: keeps llama.cpp's extra CPU buffer types (AMX, repacking) off unless asked: their AMX
kernels crash with a general protection fault on VMs that advertise AMX but cannot run it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("option", "expected"), [({}, False), ({"extra_bufts": "true"}, True)])
def test_extra_buffer_types_are_off_by_default(tiny_gguf: Path, option: dict[str, str], expected: bool) -> None:
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'agimeter[gguf]')")
    from agimeter.backends.gguf import create

    defaults = llama_cpp.llama_cpp.llama_model_default_params
    backend = create(str(tiny_gguf), n_threads="1", **option)
    try:
        assert backend._llm.model_params.use_extra_bufts is expected
        assert backend.generate([]) == []
    finally:
        backend.close()
    assert llama_cpp.llama_cpp.llama_model_default_params is defaults  # restored after the load
    assert llama_cpp.llama_model_default_params().use_extra_bufts is True  # llama.cpp's own default
