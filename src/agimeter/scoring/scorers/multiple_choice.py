"""``multiple_choice``: lm-eval's acc and acc_norm from the choices' log-likelihoods, and TruthfulQA's mc2."""

from __future__ import annotations

from agimeter.errors import ConfigError, DataError
from agimeter.scoring.base import Answer, ItemScore, ItemScorer, ScoringContext
from agimeter.scoring.multiple_choice import mc2, predict, predict_norm
from agimeter.scoring.registry import scorer
from agimeter.tasks.item import Item
from agimeter.tasks.spec import TaskSpec


def _num_true(spec: TaskSpec, item: Item) -> int:
    raw = item.extra.get("num_true")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise DataError(f"{spec.name} doc {item.doc_id}: scoring.fields.num_true is not a number: {raw!r}") from None


@scorer("multiple_choice")
class MultipleChoice(ItemScorer):
    output_type = "multiple_choice"
    metrics = ("acc", "acc_norm", "mc2")

    def check(self, spec: TaskSpec) -> None:
        if "mc2" in spec.metrics and "num_true" not in spec.scoring.fields:
            raise ValueError("metrics: mc2 needs scoring.fields.num_true (how many leading choices are true)")

    def score_answer(self, spec: TaskSpec, answer: Answer, context: ScoringContext) -> ItemScore:
        item, loglikelihoods = answer.item, answer.loglikelihoods
        if not loglikelihoods:
            raise ConfigError(f"{spec.name} doc {item.doc_id}: multiple-choice scoring needs log-likelihoods")
        if len(loglikelihoods) != len(item.choice_texts):
            raise ConfigError(
                f"{spec.name} doc {item.doc_id}: {len(loglikelihoods)} log-likelihoods for "
                f"{len(item.choice_texts)} choices"
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
        greedy = bool(answer.is_greedy[item.target]) if answer.is_greedy is not None else None
        return ItemScore.for_item(
            item,
            correct=metrics[spec.metrics[0]] > 0.5,
            metrics=metrics,
            chance={m: chance[m] for m in metrics},
            prediction=pred,
            prediction_norm=pred_norm,
            loglikelihoods=tuple(loglikelihoods),
            gold_is_greedy=greedy,
        )
