"""MATH answer extraction, Minerva normalization and symbolic equivalence, checked on all of MATH-500."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agimeter.scoring.math_equiv import extract_final_answer, is_equiv, last_boxed, normalize_final_answer

EQUIVALENT = [
    (r"\frac{1}{2}", "0.5"),
    (r"\dfrac{3}{4}", "3/4"),
    (r"\sqrt{2}/2", r"\frac{\sqrt{2}}{2}"),
    (r"2\pi", r"\pi \cdot 2"),
    ("x^2+2x+1", "(x+1)^2"),
    ("(0, 1]", "(0,1]"),
    (r"\text{(B)}", "B"),
    (r"\text{(B)}", "(B)"),
    (r"90^\circ", "90"),
    (r"10\%", "10"),
    (r"5 \text{ cm}", "5"),
    ("(1,2)", "(1, 2)"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\pi/2)"),
    (r"\{1,2\}", r"\{2,1\}"),
    ("1,-2", "-2, 1"),  # MATH lists solutions as bare comma lists: order is free
    (r"x \in [-2,7]", "[-2,7]"),
    (r"3\sqrt{2}", r"\sqrt{18}"),
    (r"\sqrt[3]{8}", "2"),
    ("0.333333", r"\frac13"),
    ("10,000", "10000"),
    (r"\$32", "32"),
    ("x = 5", "5"),
    ("y=2x+3", "y = 3+2x"),
    (r"\frac{1}{2} \cdot x", "x/2"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}"),
    (r"$\frac{14}{3}$", r"\frac{14}{3}"),
    (r"\text{Evelyn}", "Evelyn"),
]
NOT_EQUIVALENT = [
    ("1/2", "2"),
    ("(0,1)", "[0,1]"),
    ("x+1", "x-1"),
    (r"\sqrt{2}", "1.41"),
    ("0.33", r"\frac13"),
    ("52_8", "53_8"),
    (r"\text{east}", r"\text{west}"),
    (r"-\infty", r"\infty"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\\3\end{pmatrix}"),
    ("", ""),
    ("A", "B"),
]


@pytest.mark.parametrize(("prediction", "reference"), EQUIVALENT)
def test_equivalent(prediction: str, reference: str) -> None:
    assert is_equiv(prediction, reference)
    assert is_equiv(reference, prediction)


@pytest.mark.parametrize(("prediction", "reference"), NOT_EQUIVALENT)
def test_not_equivalent(prediction: str, reference: str) -> None:
    assert not is_equiv(prediction, reference)
    assert not is_equiv(reference, prediction)


def test_extract_final_answer() -> None:
    minerva = "So $x = 4$.\nFinal Answer: The final answer is $\\frac{14}{3}$. I hope it is correct."
    assert extract_final_answer(minerva) == r"$\frac{14}{3}$"
    assert extract_final_answer(r"The final answer is $\frac{14}{3}$. I hope it is correct.") == r"$\frac{14}{3}$"
    assert normalize_final_answer(extract_final_answer(minerva) or "") == r"\frac{14}{3}"
    # Minerva's sentence wins over a box; without it, the last box.
    assert extract_final_answer("\\boxed{3}\nFinal Answer: The final answer is $4$. I hope it is correct.") == "$4$"
    assert extract_final_answer(r"so $\boxed{2}$, no wait, $\boxed{\frac{1}{\sqrt{2}}}$.") == r"\frac{1}{\sqrt{2}}"
    assert extract_final_answer("I think the answer is 7.") is None
    assert extract_final_answer("") is None


def test_last_boxed() -> None:
    assert last_boxed(r"$\boxed{\frac{1}{\sqrt{2}}}$") == r"\frac{1}{\sqrt{2}}"
    assert last_boxed(r"\boxed{1} then \fbox{2}") == "2"
    assert last_boxed(r"\boxed{\{1,2\}}") == r"\{1,2\}"
    assert last_boxed(r"\boxed{\left\{ x \right.}") == r"\left\{ x \right."  # unpaired escaped brace
    assert last_boxed(r"\boxed {5}") == "5"
    assert last_boxed(r"is $\boxed 5$.") == "5"  # lm-eval's "\boxed " form
    assert last_boxed(r"\boxed{\frac{1}{2}") is None  # cut off mid-answer
    assert last_boxed(r"\boxedfoo{1}") is None
    assert last_boxed("no box") is None


@pytest.mark.timing
def test_pathological_input_returns_within_timeout() -> None:
    timeout_s = 1.0
    started = time.monotonic()
    assert not is_equiv(r"9^{9^{9^{9}}}", "1", timeout_s=timeout_s)
    assert time.monotonic() - started < 3 * timeout_s


def test_deadline_restores_an_outer_alarm() -> None:
    fired: list[int] = []

    def outer(signum: int, frame: Any) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        assert is_equiv("x^2+2x+1", "(x+1)^2")
        assert signal.getsignal(signal.SIGALRM) is outer
        time.sleep(0.5)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_works_off_the_main_thread() -> None:
    # Signals only reach the main thread: elsewhere the comparison runs without a deadline, but runs.
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(is_equiv(r"\frac{1}{2}", "0.5")))
    worker.start()
    worker.join(30)
    assert results == [True]


# --- all 500 rows of MATH-500 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def math500(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "math500" / "test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) == 500
    return rows


def test_math500_answers_match_their_solutions(math500: list[dict[str, Any]]) -> None:
    boxed = [last_boxed(row["solution"]) for row in math500]
    assert None not in boxed
    assert all(is_equiv(row["answer"], row["answer"]) for row in math500)
    disagree = [
        row["unique_id"] for row, box in zip(math500, boxed, strict=True) if not is_equiv(box or "", row["answer"])
    ]
    assert disagree == []  # no known exceptions: all 500 agree


def test_math500_rewritten_answers_stay_equivalent(math500: list[dict[str, Any]]) -> None:
    # Each rewrite changes the string, so agreement must come from the symbolic path.
    def rewrite(answer: str) -> str:
        answer = answer.replace(r"\frac", r"\dfrac").replace(",", ", ")
        return answer.replace("(", r"\left(").replace(")", r"\right)") if r"\left" not in answer else answer

    disagree = [row["answer"] for row in math500 if not is_equiv(rewrite(row["answer"]), row["answer"])]
    assert disagree == []


def test_math500_wrong_answers_are_rejected(math500: list[dict[str, Any]]) -> None:
    accepted = [row["answer"] for row in math500 if is_equiv(row["answer"] + "+1", row["answer"])]
    assert len(accepted) <= 5, accepted  # 0 with math-verify 0.9.0


def _lm_eval_minerva() -> ModuleType:
    try:
        from lm_eval.tasks.minerva_math import utils
    except (ImportError, AssertionError):  # lm-eval asserts antlr4-python3-runtime 4.11
        pytest.skip("lm-eval's minerva_math utils not importable")
    return utils


def test_matches_lm_eval_extraction_and_normalization(math500: list[dict[str, Any]]) -> None:
    utils = _lm_eval_minerva()
    for doc in utils.list_fewshot_samples():
        assert extract_final_answer(doc["solution"]) == utils.get_unnormalized_answer(doc["solution"])
    for row in math500:
        expected_box = utils.remove_boxed(utils.last_boxed_only_string(row["solution"]))
        assert last_boxed(row["solution"]) == expected_box
        for text in (row["answer"], expected_box, row["solution"][-200:], row["problem"][-100:]):
            assert normalize_final_answer(text) == utils.normalize_final_answer(text), text
