"""score_item on built-in specs: MC metrics and GSM8K strict/flexible exact match."""

from __future__ import annotations

import pytest

from agimeter.errors import ConfigError
from agimeter.scoring import ItemScore, score_item
from agimeter.tasks import Item, resolve_task


def _mc_item(target: int = 1) -> Item:
    return Item(
        task="arc_challenge",
        doc_id=3,
        kind="multiple_choice",
        context="Question: q\nAnswer:",
        continuations=(" a", " bbbbbbbb"),
        choice_texts=("a", "bbbbbbbb"),
        target=target,
    )


def _gen_item(target: str = "18") -> Item:
    return Item(task="gsm8k", doc_id=0, kind="generate", context="Q: q\nA:", target=target, stop=("Q:",))


def test_mc_acc_and_acc_norm() -> None:
    spec = resolve_task("arc_challenge")
    score = score_item(spec, _mc_item(), loglikelihoods=[-1.0, -4.0], is_greedy=[True, False])
    assert isinstance(score, ItemScore)
    assert score.prediction == 0 and score.prediction_norm == 1
    assert score.metrics == {"acc": 0.0, "acc_norm": 1.0}
    assert score.correct is False  # the first metric (acc)
    assert score.gold_is_greedy is False


def test_mc_only_reports_spec_metrics() -> None:
    spec = resolve_task("mmlu")
    item = _mc_item(0).model_copy(update={"task": "mmlu", "subtask": "anatomy"})
    score = score_item(spec, item, loglikelihoods=[-1.0, -4.0])
    assert score.metrics == {"acc": 1.0} and score.correct and score.subtask == "anatomy"


def test_mc_wrong_number_of_loglikelihoods() -> None:
    with pytest.raises(ConfigError, match="3 log-likelihoods for 2 choices"):
        score_item(resolve_task("arc_challenge"), _mc_item(), loglikelihoods=[0.0, 0.0, 0.0])
    with pytest.raises(ConfigError, match="needs log-likelihoods"):
        score_item(resolve_task("arc_challenge"), _mc_item())


@pytest.mark.parametrize(
    ("generation", "target", "strict", "flexible"),
    [
        ("9 * 2 = 18 dollars. The answer is 18.", "18", 1.0, 1.0),
        ("The answer is 1,234.\n\n", "1234", 1.0, 1.0),
        ("She has $1,234 left. The answer is $1,234.", "1234", 0.0, 1.0),  # strict regex miss
        ("So she makes 18", "18", 0.0, 1.0),  # no "The answer is": flexible only
        ("The answer is 17. Wait, 18.", "18", 0.0, 1.0),
        ("I don't know.", "18", 0.0, 0.0),
    ],
)
def test_gsm8k_strict_and_flexible(generation: str, target: str, strict: float, flexible: float) -> None:
    spec = resolve_task("gsm8k")
    score = score_item(spec, _gen_item(target), generation=generation)
    assert score.metrics == {"exact_match": strict, "exact_match_flexible": flexible}
    assert score.correct is bool(strict)


def test_gsm8k_regex_miss_records_invalid() -> None:
    score = score_item(resolve_task("gsm8k"), _gen_item(), generation="no answer here")
    assert score.extracted == "[invalid]" and score.extracted_flexible == "[invalid]"
    with pytest.raises(ConfigError, match="needs the generated text"):
        score_item(resolve_task("gsm8k"), _gen_item())


def test_fallback_last_number_changes_primary_metric() -> None:
    spec = resolve_task("gsm8k")
    assert spec.extraction is not None
    ext = spec.extraction.model_copy(update={"fallback": "last_number"})
    lenient = spec.model_copy(update={"extraction": ext})
    score = score_item(lenient, _gen_item(), generation="So she makes 18")
    assert score.extracted == "18" and score.metrics["exact_match"] == 1.0
