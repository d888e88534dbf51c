"""``agimeter catalog import|list|compare`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from agimeter.testing.catalog import MINI_CATALOG, write_catalog


def test_import_list_and_bad_file(tmp_path: Path, agimeter) -> None:  # type: ignore[no-untyped-def]
    store = f"sqlite:///{tmp_path}/s.db"
    path = write_catalog(tmp_path, MINI_CATALOG)
    first = agimeter("catalog", "import", str(path), "--store", store)
    assert first.returncode == 0, first.stderr
    assert "imported catalog 'published'" in first.stdout and "2 models, 1 published scores" in first.stdout
    again = agimeter("catalog", "import", str(path), "--store", store)
    assert "already up to date" in again.stdout
    listed = agimeter("catalog", "list", "--store", store, "--format", "json")
    payload = json.loads(listed.stdout)
    assert [m["id"] for m in payload["models"]] == ["org/A-1B", "org/B-7B"]
    assert payload["imports"][0]["sha256"]

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**MINI_CATALOG, "prices": [{"provider": "P"}]}))
    failed = agimeter("catalog", "import", str(bad), "--store", store)
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and "bad.json: prices.0." in failed.stderr
    still = json.loads(agimeter("catalog", "list", "--store", store, "--format", "json").stdout)
    assert len(still["models"]) == 2  # the failed import changed nothing


def test_list_without_import_says_how(tmp_path: Path, agimeter) -> None:  # type: ignore[no-untyped-def]
    result = agimeter("catalog", "list", "--store", f"sqlite:///{tmp_path}/s.db")
    assert result.returncode == 2 and "agimeter catalog import" in result.stderr
