"""lm-eval's own task YAMLs, pointed at local files, render the built-in tasks' prompts.

Each test copies lm-eval 0.4.13's YAML files for a task (and its includes, and hellaswag's
``utils.py``) from the installed package into a temp dir, rewrites only where the data lives
(``dataset_path: json`` + ``dataset_kwargs.data_files``: the local benchmark files, converted to the
layout the YAML reads when the local file is laid out differently), loads them with
``agimeter.tasks.resolve_task`` and compares the items with the built-in task's, item by item.
lm-eval itself then builds requests from the very same files, and those must match too.
"""

from __future__ import annotations

import csv
import json
import shutil
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from agimeter.tasks import Item, Task, TaskSpec, resolve_task
from agimeter.tasks.spec import FileSource

pytestmark = pytest.mark.slow

lm_eval = pytest.importorskip("lm_eval")
LM_TASKS = Path(lm_eval.__file__).parent / "tasks"
N = 50  # items compared per task (per subject for MMLU)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _local_yaml(name: str, into: Path, cache: Path, data_files: dict[str, str], **changes: Any) -> Path:
    """Copy ``lm_eval/tasks/<name>`` into ``into``, reading ``data_files`` as json (and other
    top-level keys changed); ``!function`` lines are kept verbatim (a safe YAML dump drops them)."""
    source = LM_TASKS / name
    lines = source.read_text(encoding="utf-8").splitlines()
    tagged = [line for line in lines if "!function" in line]
    data = yaml.safe_load("\n".join(line for line in lines if "!function" not in line))
    # cache_dir is for lm-eval's loader (agimeter ignores it)
    data.update(changes, dataset_path="json", dataset_kwargs={"data_files": data_files, "cache_dir": str(cache)})
    target = into / source.name
    target.write_text(yaml.safe_dump(data, sort_keys=False) + "".join(line + "\n" for line in tagged), encoding="utf-8")
    return target


def _lm_eval_task(include: Path, name: str, num_fewshot: int | None = None) -> Any:
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(include), include_defaults=False)
    task = manager.load([name])["tasks"][name]
    if num_fewshot is not None:
        task.set_config(key="num_fewshot", value=num_fewshot)
    task.set_fewshot_seed(1234)  # lm-eval's default fewshot_random_seed
    task.build_all_requests(limit=N)
    return task


def _assert_same_items(ours: list[Item], builtin: list[Item]) -> None:
    assert len(ours) == len(builtin) == N
    fields = ("doc_id", "kind", "context", "continuations", "choice_texts", "target", "stop", "max_tokens")
    for a, b in zip(ours, builtin, strict=True):
        for field in (*fields, "chat_messages", "temperature"):
            assert getattr(a, field) == getattr(b, field), (a.doc_id, field)


def _assert_lm_eval_renders(items: list[Item], lm_task: Any) -> None:
    """lm-eval's requests (contexts, continuations, stop sequences) and targets equal our items."""
    by_doc: dict[int, list[Any]] = {}
    for inst in lm_task.instances:
        by_doc.setdefault(inst.doc_id, []).append(inst)
    assert sorted(by_doc) == [it.doc_id for it in items]
    docs = list(lm_task.eval_docs)
    for it in items:
        insts = sorted(by_doc[it.doc_id], key=lambda i: i.idx)
        target = lm_task.doc_to_target(docs[it.doc_id])
        if it.kind == "multiple_choice":
            assert [i.arguments[0] for i in insts] == [it.context] * len(it.continuations)
            assert tuple(i.arguments[1] for i in insts) == it.continuations
            assert target == it.target or lm_task.doc_to_choice(docs[it.doc_id]).index(target) == it.target
        else:
            ((context, gen_kwargs),) = [i.arguments for i in insts]
            assert context == it.context
            assert tuple(gen_kwargs["until"]) == it.stop
            assert gen_kwargs.get("max_gen_toks", 256) == it.max_tokens
            assert str(target) == it.target


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "tasks").mkdir()
    return tmp_path / "tasks", tmp_path / "hf_cache"


