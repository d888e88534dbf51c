"""Test helpers: locally built random-weight models (no network needed)."""

from agimeter.testing.models import build_qwen25_05b_shaped, build_tiny_qwen2, build_tokenizer

__all__ = ["build_qwen25_05b_shaped", "build_tiny_qwen2", "build_tokenizer"]
