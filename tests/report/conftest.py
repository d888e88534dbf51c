"""A store with one measured evaluation run, one perf run and the imported published catalog."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agimeter.store.published import load_catalog
from agimeter.store.repository import Store
from agimeter.testing.stub_server import start_process

MEASURED_MODEL = "fake:Qwen/Qwen2.5-0.5B"  # the catalog's Qwen2.5-0.5B: a published counterpart

# A toy ARC-Challenge: agimeter's arc_challenge task maps to the published benchmark of that name.
TOY_ARC = """\
name: arc_challenge
version: "toy-1"
dimension: reasoning
counts_toward_dimension: true
output_type: multiple_choice
source: {kind: file, path: toy/toy.jsonl, format: jsonl}
fewshot: {num_fewshot: 2}
prompt:
  doc_to_text: "Question: {{question}}\\nAnswer:"
  doc_to_target: gold
  doc_to_choice: choices
metrics: [acc, acc_norm]
"""

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cli(agimeter: Cli) -> Cli:
    return agimeter


@pytest.fixture(scope="module")
def catalog(published_catalog: Path) -> Path:
    return published_catalog


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    proc, url = start_process("--first-ms", "5", "--itl-ms", "1")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture(scope="module")
def report_store(
    catalog: Path, tmp_path_factory: pytest.TempPathFactory, toy_dir: Path, stub_url: str, cli: Cli
) -> str:
    """SQLite URL of a store with an eval run, a perf run and the catalog imported."""
    url = f"sqlite:///{tmp_path_factory.mktemp('report-store') / 'store.db'}"
    res = cli(
        "run", "--model", MEASURED_MODEL, "--tasks", f"{toy_dir / 'arc.yaml'}", "--data-dir", str(toy_dir / "data"),
        "--price-per-hour", "1.5", "--store", url,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = cli(
        "perf", "--model", f"openai:stub-model@{stub_url}", "-c", "1,2", "-n", "12", "--output-tokens", "4",
        "--input-tokens", "16", "--price-per-hour", "2", "--store", url,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    store = Store.open(url)
    parsed, sha = load_catalog(catalog)
    store.import_catalog(parsed, sha, catalog, "published")
    store.close()
    return url


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import json

    root = tmp_path_factory.mktemp("toy")
    data = root / "data" / "toy"
    data.mkdir(parents=True)
    rows = [
        {"question": f"What is {i} + 1?", "choices": [str(i), str(i + 1), str(i + 2), str(i - 1)], "gold": 1}
        for i in range(30)
    ]
    (data / "toy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "arc.yaml").write_text(TOY_ARC)
    return root
