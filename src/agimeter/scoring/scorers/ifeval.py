"""``ifeval``: IFEval's strict and loose instruction checks, prompt- and instruction-level; an item
weighs as many instructions as it has in the instruction-level means (see ``scoring.ifeval``)."""

from __future__ import annotations

from agimeter.scoring.base import Judged, SampleScorer
from agimeter.scoring.registry import scorer
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec


@scorer("ifeval")
class IFEval(SampleScorer):
    metrics = ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc")

    def judge(self, spec: TaskSpec, item: Item, generation: str) -> Judged:
        from agimeter.scoring.ifeval import evaluate

        record = {"prompt": item.extra.get("prompt", ""), **item.extra}
        result = evaluate(record, generation)
        n = len(result.instruction_ids)
        strict, loose = sum(result.follow_strict), sum(result.follow_loose)
        metrics = {
            "prompt_level_strict_acc": float(result.prompt_strict),
            "inst_level_strict_acc": strict / n if n else 0.0,
            "prompt_level_loose_acc": float(result.prompt_loose),
            "inst_level_loose_acc": loose / n if n else 0.0,
        }
        details = {
            "instructions": result.instruction_ids,
            "follow_strict": result.follow_strict,
            "follow_loose": result.follow_loose,
        }
        weights = {"inst_level_strict_acc": float(n), "inst_level_loose_acc": float(n)}
        return Judged(metrics, extracted=None, weights=weights, details=details)
