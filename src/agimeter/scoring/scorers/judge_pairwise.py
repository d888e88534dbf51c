"""``judge_pairwise``: Arena-Hard-Auto v2.0's pairwise judgement against a baseline answer (Li et al.
2024; lmarena/arena-hard-auto @ 196f6b82 ``gen_judgment.py``, ``show_result.py``). The judge sees
the prompt and the two answers twice, the baseline as assistant A first (game 1), then the
candidate as A (game 2), with the system prompt of the item's ``category`` (the task's
``scoring.judge.prompts[category]``) and gives a 5-way verdict (A>>B, A>B, A=B, B>A, B>>A). Each
game becomes battle scores for the candidate: 1 win, 0.5 tie, 0 loss, a decisive verdict counting
``strong_weight`` (3) times; ``win_rate`` is the item's mean battle score, weighted by its number of
battles, so the task's mean is Arena-Hard's mean over battles. Chance is 0: an answer that does
nothing loses every battle (50% is parity with the baseline, not chance).
"""

from __future__ import annotations

from collections.abc import Sequence

from agimeter.backends.base import GenResult
from agimeter.errors import DataError
from agimeter.scoring.base import Answer, BaseScorer, ItemScore, OnScored, ScoringContext, generations_of
from agimeter.scoring.judge.calls import GRADER, Verdicts, judge_identity, judge_request, judge_settings, run_calls
from agimeter.scoring.judge.records import GameJudgement, PairwiseDetails
from agimeter.scoring.judge.style import answer_style
from agimeter.scoring.judge.verdicts import battle_scores, label_scores, parse_label
from agimeter.scoring.registry import scorer
from agimeter.scoring.scorers.judge_single import user_turns
from agimeter.tasks.spec import TaskSpec


@scorer("judge_pairwise")
class JudgePairwise(BaseScorer):
    metrics = ("win_rate",)
    roles = (GRADER,)

    @property
    def batch_size(self) -> int:
        return 16

    def check(self, spec: TaskSpec) -> None:
        judge = spec.scoring.judge
        if judge is None or not judge.prompts:
            raise ValueError("scoring.judge.prompts: judge_pairwise needs a prompt per category")
        if not judge.verdict_patterns:
            raise ValueError("scoring.judge.verdict_patterns: judge_pairwise needs the verdict regexes")
        for key in ("baseline", "category"):
            if key not in spec.scoring.fields:
                raise ValueError(f"scoring.fields.{key} is required by judge_pairwise")

    def identity(self, spec: TaskSpec, context: ScoringContext) -> dict[str, object]:
        return judge_identity(context)

    def score(self, spec: TaskSpec, answers: Sequence[Answer], context: ScoringContext, on_scored: OnScored) -> None:
        settings = judge_settings(spec)
        backend = context.model(GRADER)
        known = label_scores(settings.strong_weight)
        calls = []
        for answer in answers:
            item = answer.item
            category = str(item.extra["category"])
            if category not in settings.prompts:
                raise DataError(f"{spec.name} doc {item.doc_id}: no judge prompt for category {category!r}")
            prompt = settings.prompts[category]
            question, candidate = user_turns(item)[0], generations_of(spec, answer)[0]
            baseline = str(item.extra["baseline"])
            games = [(baseline, candidate), (candidate, baseline)]
            calls.append(
                [
                    judge_request(
                        backend,
                        prompt.system,
                        prompt.template.format(QUESTION=question, ANSWER_A=a, ANSWER_B=b),
                        settings,
                    )
                    for a, b in games
                ]
            )

        def parse(i: int, j: int, result: GenResult) -> str | None:
            label = parse_label(result.text, settings.verdict_patterns)
            return label if label in known else None

        def finish(i: int, verdicts: Verdicts[str]) -> ItemScore:
            answer = answers[i]
            item, candidate = answer.item, generations_of(spec, answer)[0]
            first, second = verdicts.verdicts
            battles = battle_scores(first, second, settings.strong_weight)
            assert battles is not None  # both labels are known (parse)
            details = PairwiseDetails(
                judge=backend.info.name,
                category=str(item.extra["category"]),
                games=[
                    GameJudgement(order=order, prompt=str(item.extra["category"]), judgment=r.text, verdict=label)
                    for order, r, label in zip(
                        ("baseline_first", "candidate_first"), verdicts.results, verdicts.verdicts, strict=True
                    )
                ],
                battles=battles,
                candidate_style=answer_style(candidate),
                baseline_style=answer_style(str(item.extra["baseline"])),
            )
            rate = sum(battles) / len(battles)
            return ItemScore.for_item(
                item,
                correct=rate > 0.5,
                metrics={"win_rate": rate},
                chance={"win_rate": 0.0},
                weights={"win_rate": float(len(battles))},
                details=details.model_dump(mode="json"),
                generation=candidate,
                extracted=f"{first} / {second}",
                judge_usage=verdicts.usage,
            )

        run_calls(context, calls, parse, finish, on_scored)
