"""Turn a backend's outputs for one ``Item`` into an ``ItemScore`` under the task's protocol."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from agimeter.errors import ConfigError
from agimeter.scoring.extraction import INVALID, exact_match, last_number, regex_extract
from agimeter.scoring.multiple_choice import predict, predict_norm
from agimeter.tasks.item import Item
from agimeter.tasks.spec import Extraction, TaskSpec


class ItemScore(BaseModel):
    """Per-item outcome: the prediction, correctness and every metric as 0/1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    doc_id: int
    subtask: str | None = None
    kind: str
    target: int | str
    correct: bool  # the task's first metric
    metrics: dict[str, float] = Field(default_factory=dict)
    # multiple choice
    prediction: int | None = None
    prediction_norm: int | None = None
    loglikelihoods: tuple[float, ...] = ()
    gold_is_greedy: bool | None = None
    # generate
    generation: str | None = None
    extracted: str | None = None
    extracted_flexible: str | None = None


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


def _score_multiple_choice(
    spec: TaskSpec, item: Item, loglikelihoods: Sequence[float], is_greedy: Sequence[bool] | None
) -> ItemScore:
    if len(loglikelihoods) != len(item.choice_texts):
        raise ConfigError(
            f"{spec.name} doc {item.doc_id}: {len(loglikelihoods)} log-likelihoods for {len(item.choice_texts)} choices"
        )
    assert isinstance(item.target, int)
    pred = predict(loglikelihoods)
    pred_norm = predict_norm(loglikelihoods, item.choice_texts)
    values = {"acc": float(pred == item.target), "acc_norm": float(pred_norm == item.target)}
    metrics = {m: values[m] for m in spec.metrics if m in values}
    greedy = bool(is_greedy[item.target]) if is_greedy is not None else None
    return ItemScore(
        task=item.task,
        doc_id=item.doc_id,
        subtask=item.subtask,
        kind=item.kind,
        target=item.target,
        correct=bool(metrics[spec.metrics[0]]),
        metrics=metrics,
        prediction=pred,
        prediction_norm=pred_norm,
        loglikelihoods=tuple(loglikelihoods),
        gold_is_greedy=greedy,
    )


def _score_generate(spec: TaskSpec, item: Item, generation: str) -> ItemScore:
    ext = spec.extraction
    ignore = ext.ignore_regexes if ext else []
    ignore_case = ext.ignore_case if ext else False
    reference = str(item.target)
    answer = extract_answer(generation, ext)
    strict = exact_match(answer, reference, ignore_regexes=ignore, ignore_case=ignore_case)
    metrics = {"exact_match": float(strict)}
    flexible = None
    if ext is not None and ext.flexible:
        flexible = last_number(generation, fallback=ext.miss_value)
        metrics["exact_match_flexible"] = float(
            exact_match(flexible, reference, ignore_regexes=ignore, ignore_case=ignore_case)
        )
    return ItemScore(
        task=item.task,
        doc_id=item.doc_id,
        subtask=item.subtask,
        kind=item.kind,
        target=item.target,
        correct=bool(metrics["exact_match"]),
        metrics=metrics,
        generation=generation,
        extracted=answer,
        extracted_flexible=flexible,
    )


def score_item(
    spec: TaskSpec,
    item: Item,
    *,
    loglikelihoods: Sequence[float] | None = None,
    is_greedy: Sequence[bool] | None = None,
    generation: str | None = None,
) -> ItemScore:
    """Score one item: MC needs ``loglikelihoods`` (one per choice), generate needs ``generation``."""
    if item.kind == "multiple_choice":
        if loglikelihoods is None:
            raise ConfigError(f"{spec.name} doc {item.doc_id}: multiple-choice scoring needs log-likelihoods")
        return _score_multiple_choice(spec, item, loglikelihoods, is_greedy)
    if generation is None:
        raise ConfigError(f"{spec.name} doc {item.doc_id}: generate scoring needs the generated text")
    return _score_generate(spec, item, generation)
