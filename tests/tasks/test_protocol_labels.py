"""Every built-in task's listed protocol (shots, chat) matches what its rendered prompt shows.

The shots a task lists (``TaskSpec.shots``, stored as ``protocol.fewshot.num_fewshot`` and shown by
``agimeter tasks``, the report and the leaderboard) are checked against the exemplars counted in
item 0's rendered context, with a marker per task that starts every question block (the
evaluated question's own block included). The listed chat setting is checked against the chat
markers of the prompt a chat model receives under the task's own protocol.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agimeter.backends.fake import FakeBackend
from agimeter.runner.execute import Executor
from agimeter.runner.meter import Meter
from agimeter.runner.session import RunOptions, execute_run, prepare_tasks
from agimeter.store.repository import Store
from agimeter.tasks import Task, builtin_task_names, resolve_task

# task -> (a pattern that starts each question block, blocks that are part of a 0-shot protocol)
BLOCKS: dict[str, tuple[str, int]] = {
    "mmlu": (r"\nAnswer:", 0),
    "arc_challenge": (r"\nAnswer:", 0),
    "hellaswag": (r"(?:^|\n\n)[^\n]", 0),  # one paragraph per block: exemplars end with "\n\n"
    "truthfulqa_mc1": (r"(?:^|\n)Q: ", 6),  # lm-eval's 6-question QA primer is the 0-shot protocol
    "truthfulqa_mc2": (r"(?:^|\n)Q: ", 6),
    "pubmedqa": (r"Abstract: ", 0),
    "gsm8k": (r"(?:^|\n)Q: ", 0),
    "mgsm": (r"(?:^|\n)Q: ", 0),
    "math500": (r"(?:^|\n)Problem:", 0),
    "mbpp": (r"You are an expert Python programmer", 0),
    "bbh": (r"(?:^|\n)Q: ", 0),
    "offline_arith_mc": (r"(?:^|\n)Question: ", 0),
    "offline_arith_gen": (r"(?:^|\n)Question: ", 0),
    "offline_wordprob_mc": (r"(?:^|\n)Question: ", 0),
    "offline_wordprob_gen": (r"(?:^|\n)Question: ", 0),
    "offline_logic_mc": (r"(?:^|\n)Question: ", 0),
    "offline_logic_gen": (r"(?:^|\n)Question: ", 0),
    "humaneval_instruct": (r"Can you complete the following Python function\?", 0),
    "mbpp_instruct": (r"Can you complete the following Python function\?", 0),
}
# 0-shot tasks that send one document's own text and nothing else: the field holding it
RAW_FIELD = {"humaneval": "prompt", "humaneval_sampled": "prompt", "ifeval": "prompt", "xstest": "prompt"}
RAW_FIELD["advbench"] = "goal"
CHAT_MARKER = "<|user|>"  # what the fake chat template writes


def test_every_builtin_task_is_covered() -> None:
    assert set(builtin_task_names()) == set(BLOCKS) | set(RAW_FIELD)


def _needs_data(name: str, data_dir: Path) -> Task:
    spec = resolve_task(name)
    return Task(spec, data_dir)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_listed_shots_are_the_exemplars_in_the_prompt(name: str, data_dir: Path) -> None:
    task = _needs_data(name, data_dir)
    (item,) = task.items(limit=1)
    pattern, primer = BLOCKS[name]
    blocks = len(re.findall(pattern, item.context))
    assert blocks - 1 - primer == task.spec.shots, (name, blocks)
    protocol = task.protocol()
    assert protocol["fewshot"]["num_fewshot"] == task.spec.shots == protocol["standard"]["num_fewshot"]


@pytest.mark.parametrize("name", sorted(RAW_FIELD))
def test_zero_shot_tasks_send_only_the_document(name: str, data_dir: Path) -> None:
    task = _needs_data(name, data_dir)
    (item,) = task.items(limit=1)
    assert task.spec.shots == 0
    assert item.context == str(task.docs[0].fields[RAW_FIELD[name]])


def test_bbh_is_listed_as_3_shot_chain_of_thought(data_dir: Path) -> None:
    spec = resolve_task("bbh")
    assert spec.shots == 3 and spec.fewshot.chain_of_thought
    (item,) = Task(spec, data_dir).items(limit=1)
    assert item.context.count("A: Let's think step by step.") == 4  # 3 exemplars + the question


@pytest.mark.parametrize("name", sorted(set(BLOCKS) | set(RAW_FIELD)))
def test_listed_chat_matches_the_prompt_a_chat_model_gets(name: str, data_dir: Path) -> None:
    task = _needs_data(name, data_dir)
    (item,) = task.items(limit=1)
    backend = FakeBackend("chat", chat_template=True)
    executor = Executor(backend, Store.open("sqlite:///:memory:"), Meter(), numerics={}, chat_mode="auto")
    rendered = executor.render(task.spec, item)
    assert (CHAT_MARKER in rendered) == task.spec.prompt.chat == task.protocol()["standard"]["chat"], name


@pytest.mark.parametrize(("mode", "applied"), [("on", True), ("off", False), ("auto", False)])
def test_the_stored_protocol_says_whether_the_chat_template_was_applied(
    mode: str, applied: bool, tmp_path: Path
) -> None:
    """``--chat on`` stored ``chat: false`` (the task's default) in the run's protocol."""
    options = RunOptions(model="fake:chat", tasks=["offline_arith_mc"], limit=3, chat=mode)  # type: ignore[arg-type]
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    run = execute_run(options, store, prepare_tasks(options), FakeBackend("chat", chat_template=True), 0.0)
    protocol = run.summary["protocols"]["offline_arith_mc"]
    assert protocol["prompt"]["chat"] is applied and run.summary["chat_template"]["offline_arith_mc"] is applied
    assert protocol["standard"] == {"num_fewshot": 3, "chat": False}
    fresh = prepare_tasks(options)[0].protocol
    assert (protocol["protocol_hash"] == fresh["protocol_hash"]) is (not applied)
    assert run.summary["task_sizes"] == {"offline_arith_mc": 99}
