"""The Qwen2.5-Coder Instruct EvalPlus protocol (humaneval_instruct, mbpp_instruct): the prompt
sent equals the one Qwen's qwencoder-eval/instruct/eval_plus/model.py writes by hand, the
response prefix opens the answer, and the completion alone is what runs against the tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import jinja2
import pytest

from agimeter.backends.fake import FakeBackend
from agimeter.runner.execute import Executor
from agimeter.scoring.code import build_program
from agimeter.tasks import Task, resolve_task
from agimeter.tasks.spec import Prompt, TaskSpec
from agimeter.testing.models import CHAT_TEMPLATE

QWEN_SYSTEM = "You are an intelligent programming assistant to produce Python algorithmic solutions"

# EvalPlus MBPP+ v0.2.0 drops these 21 of v0.1.0's 399 tasks (evalplus tools/mbpp/fix_v010.py).
MBPP_PLUS_V020_REMOVED = {
    83,
    115,
    117,
    143,
    164,
    229,
    249,
    295,
    396,
    400,
    407,
    431,
    438,
    442,
    461,
    574,
    582,
    595,
    640,
    746,
    783,
}


def qwen_chatml(prompt: str) -> str:
    """``ChatML.codegen`` of qwencoder-eval/instruct/eval_plus/model.py, applied to the prompt that
    generate.py passes (``task["prompt"].strip()``)."""
    prompt = prompt.strip()
    return f"""<|im_start|>system
{QWEN_SYSTEM}<|im_end|>
<|im_start|>user
Can you complete the following Python function?
```python
{prompt}
```
<|im_end|>
<|im_start|>assistant
```python
"""


class ChatMLBackend(FakeBackend):
    """The fake backend with a ChatML chat template (the one Qwen2.5's reduces to when a system
    message is given)."""

    def __init__(self) -> None:
        super().__init__(chat_template=True)
        self._template = jinja2.Environment().from_string(CHAT_TEMPLATE)

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        return self._template.render(messages=list(messages), add_generation_prompt=True)


def render(task_name: str, data_dir: Path, limit: int) -> list[tuple[str, Any]]:
    task = Task(resolve_task(task_name), data_dir)
    executor = Executor(ChatMLBackend(), store=cast(Any, None), meter=cast(Any, None), numerics={})
    return [(executor.render(task.spec, item), item) for item in task.items(limit=limit)]


def test_humaneval_instruct_sends_qwens_prompt(data_dir: Path) -> None:
    docs = [json.loads(line) for line in (data_dir / "humaneval" / "HumanEval.jsonl").read_text().splitlines()[:5]]
    rendered = render("humaneval_instruct", data_dir, limit=5)
    for doc, (prompt, item) in zip(docs, rendered, strict=True):
        assert prompt == qwen_chatml(doc["prompt"])
        # no prompt prefix: the prompt is only the tests' context
        assert item.extra == {
            "tests": f"{doc['test']}\ncheck({doc['entry_point']})",
            "test_context": doc["prompt"],
            "candidate": doc["entry_point"],
        }


def test_mbpp_instruct_is_evalplus_problem_set_in_qwens_prompt(data_dir: Path) -> None:
    task = Task(resolve_task("mbpp_instruct"), data_dir)
    assert len(task) == 378
    records = {r["task_id"]: r for r in map(json.loads, (data_dir / "mbpp" / "mbpp.jsonl").read_text().splitlines())}
    kept = [doc.fields["task_id"] for doc in task.docs]
    assert not MBPP_PLUS_V020_REMOVED & set(kept)
    assert kept[:4] == [2, 3, 4, 6] and kept[-1] == 809
    for prompt, item in render("mbpp_instruct", data_dir, limit=3):
        record = records[kept[item.doc_id]]
        evalplus_prompt = f'"""\n{record["text"]}\n{record["test_list"][0]}\n"""\n'
        assert prompt == qwen_chatml(evalplus_prompt)
        assert item.extra["tests"].splitlines()[-3:] == record["test_list"]


def test_without_chat_the_response_prefix_ends_the_plain_prompt(data_dir: Path) -> None:
    item = Task(resolve_task("humaneval_instruct"), data_dir).items(limit=1)[0]
    executor = Executor(ChatMLBackend(), store=cast(Any, None), meter=cast(Any, None), numerics={}, chat_mode="off")
    prompt = executor.render(resolve_task("humaneval_instruct"), item)
    assert prompt.startswith("Can you complete the following Python function?\n```python\nfrom typing import List")
    assert prompt.endswith("```\n```python\n") and QWEN_SYSTEM not in prompt


def test_the_completion_alone_is_run_after_the_opened_fence(data_dir: Path) -> None:
    item = Task(resolve_task("humaneval_instruct"), data_dir).items(limit=1)[0]
    completion = "from typing import List\n\ndef has_close_elements(numbers, threshold):\n    return False"
    program = build_program(item, completion)
    assert program.startswith(completion + "\n") and "check(has_close_elements)" in program


DECODE_CYCLIC = """def decode_cyclic(s: str):
    groups = [s[(3 * i):min((3 * i + 3), len(s))] for i in range((len(s) + 2) // 3)]
    groups = [(group[-1:] + group[:-1]) if len(group) == 3 else group for group in groups]
    return "".join(groups)"""


@pytest.mark.parametrize(
    ("answer", "status", "reason"),
    [
        (DECODE_CYCLIC, "passed", ""),  # the tests need the prompt's encode_cyclic; the answer need not repeat it
        ("def decode_cyclic(s: str):\n    return s", "failed", "AssertionError"),
        # an answer that leans on the prompt's helper fails, as under EvalPlus (its code runs alone)
        ("def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))", "failed", "NameError"),
        ("def other(s):\n    return s", "failed", "NameError"),  # no entry point: nothing to bind
        # a forgery: shadowing exec/compile at the top level does not skip the tests
        (
            "def exec(*a, **k):\n    pass\n\ndef compile(*a, **k):\n    pass\n\n"
            "def decode_cyclic(s: str):\n    return s",
            "failed",
            "AssertionError",
        ),
    ],
)
def test_tests_see_the_prompts_helpers_and_the_answer_only_its_own(
    data_dir: Path, answer: str, status: str, reason: str
) -> None:
    from agimeter.scoring.sandbox import run_program

    items = Task(resolve_task("humaneval_instruct"), data_dir).items()
    item = next(i for i in items if i.doc_id == 38)
    assert "def encode_cyclic" in str(item.extra["test_context"]) and item.extra["candidate"] == "decode_cyclic"
    result = run_program(build_program(item, answer))
    assert result.status == status
    assert reason in (result.reason or "")


def test_system_and_description_are_exclusive() -> None:
    with pytest.raises(ValueError, match="both system text"):
        Prompt(doc_to_text="x", doc_to_target="y", system="s", description="d")


def test_unused_new_prompt_fields_leave_older_protocol_hashes_alone(data_dir: Path) -> None:
    spec = resolve_task("humaneval")
    proto = Task(spec, data_dir).protocol()
    assert "system" not in proto["prompt"] and "response_prefix" not in proto["prompt"]
    changed = TaskSpec.model_validate(
        {**spec.model_dump(), "prompt": {**spec.prompt.model_dump(), "response_prefix": "```python\n"}}
    )
    assert Task(changed, data_dir).protocol()["protocol_hash"] != proto["protocol_hash"]