def test_arc_challenge_yaml_renders_the_builtin_prompts(data_dir: Path, dirs: tuple[Path, Path]) -> None:
    include, cache = dirs
    letters = string.ascii_uppercase
    rows = []
    for line in (data_dir / "arc_challenge/arc_challenge.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        assert rec["query"].startswith("Question: ")
        labels = list(letters[: len(rec["choices"])])
        question = rec["query"].removeprefix("Question: ")
        rows.append(
            {
                "question": question,
                "choices": {"text": rec["choices"], "label": labels},
                "answerKey": labels[rec["gold"]],
            }
        )
    # ai2_arc's layout, which lm-eval's YAML reads (question, choices.text/label, answerKey).
    data = _write_jsonl(include.parent / "arc_challenge_test.jsonl", rows)
    shutil.copy(LM_TASKS / "arc/arc_easy.yaml", include / "arc_easy.yaml")
    # The built-in draws its 25 exemplars from the test docs (no train split here): fewshot_split.
    path = _local_yaml("arc/arc_challenge.yaml", include, cache, {"test": data}, fewshot_split="test")
    spec = resolve_task(str(path))
    assert spec.name == "arc_challenge" and spec.metrics == ["acc", "acc_norm"]
    assert spec.imported_from is not None
    assert [Path(f.path).name for f in spec.imported_from.files] == ["arc_challenge.yaml", "arc_easy.yaml"]
    ours = Task(spec, data_dir, num_fewshot=25).items(limit=N)
    _assert_same_items(ours, Task(resolve_task("arc_challenge"), data_dir).items(limit=N))
    _assert_lm_eval_renders(ours, _lm_eval_task(include, "arc_challenge", num_fewshot=25))


MMLU_SUBJECTS = ("abstract_algebra", "anatomy", "high_school_world_history")


def _mmlu_rows(data_dir: Path, subject: str, split: str) -> list[dict[str, Any]]:
    with (data_dir / f"mmlu/{split}/{subject}_{split}.csv").open(newline="", encoding="utf-8") as fh:
        return [
            {
                "question": r["question"],
                "subject": subject,
                "answer": int(r["answer"]),
                "choices": [r["choice0"], r["choice1"], r["choice2"], r["choice3"]],
            }
            for r in csv.DictReader(fh)
        ]


def _builtin_for_subject(subject: str) -> TaskSpec:
    """The built-in MMLU task (its prompts and dev exemplars), evaluating one subject's file."""
    spec = resolve_task("mmlu")
    assert isinstance(spec.source, FileSource)
    source = spec.source.model_copy(update={"path": f"mmlu/test/{subject}_test.csv"})
    return spec.model_copy(update={"source": source})


@pytest.mark.parametrize("shots", [5, 0])
def test_mmlu_subject_yamls_with_the_default_template_render_the_builtin_prompts(
    data_dir: Path, dirs: tuple[Path, Path], shots: int
) -> None:
    include, cache = dirs
    shutil.copy(LM_TASKS / "mmlu/default/_default_template_yaml", include / "_default_template_yaml")
    for subject in MMLU_SUBJECTS:
        # cais/mmlu's layout (question, subject, choices, answer), as the template reads it.
        files = {
            s: _write_jsonl(include.parent / f"{subject}_{s}.jsonl", _mmlu_rows(data_dir, subject, s))
            for s in ("test", "dev")
        }
        path = _local_yaml(f"mmlu/default/mmlu_{subject}.yaml", include, cache, files)
        spec = resolve_task(str(path))
        assert spec.name == f"mmlu_{subject}" and spec.fewshot.sampler == "first_n"
        ours = Task(spec, data_dir, num_fewshot=shots).items(limit=N)
        builtin = Task(_builtin_for_subject(subject), data_dir, num_fewshot=shots).items(limit=N)
        _assert_same_items(ours, builtin)
        _assert_lm_eval_renders(ours, _lm_eval_task(include, f"mmlu_{subject}", num_fewshot=shots))


def test_hellaswag_yaml_with_lm_eval_process_docs_renders_the_builtin_prompts(
    data_dir: Path, dirs: tuple[Path, Path]
) -> None:
    include, cache = dirs
    builtin_task = Task(resolve_task("hellaswag"), data_dir)
    # The original layout (ctx_a/ctx_b as the built-in recovers them), which process_docs reads.
    keys = ("activity_label", "ctx_a", "ctx_b", "endings", "label")
    data = _write_jsonl(
        include.parent / "hellaswag_val.jsonl", [{k: d.fields[k] for k in keys} for d in builtin_task.docs]
    )
    shutil.copy(LM_TASKS / "hellaswag/utils.py", include / "utils.py")
    # Exemplars come from the training split: here the validation file, as the built-in does.
    path = _local_yaml("hellaswag/hellaswag.yaml", include, cache, {"train": data, "validation": data})
    spec = resolve_task(str(path))
    assert spec.prompt.preprocess == "hellaswag"
    assert spec.imported_from is not None and Path(spec.imported_from.files[-1].path).name == "utils.py"
    ours = Task(spec, data_dir, num_fewshot=10).items(limit=N)
    _assert_same_items(ours, builtin_task.items(limit=N))
    _assert_lm_eval_renders(ours, _lm_eval_task(include, "hellaswag", num_fewshot=10))


def test_gsm8k_cot_yaml_renders_and_scores_as_the_builtin(data_dir: Path, dirs: tuple[Path, Path]) -> None:
    include, cache = dirs
    path = _local_yaml("gsm8k/gsm8k-cot.yaml", include, cache, {"test": str(data_dir / "gsm8k/test.jsonl")})
    spec, builtin = resolve_task(str(path)), resolve_task("gsm8k")
    ours = Task(spec, data_dir).items(limit=N)
    _assert_same_items(ours, Task(builtin, data_dir).items(limit=N))
    assert spec.extraction == builtin.extraction and spec.metrics == builtin.metrics
    _assert_lm_eval_renders(ours, _lm_eval_task(include, "gsm8k_cot"))


def test_gsm8k_yaml_5_shot_random_from_train_matches_lm_eval(data_dir: Path, dirs: tuple[Path, Path]) -> None:
    include, cache = dirs
    files = {"train": str(data_dir / "gsm8k/train.jsonl"), "test": str(data_dir / "gsm8k/test.jsonl")}
    path = _local_yaml("gsm8k/gsm8k.yaml", include, cache, files)
    spec = resolve_task(str(path))
    assert (spec.fewshot.num_fewshot, spec.fewshot.sampler, spec.fewshot.exclude_eval_doc) == (5, "random", False)
    assert spec.extraction is not None and spec.extraction.pattern == "#### (\\-?[0-9\\.\\,]+)"
    ours = Task(spec, data_dir).items(limit=N)
    assert len({it.context.split("\n\n")[0] for it in ours}) > 1  # exemplars drawn per doc, not fixed
    _assert_lm_eval_renders(ours, _lm_eval_task(include, "gsm8k"))
