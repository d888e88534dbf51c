"""End-to-end parity with lm-evaluation-harness 0.4.13 on a tiny random Qwen2.

Two small local datasets (an MMLU-style single-token task with 2 first_n exemplars from a dev
file, and a HellaSwag-style multi-token task with 2 random exemplars from the evaluated split)
are written at test time, together with a task YAML for each tool over the same files.
agimeter runs through its real CLI (``run`` then ``export --format jsonl``) at batch sizes 1
and 8; lm-eval runs through ``simple_evaluate`` with ``log_samples``. Per item we compare the
log-likelihood and is_greedy of every choice, acc / acc_norm, and per task the accuracies.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

lm_eval = pytest.importorskip("lm_eval")

N_DOCS = 24
LL_TOL = 1e-4  # agimeter vs lm-eval
BATCH_TOL = 1e-5  # agimeter batch 1 vs batch 8

MMLU_TASK = "e2e_mmlu"
HS_TASK = "e2e_hellaswag"
MMLU_DESCRIPTION = "The following are multiple choice questions (with answers) about astronomy.\n\n"
MMLU_TEXT = "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"
HS_TEXT = "{{activity_label}}: {{ctx}}"


# ---------------------------------------------------------------- data


def _mmlu_rows(shared: Path | None, split: str, n: int) -> list[dict[str, Any]]:
    path = shared / f"mmlu/{split}/astronomy_{split}.csv" if shared else None
    if path is not None:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))[:n]
        return [
            {
                "question": r["question"],
                "choices": [r["choice0"], r["choice1"], r["choice2"], r["choice3"]],
                "answer": int(r["answer"]),
            }
            for r in rows
        ]
    return [  # synthetic fallback when the shared snapshot is absent (never under CI=true: data_dir_if_present)
        {
            "question": f" Which planet is number {i} in the made-up list? ",
            "choices": [f"Mercury {i}", f"Venus {i * 2}", f"Earth {i + 3}", f"Mars {i % 5}"],
            "answer": i % 4,
        }
        for i in range(n)
    ]


def _hellaswag_rows(shared: Path | None, n: int) -> list[dict[str, Any]]:
    path = shared / "hellaswag/hellaswag_val_full.txt" if shared else None
    if path is not None:
        lines = path.read_text(encoding="utf-8").splitlines()[: n * 6]
        rows = []
        for k in range(n):
            block = lines[k * 6 : k * 6 + 6]
            label, ctx = block[0].split(": ", 1)
            rows.append({"activity_label": label, "ctx": ctx, "endings": block[2:6], "label": int(block[1])})
        return rows
    return [
        {
            "activity_label": "Cooking",
            "ctx": f"A cook number {i} picks up a pan. she",
            "endings": [
                "puts it on the stove and pours in some oil.",
                "throws it out of the open window.",
                f"sings {i} songs to the audience.",
                "starts to wash the dishes in the sink.",
            ],
            "label": i % 4,
        }
        for i in range(n)
    ]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------- task YAMLs


def _agimeter_specs(spec_dir: Path) -> list[Path]:
    mmlu = {
        "name": MMLU_TASK,
        "version": "1",
        "dimension": "knowledge",
        "output_type": "multiple_choice",
        "source": {"kind": "file", "path": "mmlu_test.jsonl"},
        "fewshot": {
            "num_fewshot": 2,
            "sampler": "first_n",
            "source": {"kind": "file", "path": "mmlu_dev.jsonl"},
        },
        "prompt": {
            "description": MMLU_DESCRIPTION,
            "doc_to_text": MMLU_TEXT,
            "doc_to_target": "answer",
            "doc_to_choice": ["A", "B", "C", "D"],
        },
        "metrics": ["acc"],
    }
    hellaswag = {
        "name": HS_TASK,
        "version": "1",
        "dimension": "reasoning",
        "output_type": "multiple_choice",
        "source": {"kind": "file", "path": "hellaswag.jsonl"},
        "fewshot": {"num_fewshot": 2, "sampler": "random", "seed": 1234},
        "prompt": {"doc_to_text": HS_TEXT, "doc_to_target": "{{label}}", "doc_to_choice": "endings"},
        "metrics": ["acc", "acc_norm"],
    }
    paths = []
    for spec in (mmlu, hellaswag):
        path = spec_dir / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def _lm_eval_configs(include: Path, data: Path, cache: Path) -> None:
    mmlu = {
        "task": MMLU_TASK,
        "dataset_path": "json",
        "dataset_kwargs": {
            "data_files": {"test": str(data / "mmlu_test.jsonl"), "dev": str(data / "mmlu_dev.jsonl")},
            "cache_dir": str(cache),
        },
        "test_split": "test",
        "fewshot_split": "dev",
        "fewshot_config": {"sampler": "first_n"},
        "num_fewshot": 2,
        "description": MMLU_DESCRIPTION,
        "output_type": "multiple_choice",
        "doc_to_text": MMLU_TEXT,
        "doc_to_choice": ["A", "B", "C", "D"],
        "doc_to_target": "answer",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    hellaswag = {
        "task": HS_TASK,
        "dataset_path": "json",
        "dataset_kwargs": {
            "data_files": {"validation": str(data / "hellaswag.jsonl")},
            "cache_dir": str(cache),
        },
        "test_split": "validation",
        "fewshot_split": "validation",  # same split: lm-eval draws n + 1 and drops the eval doc
        "num_fewshot": 2,
        "output_type": "multiple_choice",
        "doc_to_text": HS_TEXT,
        "doc_to_target": "{{label}}",
        "doc_to_choice": "endings",
        "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        "metadata": {"version": 1.0},
    }
    for config in (mmlu, hellaswag):
        (include / f"{config['task']}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


# ---------------------------------------------------------------- runs


def _agimeter_run(
    model_dir: Path, specs: list[Path], data: Path, db: Path, batch_size: int
) -> tuple[list[dict], dict[str, Any]]:
    """(exported items, the run summary printed by ``run --format json``)."""
    from agimeter.store.repository import Store

    url = f"sqlite:///{db}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cli = [sys.executable, "-m", "agimeter.cli.app"]
    run = [
        *cli,
        "run",
        "--model",
        f"hf:{model_dir}",
        "--tasks",
        ",".join(str(p) for p in specs),
        "--data-dir",
        str(data),
        "--store",
        url,
        "--dtype",
        "float32",
        "--device",
        "cpu",
        "--batch-size",
        str(batch_size),
        "--format",
        "json",
    ]
    proc = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"agimeter run failed:\n{proc.stdout}\n{proc.stderr}"
    summary = json.loads(proc.stdout)
    store = Store.open(url)
    try:
        runs = store.list_runs()
    finally:
        store.close()
    assert len(runs) == 1 and runs[0].status == "finished", runs
    proc = subprocess.run(
        [*cli, "export", runs[0].id, "--format", "jsonl", "--store", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, f"agimeter export failed:\n{proc.stdout}\n{proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()], summary


def _lm_eval_run(model_dir: Path, include: Path, cache: Path) -> dict[str, Any]:
    from lm_eval.tasks import TaskManager

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setenv("HF_DATASETS_CACHE", str(cache))
        return lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={model_dir},dtype=float32",
            tasks=[MMLU_TASK, HS_TASK],
            task_manager=TaskManager(include_path=str(include), include_defaults=False),
            log_samples=True,
            device="cpu",
            batch_size=8,
        )


@pytest.fixture(scope="module")
def e2e(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, data_dir_if_present: Path | None
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("parity_e2e")
    data, spec_dir, include, cache = (root / d for d in ("data", "specs", "lm_tasks", "hf_cache"))
    for d in (data, spec_dir, include, cache):
        d.mkdir()
    _write_jsonl(data / "mmlu_test.jsonl", _mmlu_rows(data_dir_if_present, "test", N_DOCS))
    _write_jsonl(data / "mmlu_dev.jsonl", _mmlu_rows(data_dir_if_present, "dev", 5))
    _write_jsonl(data / "hellaswag.jsonl", _hellaswag_rows(data_dir_if_present, N_DOCS))
    specs = _agimeter_specs(spec_dir)
    _lm_eval_configs(include, data, cache)
    b1, _ = _agimeter_run(tiny_model_dir, specs, data, root / "b1.db", 1)
    b8, summary = _agimeter_run(tiny_model_dir, specs, data, root / "b8.db", 8)
    return {"b1": b1, "b8": b8, "summary": summary, "lm": _lm_eval_run(tiny_model_dir, include, cache)}


def _by_task(items: list[dict]) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for it in items:
        out.setdefault(it["task"], {})[it["doc_id"]] = it
    return out


def _lm_samples(results: dict[str, Any], task: str) -> dict[int, dict]:
    return {s["doc_id"]: s for s in results["samples"][task]}


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("task", [MMLU_TASK, HS_TASK])
def test_items_match_lm_eval(e2e: dict[str, Any], task: str) -> None:
    ours = _by_task(e2e["b8"])[task]
    theirs = _lm_samples(e2e["lm"], task)
    assert sorted(ours) == sorted(theirs) == list(range(N_DOCS))
    max_diff = 0.0
    for doc_id, it in ours.items():
        sample = theirs[doc_id]
        # filtered_resps: one (loglikelihood, is_greedy) per choice, in choice order.
        lls = [float(r[0]) for r in sample["filtered_resps"]]
        greedy = [bool(r[1]) for r in sample["filtered_resps"]]
        assert [float(r[0][0]) for r in sample["resps"]] == lls
        assert it["target"] == sample["target"], doc_id
        assert len(it["loglikelihoods"]) == len(lls), doc_id
        diffs = [abs(a - b) for a, b in zip(it["loglikelihoods"], lls, strict=True)]
        max_diff = max(max_diff, *diffs)
        assert max(diffs) <= LL_TOL, f"{task} doc {doc_id}: ours {it['loglikelihoods']} lm-eval {lls}"
        assert it["is_greedy"] == greedy, f"{task} doc {doc_id}"
        assert it["correct"] == bool(sample["acc"]), f"{task} doc {doc_id}"
        assert it["metrics"]["acc"] == float(sample["acc"]), f"{task} doc {doc_id}"
        if "acc_norm" in sample:
            assert it["metrics"]["acc_norm"] == float(sample["acc_norm"]), f"{task} doc {doc_id}"
    print(f"{task}: max |ll diff| vs lm-eval = {max_diff:.3g}")


@pytest.mark.parametrize("task", [MMLU_TASK, HS_TASK])
def test_task_accuracies_match_lm_eval(e2e: dict[str, Any], task: str) -> None:
    items = list(_by_task(e2e["b8"])[task].values())
    scores = {s["task"]: s for s in e2e["summary"]["scores"]}
    lm_res = e2e["lm"]["results"][task]
    metrics = ["acc", "acc_norm"] if task == HS_TASK else ["acc"]
    assert scores[task]["n"] == N_DOCS
    for metric in metrics:
        theirs = lm_res[f"{metric},none"]
        # Means of 0/1 values over the same 24 docs: equal to the last bit.
        assert scores[task]["metrics"][metric]["mean"] == theirs, metric
        assert sum(it["metrics"][metric] for it in items) / len(items) == theirs, metric


def test_batch_1_equals_batch_8(e2e: dict[str, Any]) -> None:
    b1, b8 = _by_task(e2e["b1"]), _by_task(e2e["b8"])
    assert b1.keys() == b8.keys() == {MMLU_TASK, HS_TASK}
    for task in b1:
        assert b1[task].keys() == b8[task].keys()
        for doc_id, one in b1[task].items():
            eight = b8[task][doc_id]
            assert one["prompt_sha256"] == eight["prompt_sha256"]
            diffs = [abs(a - b) for a, b in zip(one["loglikelihoods"], eight["loglikelihoods"], strict=True)]
            assert max(diffs) <= BATCH_TOL, f"{task} doc {doc_id}: {diffs}"
            assert one["prediction"] == eight["prediction"], f"{task} doc {doc_id}"
            assert one["is_greedy"] == eight["is_greedy"], f"{task} doc {doc_id}"
            assert one["metrics"] == eight["metrics"], f"{task} doc {doc_id}"
