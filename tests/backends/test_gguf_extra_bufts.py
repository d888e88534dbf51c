"""gguf: llama.cpp's extra CPU buffer types (AMX, repacking) are off by default where the CPU reports
AMX (its kernels crash with a general protection fault on VMs that advertise AMX but cannot run it)
and on elsewhere; an explicit option wins either way."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("option", "expected"), [({}, None), ({"extra_bufts": "true"}, True), ({"extra_bufts": "false"}, False)]
)
def test_extra_buffer_types_are_off_by_default_where_amx_is(
    tiny_gguf: Path, option: dict[str, str], expected: bool | None
) -> None:
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'agimeter[gguf]')")
    from agimeter.backends.gguf import cpu_has_amx, create

    if expected is None:  # the default follows the CPU
        expected = not cpu_has_amx()

    defaults = llama_cpp.llama_cpp.llama_model_default_params
    backend = create(str(tiny_gguf), n_threads="1", **option)
    try:
        assert backend._llm.model_params.use_extra_bufts is expected
        assert backend.info.extra["extra_bufts"] == ("on" if expected else "off")
        assert backend.generate([]) == []
    finally:
        backend.close()
    assert llama_cpp.llama_cpp.llama_model_default_params is defaults  # restored after the load
    assert llama_cpp.llama_model_default_params().use_extra_bufts is True  # llama.cpp's own default
