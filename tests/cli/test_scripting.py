"""Output for scripts: every listing command piped (no terminal, no COLUMNS) prints names in full,
``--format json`` on every command that prints a table parses and carries the table's fields,
``agimeter --version``, and unknown names are errors, not empty tables."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from agimeter.testing.catalog import MINI_CATALOG, write_catalog

MODEL_A = "fake:an-unusually-long-model-name-that-rich-would-cut-at-eighty-columns"
MODEL_B = "fake:another-long-model-name-so-that-the-comparison-table-is-wide-too"
TASK = "toy_arithmetic_task_with_a_long_descriptive_name"
PUBLISHED = "some-organisation/A-Published-Model-With-A-Very-Long-Name-1B"
PROVIDER = "A Cloud Provider With A Long Name (International)"

TOY = f"""\
name: {TASK}
version: "1"
dimension: math
output_type: multiple_choice
source: {{kind: file, path: toy/toy.jsonl, format: jsonl}}
prompt:
  doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
  doc_to_target: gold
  doc_to_choice: choices
metrics: [acc]
"""


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    """``agimeter ARGS`` as in ``agimeter ARGS | grep ...``: stdout a pipe, no terminal anywhere, no COLUMNS."""
    hermetic = ("COLUMNS", "LINES", "AGIMETER_DATA_DIR", "AGIMETER_CATALOG", "AGIMETER_STORE", "AGIMETER_CONFIG")
    env = {k: v for k, v in os.environ.items() if k not in hermetic}
    return subprocess.run(
        [sys.executable, "-m", "agimeter.cli.app", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**env, "NO_COLOR": "1"},
        timeout=120,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with two runs of long-named models on a long-named task, and a catalog with long names."""
    root = tmp_path_factory.mktemp("scripting")
    (root / "data" / "toy").mkdir(parents=True)
    rows = [{"question": f"{i} + 1?", "choices": [str(i), str(i + 1)], "gold": 1} for i in range(12)]
    (root / "data" / "toy" / "toy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "toy.yaml").write_text(TOY)
    store = f"sqlite:///{root / 'store.db'}"
    run_ids = []
    for model in (MODEL_A, MODEL_B):
        res = piped(
            "run", "--model", model, "--tasks", str(root / "toy.yaml"), "--data-dir", str(root / "data"),
            "--store", store, "--format", "json",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        run_ids.append(json.loads(res.stdout)["run"]["id"])
    catalog = copy.deepcopy(MINI_CATALOG)
    catalog["models"][0]["id"] = PUBLISHED
    catalog["prices"][0]["provider"] = PROVIDER
    path = write_catalog(root, catalog)
    res = piped("catalog", "import", str(path), "--store", store)
    assert res.returncode == 0, res.stderr
    return {"store": store, "runs": run_ids, "catalog": str(path)}


def _commands(world: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Listing command -> (arguments, names its table must show in full)."""
    from agimeter.backends.aliases import load_catalog
    from agimeter.tasks.registry import builtin_task_names

    store, (a, b), catalog = world["store"], world["runs"], world["catalog"]
    return {
        "tasks": (["tasks"], list(builtin_task_names())),
        "models": (["models"], list(load_catalog())),
        "runs": (["runs", "--store", store], [a, b, MODEL_A, MODEL_B, TASK]),
        "show": (["show", a, "--store", store], [MODEL_A, TASK]),
        "compare": (["compare", a, b, "--store", store], [MODEL_A, MODEL_B, TASK]),
        "prices": (["prices", "--catalog", catalog], [PROVIDER]),
        "catalog list": (["catalog", "list", "--store", store], [PUBLISHED]),
        "pareto": (["pareto", "--capability", "mmlu", "--cost", "params_b", "--store", store], [PUBLISHED]),
        "density": (["density", "--benchmarks", "mmlu", "--store", store], [PUBLISHED]),
    }


COMMANDS = ["tasks", "models", "runs", "show", "compare", "prices", "catalog list", "pareto", "density"]


@pytest.mark.parametrize("command", COMMANDS)
def test_piped_tables_keep_every_name_whole(world: dict[str, Any], command: str) -> None:
    args, names = _commands(world)[command]
    res = piped(*args)
    assert res.returncode == 0, res.stderr
    assert "…" not in res.stdout, res.stdout  # nothing cut to fit 80 columns
    words = set(re.findall(r"[^\s│┃|,()\[\]]+", res.stdout))
    missing = [name for name in names if name not in res.stdout or (" " not in name and name not in words)]
    assert not missing, f"{missing} not in full in:\n{res.stdout}"


def test_tasks_piped_to_grep_finds_arc_challenge() -> None:
    grep = subprocess.run(
        f"{sys.executable} -m agimeter.cli.app tasks | grep -w arc_challenge",
        shell=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert grep.returncode == 0 and grep.stdout.count("\n") == 1, grep


def test_a_terminal_still_gets_a_table_that_fits_it() -> None:
    """On a terminal (a pty of 100 columns) the table is fitted to the width, as before."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agimeter.cli.app", "tasks"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**env, "TERM": "xterm", "NO_COLOR": "1"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pty closes when the child exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", b"".join(chunks).decode())
    lines = [line for line in text.splitlines() if line.strip()]
    assert any(line.startswith("┏") for line in lines), text
    assert max(len(line) for line in lines) <= 100, text


def _json(*args: str) -> Any:
    res = piped(*args, "--format", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_every_table_command_has_json(world: dict[str, Any]) -> None:
    store, (a, b), catalog = world["store"], world["runs"], world["catalog"]
    from agimeter.tasks.registry import builtin_task_names

    tasks = _json("tasks")["tasks"]
    assert [t["task"] for t in tasks] == list(builtin_task_names())
    arc = next(t for t in tasks if t["task"] == "arc_challenge")
    assert set(arc) == {"task", "dimension", "output_type", "num_fewshot", "chat", "metrics", "items", "version"}
    assert (arc["dimension"], arc["num_fewshot"], arc["metrics"]) == ("reasoning", 25, ["acc", "acc_norm"])
    assert all(t["dimension"] == "math" for t in _json("tasks", "--dimension", "math")["tasks"])

    runs = _json("runs", "--store", store)["runs"]
    assert {r["id"] for r in runs} == {a, b} and {r["model"] for r in runs} == {MODEL_A, MODEL_B}
    assert all(r["tasks"] == [TASK] and r["items"] == 12 and r["status"] == "finished" for r in runs)
    assert all("created_at" in r and "summary" not in r for r in runs)

    assert {m["alias"] for m in _json("models")["models"]} >= {"smollm2-135m-instruct"}
    assert _json("show", a, "--store", store)["run"]["id"] == a
    assert _json("compare", a, b, "--store", store)["rows"][0]["task"] == TASK
    assert [r["price"]["provider"] for r in _json("prices", "--catalog", catalog)["rows"]] == [PROVIDER]
    listed = _json("catalog", "list", "--store", store)["models"]
    assert PUBLISHED in {m["id"] for m in listed} and all("catalog" in m for m in listed)
    assert isinstance(_json("catalog", "compare", "--store", store), list)
    pareto = _json("pareto", "--capability", "mmlu", "--cost", "params_b", "--store", store)
    assert PUBLISHED in {p["model"] for p in pareto["points"]}
    assert PUBLISHED in {r["model"] for r in _json("density", "--benchmarks", "mmlu", "--store", store)["rows"]}
    assert "status" in _json("trends", "--what", "price", "--store", store)


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    from agimeter import __version__

    res = piped("--version")
    assert res.returncode == 0 and res.stdout == f"agimeter {version('agimeter')}\n", res
    assert version("agimeter") == __version__  # pyproject.toml and agimeter.__version__ agree


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tasks", "--dimension", "maths"], "--dimension: unknown dimension 'maths'; did you mean math?"),
        (["pareto", "--capability", "mmlux"], "--capability: unknown capability 'mmlux'; did you mean mmlu"),
        (["pareto", "--capability", "benchmark:nope"], "--capability: unknown benchmark 'nope'"),
        (["pareto", "--capability", "dimension:mathematics"], "--capability: unknown dimension 'mathematics'"),
        (["pareto", "--capability", "axis:x"], "--capability: unknown axis kind 'axis'"),
        (["density", "--benchmarks", "mmlu,bbhh"], "--benchmarks: unknown benchmark 'bbhh'; did you mean bbh?"),
        (["trends", "--what", "price", "--benchmark", "gsm8"], "--benchmark: unknown benchmark 'gsm8'"),
    ],
)
def test_unknown_names_are_one_line_errors(world: dict[str, Any], args: list[str], message: str) -> None:
    res = piped(*args, *(["--store", world["store"]] if args[0] != "tasks" else []))
    assert res.returncode == 2 and res.stdout == "", res
    assert res.stderr.count("\n") == 1 and message in res.stderr, res.stderr


def test_known_names_from_the_store_are_accepted(world: dict[str, Any]) -> None:
    """A measured task's own name is a benchmark the store knows, and so is a dimension it scored."""
    store = world["store"]
    for capability in (TASK, f"benchmark:{TASK}", "dimension:math", "math", "overall"):
        res = piped("pareto", "--capability", capability, "--store", store, "--format", "json")
        assert res.returncode == 0, (capability, res.stderr)
