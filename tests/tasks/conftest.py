from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT = Path("/work/shared/benchmarks")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data dir (AGIMETER_DATA_DIR or the shared snapshot); skip when absent."""
    path = Path(os.environ.get("AGIMETER_DATA_DIR", _DEFAULT))
    if not (path / "MANIFEST.json").is_file():
        pytest.skip(f"benchmark data not found under {path}")
    return path
