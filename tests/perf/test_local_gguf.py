"""``agimeter perf`` on an in-process backend (gguf:): same meter, one request at a time."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]
pytestmark = pytest.mark.slow


def test_perf_in_process_gguf(agimeter: Cli, tiny_gguf: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    res = agimeter(
        "perf", "--model", f"gguf:{tiny_gguf}", "-c", "1,3", "-n", "6", "--input-tokens", "20",
        "--output-tokens", "12", "--tokenizer", str(tiny_model_dir), "--store", f"sqlite:///{tmp_path / 's.db'}",
        "--format", "json",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    one, three = payload["points"]
    for point in (one, three):
        assert point["succeeded"] == 6 and point["errors"] == {}
        # ignore_eos: exactly the asked output length, counted by the backend itself.
        assert point["output_tokens"] == 6 * 12 and not point["output_tokens_counted_client_side"]
        assert point["input_tokens"] == 6 * 20
        assert point["itl"]["n"] == 6 * 11
    # One request at a time: three clients wait in line behind whole generations (12 tokens
    # each), so TTFT grows several-fold. (Throughput is not compared: on a busy machine the
    # two points' wall times are too noisy for a unit test.)
    assert three["ttft"]["p50"] > 1.5 * one["ttft"]["p50"]
