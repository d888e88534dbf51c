"""MATH answers: Minerva extraction and normalization, then symbolic equivalence via HF's math-verify.

Extraction and ``normalize_final_answer`` follow lm-eval 0.4.13's ``minerva_math`` task (the Minerva paper's
appendix D, with lm-eval's fixes). Equivalence is string equality after that normalization, else symbolic
equality decided by ``math_verify`` (``latex2sympy2_extended`` + sympy), which also understands intervals,
sets, tuples, matrices, equations and percentages, where lm-eval's ``sympy.parse_latex`` gives up.

Timeout: sympy can run for minutes on adversarial input. The symbolic step runs under one ``SIGALRM`` deadline
(``signal.setitimer``, so fractional seconds work) that raises a ``BaseException`` so neither math-verify nor
sympy swallow it. Signals are only delivered to the main thread: called from another thread, the symbolic
step runs without a deadline (score in processes, not threads, when inputs are untrusted). A computation stuck
in one C call (a huge big-int power) is only interrupted when it returns to Python.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from math_verify import parse, verify

# math-verify logs a warning when its own (alarm-based) timeout is off; ours replaces it, so drop that line.
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(lambda record: not record.getMessage().startswith("Timeout is disabled"))

# lm-eval appends the end sequence first, so a generation cut at the stop string still matches.
_END = "I hope it is correct."
_MINERVA = re.compile(r"Final Answer: The final answer is(.*?). I hope it is correct.", re.DOTALL)
# Same sentence without the "Final Answer:" lead-in; tried only when lm-eval's pattern misses.
_MINERVA_LOOSE = re.compile(r"The final answer is(.*?). I hope it is correct.", re.DOTALL)
_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_PERCENT = re.compile(r"\\?%")

# lm-eval 0.4.13 minerva_math/utils.py, verbatim.
SUBSTITUTIONS = [
    ("an ", ""),
    ("a ", ""),
    (".$", "$"),
    ("\\$", ""),
    (r"\ ", ""),
    (" ", ""),
    ("mbox", "text"),
    (",\\text{and}", ","),
    ("\\text{and}", ","),
    ("\\text{m}", "\\text{}"),
]
REMOVED_EXPRESSIONS = [
    "square",
    "ways",
    "integers",
    "dollars",
    "mph",
    "inches",
    "ft",
    "hours",
    "km",
    "units",
    "\\ldots",
    "sue",
    "points",
    "feet",
    "minutes",
    "digits",
    "cents",
    "degrees",
    "cm",
    "gm",
    "pounds",
    "meters",
    "meals",
    "edges",
    "students",
    "childrentickets",
    "multiples",
    "\\text{s}",
    "\\text{.}",
    "\\text{\ns}",
    "\\text{}^2",
    "\\text{}^3",
    "\\text{\n}",
    "\\text{}",
    r"\mathrm{th}",
    r"^\circ",
    r"^{\circ}",
    r"\;",
    r",\!",
    "{,}",
    '"',
    "\\dots",
]


def extract_final_answer(generation: str) -> str | None:
    """Minerva's "Final Answer: The final answer is X. I hope it is correct." X, else the last ``\\boxed{}``.

    X is returned as lm-eval's ``get_unnormalized_answer`` returns it (``$`` kept). Where lm-eval's pattern
    misses, the same sentence without "Final Answer:" is accepted before falling back to the box.
    """
    text = generation + _END
    match = _MINERVA.search(text) or _MINERVA_LOOSE.search(text)
    if match:
        return match.group(1).strip()
    return last_boxed(generation)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` (nested braces handled); None if absent or unclosed."""
    starts = [m.end() for m in _BOX.finditer(text)]
    if not starts:
        return None
    i = starts[-1]
    rest = text[i:]
    if not rest.lstrip().startswith("{"):
        # "\boxed 5$": like lm-eval, everything up to the next "$".
        return (rest.split("$")[0].strip() or None) if rest.startswith(" ") else None
    i += len(rest) - len(rest.lstrip())
    depth = 0
    j = i
    while j < len(text):
        char = text[j]
        if char == "\\":
            j += 2  # "\{", "\}" and "\\" are escapes, never grouping: "\boxed{\{1,2\}}" is a set
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
        j += 1
    return None


