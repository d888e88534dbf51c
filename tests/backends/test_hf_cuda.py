"""GPU paths of the hf backend: CUDA device, bf16 weights, CUDA peak-memory accounting.

This machine class has no GPU; these run where ``torch.cuda.is_available()``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agimeter.backends.base import GenRequest, LoglikRequest
from agimeter.backends.hardware import cuda_max_allocated_bytes, detect_hardware
from agimeter.backends.hf import HFBackend

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)"),
]

REQUESTS = [
    LoglikRequest(context="The cat sat on the", continuation=" mat"),
    LoglikRequest(context="The cat sat on the", continuation=" roof of the house"),
    LoglikRequest(context="Question: 2 + 2 =\nAnswer:", continuation=" 4"),
]


def test_bf16_on_cuda_agrees_with_fp32_on_cpu(tiny_model_dir: Path) -> None:
    cpu = HFBackend.load(str(tiny_model_dir), dtype="float32", device="cpu")
    gpu = HFBackend.load(str(tiny_model_dir), dtype="bfloat16", device="cuda")
    assert gpu.info.device.startswith("cuda") and gpu.info.dtype == "bfloat16"
    reference = cpu.loglikelihood(REQUESTS)
    measured = gpu.loglikelihood(REQUESTS)
    for ref, got in zip(reference, measured, strict=True):
        # bf16 keeps ~3 significant digits: compare loosely, per token.
        assert abs(ref.logprob - got.logprob) <= 0.05 * max(1, got.num_tokens) * max(1.0, abs(ref.logprob)) ** 0.5
    texts = gpu.generate([GenRequest(prompt="Once upon a time", max_tokens=8)] * 2)
    assert texts[0].text == texts[1].text and texts[0].usage.completion_tokens > 0


def test_cuda_memory_and_hardware_are_reported(tiny_model_dir: Path) -> None:
    backend = HFBackend.load(str(tiny_model_dir), dtype="float32", device="cuda")
    backend.loglikelihood(REQUESTS)
    peak = cuda_max_allocated_bytes()
    assert peak is not None and peak > 0
    assert detect_hardware().gpu is not None
