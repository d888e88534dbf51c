"""Code tasks (HumanEval, MBPP): build the test program for each sample, run it in the sandbox,
and turn passes into pass@k with the unbiased estimator (Chen et al. 2021).

The program is lm-eval's: ``prefix + completion + "\\n" + tests`` (HumanEval: prefix = the
prompt, tests = ``test`` + ``check(entry_point)``; MBPP: no prefix, tests = the three asserts).
A completion written as a Markdown code block (chat models) is taken from the block; after a
HumanEval prefix, whose docstring leaves a function body open, a ``pass`` line closes it first so
the block's own definition replaces it.

With ``test_context`` and ``candidate`` fields (``humaneval_instruct``), the answer runs alone and
the tests run in their own namespace: ``test_context`` (the problem prompt) is executed there first,
then the answer's ``candidate`` function is bound into it. The tests find the prompt's helpers
(HumanEval/38's ``check`` calls ``encode_cyclic``, which the answer need not repeat), while the
answer itself sees only its own code, as under EvalPlus, which calls the answer's function on
inputs and compares with the ground truth's outputs.

A sample passes only when the sandbox says ``passed``: exit 0 *after* the program's last statement
(the tests) ran, which the sandbox's per-run pass marker proves; a completion that exits early
(``sys.exit(0)``, ``os._exit(0)``, an atexit hook) fails whatever its exit status.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agimeter.errors import DataError
from agimeter.scoring.base import Judged
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec

if TYPE_CHECKING:
    from agimeter.scoring.sandbox import ExecResult, SandboxLimits

_FENCE = re.compile(r"```[\w+-]*\n?(.*?)(?:\n?```|$)", re.DOTALL)


def fenced_code(text: str) -> str | None:
    """The first Markdown code block (an unterminated last block counts), or None."""
    match = _FENCE.search(text)
    return match.group(1) if match else None


def build_program(item: Item, completion: str) -> str:
    if "tests" not in item.extra:
        raise DataError(f"{item.task} doc {item.doc_id}: code tasks need scoring.fields.tests")
    prefix = str(item.extra.get("prefix", ""))
    tests = str(item.extra["tests"])
    block = fenced_code(completion)
    if block is None:
        body = prefix + completion
    elif prefix:
        body = prefix.rstrip("\n") + "\n    pass\n\n" + block
    else:
        body = block
    context = item.extra.get("test_context")
    if context is not None:
        tests = _tests_in_own_namespace(str(context), str(item.extra.get("candidate", "")), tests, item)
    return body + "\n" + tests + "\n"


def _tests_in_own_namespace(context: str, candidate: str, tests: str, item: Item) -> str:
    if not candidate.isidentifier():
        raise DataError(f"{item.task} doc {item.doc_id}: scoring.fields.candidate must name the answer's function")
    # ``exec`` and ``compile`` through a fresh ``import builtins``: an answer that defines its own
    # top-level ``exec`` (a no-op) must not turn the tests into nothing that passes.
    return (
        "import builtins as _agimeter_builtins\n"
        "_agimeter_tests = {'__name__': '__agimeter_tests__'}\n"
        f"_agimeter_builtins.exec(_agimeter_builtins.compile({context!r}, '<prompt>', 'exec'), _agimeter_tests)\n"
        f"_agimeter_tests[{candidate!r}] = {candidate}\n"
        f"_agimeter_builtins.exec(_agimeter_builtins.compile({tests!r}, '<tests>', 'exec'), _agimeter_tests)"
    )


def limits_for(spec: TaskSpec) -> SandboxLimits:
    from agimeter.scoring.sandbox import SandboxLimits

    timeout = spec.scoring.timeout_s
    return SandboxLimits(wall_s=timeout, cpu_s=timeout, memory_mb=spec.scoring.memory_mb)


def pass_metrics(spec: TaskSpec, n: int, passed: int) -> dict[str, float]:
    from agimeter.scoring.passk import pass_at_k

    out = {}
    for metric in spec.metrics:
        k = int(metric.removeprefix("pass@"))
        out[metric] = pass_at_k(n, passed, k)
    return out


def judge_code(spec: TaskSpec, results: Sequence[ExecResult]) -> Judged:
    """pass@k from the sandbox results of one item's n samples."""
    passed = sum(r.status == "passed" for r in results)
    details = {
        "passed": passed,
        "samples": len(results),
        "status": [r.status for r in results],
        "reason": [r.reason for r in results],
    }
    first = results[0]
    return Judged(pass_metrics(spec, len(results), passed), extracted=first.status, details=details)
