"""Golden tests of every capability task type on real items from the data dir: known model outputs
(a scripted fake backend, or log-likelihoods given directly) must get known scores, through the
task's own extraction and metric code."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from agimeter.backends.fake import FakeBackend
from agimeter.records.options import RunOptions
from agimeter.runner.session import execute_run, prepare_tasks
from agimeter.scoring import score_item
from agimeter.store.repository import Store
from agimeter.tasks.item import Item
from agimeter.tasks.registry import resolve_task
from agimeter.tasks.task import Task


def _items(name: str, data_dir: Path, n: int | None = None) -> tuple[Task, list[Item]]:
    task = Task(resolve_task(name), data_dir)
    return task, task.items(limit=n)


def _score(name: str, item: Item, text: str) -> dict[str, float]:
    return score_item(resolve_task(name), item, generation=text).metrics


# ------------------------------------------------------------------ math


def test_math500_symbolic_equivalence_on_real_items(data_dir: Path) -> None:
    _, items = _items("math500", data_dir)
    fraction = next(i for i in items if re.fullmatch(r"\\frac\{1\}\{2\}|\\frac\{\d\}\{[245]\}", str(i.target)))
    num, den = map(int, re.findall(r"\d+", str(fraction.target)))
    as_decimal = f"Final Answer: The final answer is ${num / den}$. I hope it is correct."
    assert _score("math500", fraction, as_decimal) == {"equiv": 1.0}
    assert _score("math500", fraction, f"so the result is $\\boxed{{{num}/{den}}}$.") == {"equiv": 1.0}
    assert _score("math500", fraction, f"The final answer is ${num / den + 1}$. I hope it is correct.") == {
        "equiv": 0.0
    }
    assert _score("math500", fraction, "I do not know.") == {"equiv": 0.0}
    # The prompt is lm-eval's Minerva 4-shot prompt.
    assert fraction.context.startswith("Problem:\nFind the domain of the expression")
    assert fraction.context.count("Final Answer: The final answer is") == 4
    assert fraction.context.endswith("\n\nSolution:")


def test_gsm8k_answers_with_commas_and_dollars(data_dir: Path) -> None:
    _, items = _items("gsm8k", data_dir)
    big = next(i for i in items if int(str(i.target)) >= 1000)
    value = int(str(big.target))
    # lm-eval's strict pattern wants digits right after "The answer is": a dollar sign misses it,
    # its flexible extraction (last number, "$" and "," ignored) does not.
    dollars = _score("gsm8k", big, f"... so ${value:,}. The answer is ${value:,}.")
    assert dollars == {"exact_match": 0.0, "exact_match_flexible": 1.0}
    assert _score("gsm8k", big, f"The answer is {value:,}.")["exact_match"] == 1.0
    assert _score("gsm8k", big, f"The answer is {value + 1}.")["exact_match"] == 0.0
    flexible = _score("gsm8k", big, f"It makes {value:,} dollars")
    assert flexible == {"exact_match": 0.0, "exact_match_flexible": 1.0}


def test_mgsm_every_language_is_a_subtask(data_dir: Path) -> None:
    task, items = _items("mgsm", data_dir)
    assert len(task) == 2750
    assert sorted({i.subtask for i in items}) == ["bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh"]
    zh = next(i for i in items if i.subtask == "zh")
    assert _score("mgsm", zh, f"计算之后 The answer is {zh.target}.")["exact_match"] == 1.0
    assert _score("mgsm", zh, "答案是 7")["exact_match"] == 0.0


# ------------------------------------------------------------------ reasoning


def test_bbh_answer_formats(data_dir: Path) -> None:
    _, items = _items("bbh", data_dir)
    by_sub = {i.subtask: i for i in reversed(items)}
    boolean = by_sub["boolean_expressions"]
    assert _score("bbh", boolean, f"Z = ... So the answer is {boolean.target}.")["exact_match"] == 1.0
    choice = by_sub["date_understanding"]
    assert re.fullmatch(r"\([A-F]\)", str(choice.target))
    assert _score("bbh", choice, f"Let me see. So the answer is {choice.target}.")["exact_match"] == 1.0
    assert _score("bbh", choice, f"So the answer is {str(choice.target).strip('()')}.")["exact_match"] == 0.0
    dyck = by_sub["dyck_languages"]
    assert _score("bbh", dyck, f"So the answer is {dyck.target}.")["exact_match"] == 1.0
    assert _score("bbh", dyck, "no idea")["exact_match"] == 0.0


# ------------------------------------------------------------------ knowledge / medical (MC)


def test_truthfulqa_mc1_and_mc2(data_dir: Path) -> None:
    _, mc1 = _items("truthfulqa_mc1", data_dir, 1)
    _, mc2 = _items("truthfulqa_mc2", data_dir, 1)
    first = mc2[0]
    assert first.extra == {"num_true": "3"} and len(first.choice_texts) == 6
    lls = [-1.0, -2.0, -3.0, -1.0, -2.0, -3.0]
    score = score_item(resolve_task("truthfulqa_mc2"), first, loglikelihoods=lls)
    assert score.metrics["mc2"] == pytest.approx(0.5)
    assert score.chance["mc2"] == pytest.approx(0.5)
    item = mc1[0]
    assert item.target == 0 and item.choice_texts[0].startswith("Nothing in particular")
    best_first = [-0.5] + [-3.0] * (len(item.choice_texts) - 1)
    assert score_item(resolve_task("truthfulqa_mc1"), item, loglikelihoods=best_first).metrics == {"acc": 1.0}
    assert item.context.startswith("Q: What is human life expectancy in the United States?")
    assert item.context.endswith("\n\nQ: What happens if you eat a pomegranate?\nA:")


def test_pubmedqa_reasoning_required_setting(data_dir: Path) -> None:
    task, items = _items("pubmedqa", data_dir, 3)
    assert len(task) == 500
    truth = json.loads((data_dir / "pubmedqa" / "test_ground_truth.json").read_text())
    doc = task.docs[0].fields
    assert items[0].choice_texts == ("yes", "no", "maybe")
    assert items[0].target == ["yes", "no", "maybe"].index(truth[doc["id"]])
    assert items[0].context.startswith("Abstract: ") and "\nQuestion: " in items[0].context
    assert doc["LONG_ANSWER"] not in items[0].context  # reasoning-required: no conclusion given


# ------------------------------------------------------------------ safety


def test_xstest_and_advbench_refusal(data_dir: Path) -> None:
    _, items = _items("xstest", data_dir)
    safe = next(i for i in items if i.subtask == "safe")
    unsafe = next(i for i in items if i.subtask == "unsafe")
    refusal = "I'm sorry, but I can't help with that request."
    answer = "Sure. To stop a Python process, find its id with ps and send it a signal with kill."
    assert _score("xstest", safe, refusal) == {"appropriate": 0.0, "refused": 1.0}
    assert _score("xstest", safe, answer) == {"appropriate": 1.0, "refused": 0.0}
    assert _score("xstest", unsafe, refusal) == {"appropriate": 1.0, "refused": 1.0}
    _, adv = _items("advbench", data_dir, 2)
    assert _score("advbench", adv[0], refusal) == {"refused": 1.0}
    assert _score("advbench", adv[0], "Sure, here is a script that does that:") == {"refused": 0.0}


# ------------------------------------------------------------------ instruction following


def test_ifeval_prompt_and_instruction_level(data_dir: Path) -> None:
    _, items = _items("ifeval", data_dir)
    no_comma = next(i for i in items if i.extra["instruction_id_list"] == ["punctuation:no_comma"])
    spec = resolve_task("ifeval")
    ok = score_item(spec, no_comma, generation="A plain answer. It has no commas at all.")
    assert ok.metrics["prompt_level_strict_acc"] == 1.0 and ok.metrics["inst_level_strict_acc"] == 1.0
    bad = score_item(spec, no_comma, generation="Well, this one, sadly, has commas.")
    assert bad.metrics["prompt_level_strict_acc"] == 0.0
    multi = next(i for i in items if len(i.extra["instruction_id_list"]) >= 3)
    score = score_item(spec, multi, generation="x")
    assert score.weights["inst_level_strict_acc"] == len(multi.extra["instruction_id_list"])


# ------------------------------------------------------------------ coding, end to end through the sandbox


def _reference_solutions(data_dir: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (data_dir / "humaneval" / "HumanEval.jsonl").open()]
    return {r["entry_point"]: r["canonical_solution"] for r in rows[:4]}


@pytest.mark.slow
def test_code_tasks_run_in_the_sandbox_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    solutions = _reference_solutions(data_dir)
    names = list(solutions)
    responses: dict[str, str | list[str]] = {f"def {names[0]}(": solutions[names[0]]}
    responses[f"def {names[1]}("] = "    return None\n"  # wrong
    responses[f"def {names[2]}("] = f"```python\ndef {names[2]}(*args):\n    raise SystemExit(1)\n```"
    mbpp = [json.loads(line) for line in (data_dir / "mbpp" / "mbpp.jsonl").open()]
    first_test = next(r for r in mbpp if r["task_id"] == 11)
    responses[first_test["text"]] = first_test["code"]
    backend = FakeBackend("golden", responses=responses, default="    return 0\n")
    options = RunOptions(model="fake:golden", tasks=["humaneval", "mbpp"], data_dir=str(data_dir), limit=4)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    run = execute_run(options, store, prepare_tasks(options), backend, 0.0)
    assert run.status == "finished"
    rows = {(r.task, r.doc_id): r for r in store.run_items(run.id)}
    assert rows[("humaneval", 0)].metrics == {"pass@1": 1.0}
    assert rows[("humaneval", 1)].metrics == {"pass@1": 0.0}
    assert rows[("humaneval", 2)].metrics == {"pass@1": 0.0}
    assert rows[("humaneval", 0)].details is not None and rows[("humaneval", 0)].details["status"] == ["passed"]
    assert rows[("mbpp", 0)].metrics == {"pass@1": 1.0}
    assert rows[("mbpp", 1)].metrics == {"pass@1": 0.0}


@pytest.mark.slow
def test_pass_at_k_from_sampled_generations(data_dir: Path, tmp_path: Path) -> None:
    solutions = _reference_solutions(data_dir)
    name = next(iter(solutions))
    # 10 samples: 3 right, 7 wrong (the fake backend picks sample seed % 10).
    samples = [solutions[name] if j % 10 in (1, 4, 8) else "    return None\n" for j in range(10)]
    backend = FakeBackend("sampler", responses={f"def {name}(": samples}, default="    return None\n")
    options = RunOptions(model="fake:sampler", tasks=["humaneval_sampled"], data_dir=str(data_dir), limit=1)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    prepared = prepare_tasks(options)
    assert prepared[0].items[0].samples == 10 and prepared[0].items[0].temperature == 0.2
    run = execute_run(options, store, prepared, backend, 0.0)
    (row,) = store.run_items(run.id)
    # Seeds 1234..1243 → indices 4, 5, ..., 13 % 10: samples 4 and 8 and 1 (from 11) are right.
    assert row.metrics["pass@1"] == pytest.approx(0.3)
    assert row.metrics["pass@5"] == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))
    assert row.metrics["pass@10"] == 1.0
    assert row.generations is not None and len(row.generations) == 10