def normalize_final_answer(answer: str) -> str:
    """Minerva's answer normalization, as lm-eval 0.4.13 ``minerva_math`` has it (units, ``\\text``, ``$``...)."""
    answer = answer.split("=")[-1]
    # Unit words go while whitespace still delimits them: "2\pi cm" loses "cm", "\left" keeps its "ft".
    for expr in REMOVED_EXPRESSIONS:
        if expr.isalpha():
            answer = re.sub(rf"(?<!\\)\b{expr}\b", "", answer)
    for before, after in SUBSTITUTIONS:
        answer = answer.replace(before, after)
    for expr in REMOVED_EXPRESSIONS:
        if expr.isalpha():
            # Units glued on once whitespace is gone; LaTeX command names are left alone.
            segments = re.split(r"(\\[a-zA-Z]+)", answer)
            segments[::2] = [segment.replace(expr, "") for segment in segments[::2]]
            answer = "".join(segments)
        else:
            answer = answer.replace(expr, "")

    answer = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", answer)
    answer = re.sub(r"(\\text\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", answer)

    # Shorthand TeX: \fracab -> \frac{a}{b}, \sqrt[3]a -> \sqrt[3]{a}, \sqrta -> \sqrt{a}.
    answer = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", answer)
    answer = re.sub(r"(sqrt)(\[[^\]]*\])(\w)", "\\1\\2{\\3}", answer)
    answer = re.sub(r"(sqrt)(?!\[)([^{])", "sqrt{\\2}", answer)
    answer = answer.replace("$", "")

    # 100,000 -> 100000, but only true thousands groups: the tuple "0,1" must not become "01".
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", answer):
        answer = answer.replace(",", "")
    return answer


def is_equiv(prediction: str, reference: str, timeout_s: float = 5.0) -> bool:
    """True when the answers are equal after Minerva normalization, or symbolically equal (math-verify).

    Both sides may be raw (``$...$``, units, ``\\text``); ``timeout_s`` bounds the symbolic step as a whole.
    Unlike lm-eval, a percent sign is dropped before comparing (``10\\%`` equals ``10``).
    """
    norm_pred = _PERCENT.sub("", normalize_final_answer(prediction))
    norm_ref = _PERCENT.sub("", normalize_final_answer(reference))
    if norm_pred and norm_pred == norm_ref:
        return True
    try:
        with _deadline(timeout_s):
            # Normalized first (units gone); raw second, as normalization can break LaTeX that math-verify
            # reads: it drops the "\ " of a matrix row break "\\ 2" and fuses "\cdot x" into "\cdotx".
            return _symbolic_equiv(norm_pred, norm_ref) or _symbolic_equiv(prediction, reference)
    except _DeadlineExceeded:
        return False


def _symbolic_equiv(prediction: str, reference: str) -> bool:
    if not prediction.strip() or not reference.strip():
        return False
    gold = parse(_as_math(reference), parsing_timeout=None)
    target = parse(_as_math(prediction), parsing_timeout=None)
    return bool(gold and target and verify(gold, target, timeout_seconds=None))


def _as_math(answer: str) -> str:
    """Wrap a bare answer so math-verify reads all of it as one LaTeX expression."""
    answer = answer.strip()
    return answer if answer.startswith("$") else f"${answer}$"


class _DeadlineExceeded(BaseException):
    """Raised from SIGALRM; a BaseException so ``except Exception`` in sympy/math-verify cannot swallow it."""


def _raise_deadline(signum: int, frame: FrameType | None) -> None:
    raise _DeadlineExceeded


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread only; elsewhere it runs unbounded)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _raise_deadline)
    outer_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, previous)
            if outer_delay:  # someone else's alarm was pending: re-arm it with what is left
                signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - started), 1e-3))
