"""Golden prompts for item 0 of each built-in task, built independently from the raw files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from agimeter.tasks import Task, builtin_task_names, resolve_task

MMLU_DESC = "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
MMLU_Q0 = (
    "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
    "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:"
)


def _mmlu_block(row: dict[str, str]) -> str:
    return (
        f"{row['question'].strip()}\nA. {row['choice0']}\nB. {row['choice1']}\n"
        f"C. {row['choice2']}\nD. {row['choice3']}\nAnswer:"
    )


def test_builtin_names() -> None:
    assert {"mmlu", "arc_challenge", "hellaswag", "gsm8k"} <= set(builtin_task_names())


def test_mmlu_zero_shot_item0(data_dir: Path) -> None:
    task = Task(resolve_task("mmlu"), data_dir, num_fewshot=0)
    (item,) = task.items(limit=1)
    assert item.context == MMLU_DESC + MMLU_Q0
    assert item.continuations == (" A", " B", " C", " D")
    assert item.choice_texts == ("A", "B", "C", "D")
    assert item.target == 1
    assert item.subtask == "abstract_algebra"
    assert item.chat_messages == (("system", MMLU_DESC), ("user", MMLU_Q0))


def test_mmlu_five_shot_item0(data_dir: Path) -> None:
    with (data_dir / "mmlu/dev/abstract_algebra_dev.csv").open(newline="", encoding="utf-8") as fh:
        dev = list(csv.DictReader(fh))
    shots = "".join(_mmlu_block(r) + " " + "ABCD"[int(r["answer"])] + "\n\n" for r in dev[:5])
    task = Task(resolve_task("mmlu"), data_dir)
    assert task.num_fewshot == 5
    (item,) = task.items(limit=1)
    assert item.context == MMLU_DESC + shots + MMLU_Q0
    assert item.context.count("\nAnswer:") == 6


def test_mmlu_document_order_and_subject_exemplars(data_dir: Path) -> None:
    task = Task(resolve_task("mmlu"), data_dir, num_fewshot=1)
    assert len(task) == 14042
    subjects = [d.fields["subject"] for d in task.docs]
    assert subjects == sorted(subjects)  # alphabetical subjects, rows in file order
    first_anatomy = subjects.index("anatomy")
    anatomy = task.items(limit=first_anatomy + 1)[-1]
    assert anatomy.subtask == "anatomy"
    assert anatomy.context.startswith("The following are multiple choice questions (with answers) about anatomy.\n\n")


def test_arc_challenge_item0(data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "arc_challenge/arc_challenge.jsonl").open()]
    zero = Task(resolve_task("arc_challenge"), data_dir, num_fewshot=0).items(limit=1)[0]
    assert zero.context == rows[0]["query"] + "\nAnswer:"
    assert zero.context.startswith("Question: An astronomer observes")
    assert zero.continuations == tuple(" " + c for c in rows[0]["choices"])
    assert zero.target == rows[0]["gold"] == 2

    task = Task(resolve_task("arc_challenge"), data_dir)
    assert task.num_fewshot == 25
    (item,) = task.items(limit=1)
    blocks = item.context.split("\n\n")
    assert len(blocks) == 26 and blocks[-1] == zero.context
    by_query = {r["query"]: r for r in rows}
    for block in blocks[:-1]:
        query, answer = block.split("\nAnswer: ")
        assert query != rows[0]["query"]  # the current doc is never its own exemplar
        assert answer == by_query[query]["choices"][by_query[query]["gold"]]


def test_hellaswag_item0_matches_lm_eval_preprocess(data_dir: Path) -> None:
    utils = pytest.importorskip("lm_eval.tasks.hellaswag.utils")
    task = Task(resolve_task("hellaswag"), data_dir, num_fewshot=0)
    (item,) = task.items(limit=1)
    expected = utils.preprocess("Roof shingle removal" + ": " + "A man is sitting on a roof." + " " + "he".capitalize())
    assert item.context == expected == "Roof shingle removal: A man is sitting on a roof. He"
    assert item.continuations == (
        " is using wrap to wrap a pair of skis.",
        " is ripping level tiles off.",
        " is holding a rubik's cube.",
        " starts pulling up roofing on a roof.",
    )
    assert item.target == 3
    ten = Task(resolve_task("hellaswag"), data_dir).items(limit=1)[0]
    assert ten.context.endswith("\n\n" + expected) and ten.context.count("\n\n") == 10


def test_gsm8k_item0(data_dir: Path) -> None:
    lm_yaml = pytest.importorskip("lm_eval").__file__
    import yaml

    cot = yaml.safe_load((Path(lm_yaml).parent / "tasks/gsm8k/gsm8k-cot.yaml").read_text())
    shots = "".join(f"Q: {s['question']}\nA: {s['target']}\n\n" for s in cot["fewshot_config"]["samples"])
    first = json.loads((data_dir / "gsm8k/test.jsonl").open().readline())
    question = f"Q: {first['question']}\nA:"

    item = Task(resolve_task("gsm8k"), data_dir).items(limit=1)[0]
    assert item.context == shots + question
    assert item.context.startswith("Q: There are 15 trees in the grove.")
    assert item.target == "18"
    assert item.stop == ("Q:", "</s>", "<|im_end|>")
    assert item.max_tokens == 256

    two = Task(resolve_task("gsm8k"), data_dir, num_fewshot=2).items(limit=1)[0]
    assert two.context == "".join(shots.split("\n\n")[i] + "\n\n" for i in range(2)) + question
    zero = Task(resolve_task("gsm8k"), data_dir, num_fewshot=0).items(limit=1)[0]
    assert zero.context == question


def test_limit_and_sample_select_docs(data_dir: Path) -> None:
    task = Task(resolve_task("arc_challenge"), data_dir)
    full = {it.doc_id: it for it in task.items(limit=40)}
    assert sorted(full) == list(range(40))
    sampled = task.items(sample=5, seed=7)
    ids = [it.doc_id for it in sampled]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert sampled == task.items(sample=5, seed=7)  # deterministic
    for it in sampled:
        if it.doc_id < 40:
            assert it == full[it.doc_id]  # a doc's prompt does not depend on the subset
    assert task.select_doc_ids(sample=10_000) == list(range(len(task)))


def test_protocol_is_complete(data_dir: Path) -> None:
    task = Task(resolve_task("gsm8k"), data_dir, num_fewshot=4)
    proto = task.protocol()
    assert proto["fewshot"]["num_fewshot"] == 4
    assert proto["generation"]["stop"] == ["Q:", "</s>", "<|im_end|>"]
    assert proto["extraction"]["pattern"] == "The answer is (\\-?[0-9\\.\\,]+)."
    assert proto["prompt"]["doc_to_text"] == "Q: {{question}}\nA:"
    assert len(proto["protocol_hash"]) == 16
    assert proto["protocol_hash"] != Task(resolve_task("gsm8k"), data_dir).protocol()["protocol_hash"]
    arc = Task(resolve_task("arc_challenge"), data_dir).protocol()
    assert arc["fewshot"]["source"] == "evaluated docs, current doc excluded"
    assert arc["deviations"]
