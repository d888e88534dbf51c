"""Turn a backend's outputs for one ``Item`` into an ``ItemScore`` under the task's protocol."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from agimeter.errors import ConfigError, DataError
from agimeter.scoring.generative import Judged, extract_answer, judge_samples
from agimeter.scoring.multiple_choice import predict, predict_norm
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec

if TYPE_CHECKING:
    from agimeter.scoring.sandbox import ExecResult

__all__ = ["ItemScore", "extract_answer", "mc2", "score_item"]


class ItemScore(BaseModel):
    """Per-item outcome: the prediction, correctness and every metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    doc_id: int
    subtask: str | None = None
    kind: str
    target: int | str
    correct: bool  # the task's first metric (for a fractional metric: > 0.5)
    metrics: dict[str, float] = Field(default_factory=dict)
    # The metric a random guesser gets on this item (1/#choices for MC, 0 for generation).
    chance: dict[str, float] = Field(default_factory=dict)
    # Weight of this item in a metric's mean when it is not 1 (IFEval instruction-level).
    weights: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    # multiple choice
    prediction: int | None = None
    prediction_norm: int | None = None
    loglikelihoods: tuple[float, ...] = ()
    gold_is_greedy: bool | None = None
    # generate
    generation: str | None = None
    generations: tuple[str, ...] = ()  # every sample when n > 1
    extracted: str | None = None
    extracted_flexible: str | None = None


def mc2(loglikelihoods: Sequence[float], num_true: int) -> float:
    """TruthfulQA MC2 (lm-eval ``mc2``): probability mass of the true answers (the first
    ``num_true`` choices) normalised over all choices."""
    if not 0 < num_true < len(loglikelihoods):
        raise ValueError(f"num_true must be in 1..{len(loglikelihoods) - 1}, got {num_true}")
    top = max(loglikelihoods)
    probs = [math.exp(ll - top) for ll in loglikelihoods]
    return math.fsum(probs[:num_true]) / math.fsum(probs)


def _num_true(spec: TaskSpec, item: Item) -> int:
    raw = item.extra.get("num_true")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise DataError(f"{spec.name} doc {item.doc_id}: scoring.fields.num_true is not a number: {raw!r}") from None


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
    n_choices = len(item.choice_texts)
    values = {"acc": float(pred == item.target), "acc_norm": float(pred_norm == item.target)}
    chance = {"acc": 1 / n_choices, "acc_norm": 1 / n_choices}
    if "mc2" in spec.metrics:
        num_true = _num_true(spec, item)
        values["mc2"], chance["mc2"] = mc2(loglikelihoods, num_true), num_true / n_choices
    metrics = {m: values[m] for m in spec.metrics if m in values}
    greedy = bool(is_greedy[item.target]) if is_greedy is not None else None
    return ItemScore(
        task=item.task,
        doc_id=item.doc_id,
        subtask=item.subtask,
        kind=item.kind,
        target=item.target,
        correct=metrics[spec.metrics[0]] > 0.5,
        metrics=metrics,
        chance={m: chance[m] for m in metrics},
        prediction=pred,
        prediction_norm=pred_norm,
        loglikelihoods=tuple(loglikelihoods),
        gold_is_greedy=greedy,
    )


def _from_judged(spec: TaskSpec, item: Item, generations: Sequence[str], judged: Judged) -> ItemScore:
    primary = spec.metrics[0]
    return ItemScore(
        task=item.task,
        doc_id=item.doc_id,
        subtask=item.subtask,
        kind=item.kind,
        target=item.target,
        correct=judged.metrics.get(primary, 0.0) > 0.5,
        metrics=judged.metrics,
        chance={m: 0.0 for m in judged.metrics},
        weights=judged.weights,
        details=judged.details,
        generation=generations[0],
        generations=tuple(generations) if len(generations) > 1 else (),
        extracted=judged.extracted,
        extracted_flexible=judged.extracted_flexible,
    )


def score_item(
    spec: TaskSpec,
    item: Item,
    *,
    loglikelihoods: Sequence[float] | None = None,
    is_greedy: Sequence[bool] | None = None,
    generation: str | None = None,
    generations: Sequence[str] | None = None,
    exec_results: Sequence[ExecResult] | None = None,
) -> ItemScore:
    """Score one item: MC needs ``loglikelihoods`` (one per choice); generate needs the text
    (``generation``, or ``generations`` for n samples); code tasks also the sandbox results."""
    if item.kind == "multiple_choice":
        if loglikelihoods is None:
            raise ConfigError(f"{spec.name} doc {item.doc_id}: multiple-choice scoring needs log-likelihoods")
        return _score_multiple_choice(spec, item, loglikelihoods, is_greedy)
    texts = list(generations) if generations is not None else [generation] if generation is not None else []
    if not texts:
        raise ConfigError(f"{spec.name} doc {item.doc_id}: generate scoring needs the generated text")
    if spec.scoring.kind == "code_exec":
        from agimeter.scoring.code import judge_code

        if exec_results is None or len(exec_results) != len(texts):
            raise ConfigError(f"{spec.name} doc {item.doc_id}: code scoring needs one sandbox result per sample")
        return _from_judged(spec, item, texts, judge_code(spec, exec_results))
    return _from_judged(spec, item, texts, judge_samples(spec, item, texts))
