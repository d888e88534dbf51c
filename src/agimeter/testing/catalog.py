"""A minimal published-numbers catalog for tests (two models, one price, one law, one source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MINI_CATALOG: dict[str, Any] = {
    "schema_version": 1,
    "models": [
        {
            "id": "org/A-1B",
            "family": "A",
            "variant": "base",
            "released": "2024-01-10",
            "params_total_b": 1.0,
            "source": "S1",
            "scores": [
                {"benchmark": "mmlu", "value": 40.0, "shots": 5, "metric": "acc", "setting": "x", "source": "S1"}
            ],
        },
        {"id": "org/B-7B", "family": "B", "released_approx": "2023-07", "params_total_b": 7.0, "source": "S1"},
    ],
    "prices": [
        {"provider": "P", "model": "m", "date": "2024-05-01", "currency": "USD", "input_per_mtok": 1.0,
         "output_per_mtok": 2.0, "source": "S1"},
    ],
    "laws": [{"name": "law", "doubling_months": 3.3, "source": "S1"}],
    "sources": {"S1": {"title": "A report", "url": "https://example.org/r", "date": "2024-01-10"}},
}  # fmt: skip


def _write(tmp_path: Path, data: object, name: str = "c.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def write_catalog(tmp_path: Path, data: object, name: str = "c.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path
