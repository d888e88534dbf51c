"""``exact_match``: the answer pulled out by the spec's extraction (lm-eval's regex filters), compared
exactly with the target; ``exact_match_flexible`` with the last number when the spec asks for it."""

from __future__ import annotations

from agimeter.scoring.base import Judged, SampleScorer
from agimeter.scoring.extraction import INVALID, exact_match, last_number, regex_extract
from agimeter.scoring.registry import scorer
from agimeter.tasks.item import Item
from agimeter.tasks.spec import Extraction, TaskSpec


def extract_answer(text: str, extraction: Extraction | None) -> str:
    """The answer per the spec's extraction (primary, as lm-eval's strict filter + take_first)."""
    if extraction is None or extraction.kind == "full":
        return text.strip() if extraction is not None else text
    if extraction.kind == "last_number":
        return last_number(text, fallback=extraction.miss_value)
    assert extraction.pattern is not None  # TaskSpec validation
    answer = regex_extract(text, extraction.pattern, group_select=extraction.group_select, fallback=INVALID)
    if answer == INVALID:
        if extraction.fallback == "last_number":
            return last_number(text, fallback=extraction.miss_value)
        return extraction.miss_value
    return answer


@scorer("exact_match")
class ExactMatch(SampleScorer):
    metrics = ("exact_match",)  # and exact_match_flexible when extraction.flexible is on

    def judge(self, spec: TaskSpec, item: Item, generation: str) -> Judged:
        ext = spec.extraction
        ignore = ext.ignore_regexes if ext else []
        ignore_case = ext.ignore_case if ext else False
        reference = str(item.target)
        answer = extract_answer(generation, ext)
        metrics = {"exact_match": float(exact_match(answer, reference, ignore_regexes=ignore, ignore_case=ignore_case))}
        flexible = None
        if ext is not None and ext.flexible:
            flexible = last_number(generation, fallback=ext.miss_value)
            metrics["exact_match_flexible"] = float(
                exact_match(flexible, reference, ignore_regexes=ignore, ignore_case=ignore_case)
            )
        return Judged(metrics, extracted=answer, extracted_flexible=flexible)
