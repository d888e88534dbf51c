"""``math_equiv``: Minerva-style extraction ("The final answer is X", else the last \\boxed{}), then
symbolic equivalence with the reference (sympy, after LaTeX normalization); see ``scoring.math_equiv``."""

from __future__ import annotations

from agimeter.scoring.base import Judged, SampleScorer
from agimeter.scoring.registry import scorer
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec


@scorer("math_equiv")
class MathEquiv(SampleScorer):
    metrics = ("equiv",)

    def judge(self, spec: TaskSpec, item: Item, generation: str) -> Judged:
        from agimeter.scoring.math_equiv import extract_final_answer, is_equiv  # sympy: imported when used

        answer = extract_final_answer(generation)
        ok = answer is not None and is_equiv(answer, str(item.target))
        return Judged({"equiv": float(ok)}, extracted=answer if answer is not None else "[invalid]")
