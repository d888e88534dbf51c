"""Named record preprocessors (``prompt.preprocess`` in a task spec): lm-eval's ``process_docs``.

A plugin adds one with ``@preprocessor("name")`` in a module named by an ``agimeter.preprocessors``
entry point (see ``agimeter.registry``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from agimeter.errors import TaskSpecError
from agimeter.registry import Registry

Record = dict[str, Any]
Preprocessor = Callable[[Record], Record]

PREPROCESSORS: Registry[Preprocessor] = Registry("preprocessor", group="agimeter.preprocessors", error=TaskSpecError)


def preprocessor(name: str) -> Callable[[Preprocessor], Preprocessor]:
    """``@preprocessor("name")`` on ``doc -> doc``: tasks use it with ``prompt.preprocess: name``."""
    return PREPROCESSORS.decorator(name)


_SENTENCE_END = (".", "!", "?", '"', "'")


def hellaswag_text_preprocess(text: str) -> str:
    """lm_eval/tasks/hellaswag/utils.py ``preprocess``, verbatim."""
    text = text.strip()
    # Brackets are artifacts of the WikiHow part of HellaSwag.
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def split_hellaswag_context(ctx: str) -> tuple[str, str]:
    """Recover (ctx_a, ctx_b) from ``ctx_a + " " + ctx_b`` (see hellaswag/SOURCE.md).

    ctx_b is the fragment after the last ". " when the context does not end a sentence and
    that fragment starts lower-case; otherwise ctx_b is empty.
    """
    stripped = ctx.rstrip()
    if stripped.endswith(_SENTENCE_END):
        return ctx, ""
    cut = stripped.rfind(". ")
    if cut < 0:
        return ctx, ""
    fragment = stripped[cut + 2 :]
    if not fragment or not fragment[0].islower():
        return ctx, ""
    return stripped[: cut + 1], fragment


@preprocessor("hellaswag")
def hellaswag(doc: Record) -> Record:
    """HellaSwag record → lm-eval's processed doc {query, choices, gold} (its ``process_docs``).

    Records with ``ctx_a``/``ctx_b`` (the original layout) use them as lm-eval does; text-format
    records have only ``ctx``, split back by ``split_hellaswag_context``."""
    if "ctx_a" in doc and "ctx_b" in doc:
        ctx_a, ctx_b = str(doc["ctx_a"]), str(doc["ctx_b"])
    else:
        ctx_a, ctx_b = split_hellaswag_context(str(doc["ctx"]))
    ctx = ctx_a + " " + ctx_b.capitalize()
    return {
        **doc,
        "ctx_a": ctx_a,
        "ctx_b": ctx_b,
        "query": hellaswag_text_preprocess(str(doc["activity_label"]) + ": " + ctx),
        "choices": [hellaswag_text_preprocess(str(e)) for e in doc["endings"]],
        "gold": int(doc["label"]),
    }


def _labelled(doc: Record, key: str) -> list[tuple[str, int]]:
    targets = doc[key]
    if isinstance(targets, dict) and "choices" in targets:  # HF truthful_qa: {choices, labels}
        return [(str(c), int(lab)) for c, lab in zip(targets["choices"], targets["labels"], strict=True)]
    if not isinstance(targets, dict):
        raise ValueError(f"{key} must be an object of answer -> 0/1")
    return [(str(answer), int(label)) for answer, label in targets.items()]


@preprocessor("truthfulqa")
def truthfulqa(doc: Record) -> Record:
    """TruthfulQA (original mc_task.json or HF layout) → MC1 choices + gold index, MC2 choices
    with the true answers first and their count (MC2 does not depend on the order)."""
    mc1 = _labelled(doc, "mc1_targets")
    gold = [i for i, (_, label) in enumerate(mc1) if label == 1]
    if len(gold) != 1:
        raise ValueError(f"mc1_targets must have exactly one true answer, has {len(gold)}")
    mc2 = _labelled(doc, "mc2_targets")
    true = [answer for answer, label in mc2 if label == 1]
    false = [answer for answer, label in mc2 if label == 0]
    if not true or not false:
        raise ValueError("mc2_targets needs at least one true and one false answer")
    return {
        **doc,
        "mc1_choices": [answer for answer, _ in mc1],
        "mc1_gold": gold[0],
        "mc2_choices": true + false,
        "mc2_num_true": len(true),
    }


def get_preprocessor(name: str) -> Preprocessor:
    return PREPROCESSORS.get(name, where="prompt.preprocess")
