"""Prompt parity with lm-eval 0.4.13's own machinery.

Each built-in's data is handed to lm-eval as a local json dataset with lm-eval's own task
config (and, for HellaSwag, its own ``process_docs``); ``build_all_requests`` then builds the
requests and we compare contexts, continuations and stop sequences with our items.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from agimeter.tasks import Item, Task, resolve_task

pytestmark = pytest.mark.slow

lm_eval = pytest.importorskip("lm_eval")
LM_TASKS = Path(lm_eval.__file__).parent / "tasks"
MMLU_AA_DESCRIPTION = "The following are multiple choice questions (with answers) about abstract algebra.\n\n"


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _lm_instances(include: Path, config: dict[str, Any], cache: Path, limit: int) -> list[Any]:
    """Build lm-eval requests for one task config written under ``include``."""
    from lm_eval.tasks import TaskManager

    config.setdefault("dataset_path", "json")
    config["dataset_kwargs"] = {**config.get("dataset_kwargs", {}), "cache_dir": str(cache)}
    (include / f"{config['task']}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    manager = TaskManager(include_path=str(include), include_defaults=False)
    task = manager.load([config["task"]])["tasks"][config["task"]]
    task.set_fewshot_seed(1234)  # lm-eval's default fewshot_random_seed
    task.build_all_requests(limit=limit)
    return list(task.instances)


def _by_doc(instances: list[Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for inst in instances:
        out.setdefault(inst.doc_id, []).append(inst)
    return out


def _assert_mc_parity(items: list[Item], instances: list[Any]) -> None:
    by_doc = _by_doc(instances)
    assert sorted(by_doc) == [it.doc_id for it in items]
    for it in items:
        insts = sorted(by_doc[it.doc_id], key=lambda i: i.idx)
        assert [i.arguments[0] for i in insts] == [it.context] * len(it.continuations)
        assert tuple(i.arguments[1] for i in insts) == it.continuations


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    include = tmp_path_factory.mktemp("lm_tasks")
    return include, tmp_path_factory.mktemp("hf_cache")


def test_arc_challenge_25_shot_random_sampler(data_dir: Path, workdir: tuple[Path, Path]) -> None:
    include, cache = workdir
    config = {
        "task": "parity_arc",
        "dataset_kwargs": {"data_files": {"test": str(data_dir / "arc_challenge/arc_challenge.jsonl")}},
        "output_type": "multiple_choice",
        "test_split": "test",
        "fewshot_split": "test",  # same split: lm-eval excludes the eval doc (n + 1 draw)
        "doc_to_text": "{{query}}\nAnswer:",
        "doc_to_target": "gold",
        "doc_to_choice": "choices",
        "num_fewshot": 25,
        "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
    }
    instances = _lm_instances(include, config, cache, limit=30)
    _assert_mc_parity(Task(resolve_task("arc_challenge"), data_dir).items(limit=30), instances)


def test_mmlu_5_and_0_shot_first_n(data_dir: Path, workdir: tuple[Path, Path]) -> None:
    include, cache = workdir
    files = {}
    for split in ("test", "dev"):
        with (data_dir / f"mmlu/{split}/abstract_algebra_{split}.csv").open(newline="", encoding="utf-8") as fh:
            rows = [
                {
                    "question": r["question"],
                    "subject": "abstract_algebra",
                    "choices": [r["choice0"], r["choice1"], r["choice2"], r["choice3"]],
                    "answer": int(r["answer"]),
                }
                for r in csv.DictReader(fh)
            ]
        files[split] = _write_jsonl(include / f"mmlu_aa_{split}.jsonl", rows)
    template = yaml.safe_load((LM_TASKS / "mmlu/default/_default_template_yaml").read_text())
    template.pop("dataset_path")
    ours = Task(resolve_task("mmlu"), data_dir)
    for shots in (5, 0):
        config = {
            **template,
            "task": f"parity_mmlu_{shots}",
            "dataset_kwargs": {"data_files": files},
            "description": MMLU_AA_DESCRIPTION,
            "num_fewshot": shots,
        }
        instances = _lm_instances(include, config, cache, limit=100)
        items = Task(ours.spec, data_dir, num_fewshot=shots).items(limit=100)
        assert {it.subtask for it in items} == {"abstract_algebra"}
        _assert_mc_parity(items, instances)


def test_hellaswag_10_shot_with_lm_eval_process_docs(data_dir: Path, workdir: tuple[Path, Path]) -> None:
    include, cache = workdir
    shutil.copy(LM_TASKS / "hellaswag/utils.py", include / "utils.py")
    task = Task(resolve_task("hellaswag"), data_dir)
    rows = [{k: d.fields[k] for k in ("activity_label", "ctx_a", "ctx_b", "endings", "label")} for d in task.docs]
    data = _write_jsonl(include / "hellaswag_validation.jsonl", rows)
    config = {
        "task": "parity_hellaswag",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"validation": data}, "cache_dir": str(cache)},
        "output_type": "multiple_choice",
        # Evaluated split == few-shot split, so lm-eval excludes the eval doc (n + 1 draw).
        "test_split": "validation",
        "fewshot_split": "validation",
        "doc_to_text": "{{query}}",
        "doc_to_target": "{{label}}",
        "doc_to_choice": "choices",
        "num_fewshot": 10,
        "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
    }
    # lm-eval's own process_docs, loaded from the copied utils.py via !function.
    text = yaml.safe_dump(config) + "process_docs: !function utils.process_docs\n"
    (include / "parity_hellaswag.yaml").write_text(text, encoding="utf-8")
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(include), include_defaults=False)
    lm = manager.load(["parity_hellaswag"])["tasks"]["parity_hellaswag"]
    lm.set_fewshot_seed(1234)
    lm.build_all_requests(limit=12)
    _assert_mc_parity(task.items(limit=12), list(lm.instances))


def test_gsm8k_cot_generate(data_dir: Path, workdir: tuple[Path, Path]) -> None:
    include, cache = workdir
    config = yaml.safe_load((LM_TASKS / "gsm8k/gsm8k-cot.yaml").read_text())
    config.pop("dataset_name")
    config.pop("dataset_path")
    config.update(task="parity_gsm8k", dataset_kwargs={"data_files": {"test": str(data_dir / "gsm8k/test.jsonl")}})
    instances = _lm_instances(include, config, cache, limit=5)
    items = Task(resolve_task("gsm8k"), data_dir).items(limit=5)
    assert [i.doc_id for i in instances] == [it.doc_id for it in items]
    for inst, it in zip(instances, items, strict=True):
        context, gen_kwargs = inst.arguments
        assert context == it.context
        assert tuple(gen_kwargs["until"]) == it.stop
        assert gen_kwargs.get("max_gen_toks", 256) == it.max_tokens
