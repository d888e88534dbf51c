"""Fixtures shared by the backend tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2 of ``tiny_model_dir`` as an all-F32 GGUF file (built once, <1 s)."""
    from agimeter.testing.gguf_model import build_tiny_gguf

    return build_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("tiny-gguf") / "tiny-qwen2.gguf")
