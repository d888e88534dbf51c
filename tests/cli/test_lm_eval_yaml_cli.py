"""``agimeter run --tasks NAME --include-path DIR`` with an lm-eval task YAML, end to end on the
fake backend: the run stores lm-eval's protocol with the YAML's path and sha256; a field outside
the supported subset stops the run with one line naming the file and field, before anything is stored."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., subprocess.CompletedProcess[str]]

LM_EVAL_TASK = """\
task: toy_lm_eval
dataset_path: json
dataset_kwargs:
  data_files:
    test: toy/toy.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: choices
doc_to_target: gold
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
  dimension: knowledge
"""


def test_run_by_task_name_under_include_path(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    tasks = toy_env["tmp"] / "lm_tasks"
    tasks.mkdir()
    (tasks / "toy_lm_eval.yaml").write_text(LM_EVAL_TASK)
    store = f"sqlite:///{toy_env['store']}"
    common = ["--model", "fake:m", "--data-dir", str(toy_env["data"]), "--store", store]
    res = agimeter("run", *common, "--tasks", "toy_lm_eval", "--include-path", str(tasks), "--limit", "5")
    assert res.returncode == 0, res.stderr
    (run_id,) = [r[0] for r in sqlite3.connect(toy_env["store"]).execute("select id from runs")]
    shown = json.loads(agimeter("show", run_id, "--format", "json", "--store", store).stdout)
    protocol = shown["protocols"]["toy_lm_eval"]
    sha256 = hashlib.sha256((tasks / "toy_lm_eval.yaml").read_bytes()).hexdigest()
    assert protocol["imported_from"] == {
        "format": "lm_eval_yaml",
        "files": [{"path": str(tasks / "toy_lm_eval.yaml"), "sha256": sha256}],
    }
    assert protocol["prompt"]["doc_to_text"] == "Question: {{question}}\nAnswer:"
    assert [s["task"] for s in shown["scores"]] == ["toy_lm_eval"]

    (tasks / "toy_lm_eval.yaml").write_text(LM_EVAL_TASK + "process_results: !function utils.process_results\n")
    res = agimeter("run", *common, "--tasks", "toy_lm_eval", "--include-path", str(tasks))
    assert res.returncode == 2
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert lines == [f"error: {tasks / 'toy_lm_eval.yaml'}: process_results: not supported (custom scoring code)"]
    assert sqlite3.connect(toy_env["store"]).execute("select count(*) from runs").fetchone()[0] == 1
