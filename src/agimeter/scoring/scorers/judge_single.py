"""``judge_single``: MT-Bench's single-answer grading (Zheng et al. 2023; FastChat ``llm_judge`` @
0e6d3e4b). Each turn of the conversation is rated 1-10 by the judge: turn 1 with ``single-v1``
(``single-math-v1`` with the reference answer for items that have one: math, reasoning, coding),
turn 2 with the ``-multi-turn`` forms, which show the whole conversation and ask about the second
answer. The prompts are the task's ``scoring.judge.prompts`` (keys ``single``, ``single_reference``,
``multi_turn``, ``multi_turn_reference``); the references are the item's ``ref_answer_1`` and
``ref_answer_2`` fields (empty: no reference). Metrics are ratings / 10 (so a rating of 1, what an
answer that does nothing earns, is chance 0.1, and 10 is 1.0): ``turn_1``, ``turn_2``, and
``score``, their mean (MT-Bench's score is the mean over all turns, 10 x this).
"""

from __future__ import annotations

from collections.abc import Sequence

from agimeter.backends.base import GenResult
from agimeter.errors import DataError
from agimeter.scoring.base import Answer, BaseScorer, ItemScore, OnScored, ScoringContext, generations_of
from agimeter.scoring.judge.calls import GRADER, Verdicts, judge_identity, judge_request, judge_settings, run_calls
from agimeter.scoring.judge.records import SingleDetails, TurnJudgement
from agimeter.scoring.judge.style import token_len
from agimeter.scoring.judge.verdicts import parse_rating
from agimeter.scoring.registry import scorer
from agimeter.tasks.item import Item
from agimeter.tasks.spec import JudgePrompt, TaskSpec

RATING_SCALE = 10.0
CHANCE = 1.0 / RATING_SCALE  # the lowest rating


def user_turns(item: Item) -> list[str]:
    """The conversation's user messages: the first turn's (as rendered) and the follow-ups."""
    first = next((content for role, content in reversed(item.chat_messages) if role == "user"), item.context)
    return [first, *item.followups]


@scorer("judge_single")
class JudgeSingle(BaseScorer):
    metrics = ("score", "turn_1", "turn_2")
    roles = (GRADER,)

    @property
    def batch_size(self) -> int:
        return 16  # answers per judge batch: one generate call, committed as each is judged

    def check(self, spec: TaskSpec) -> None:
        judge = spec.scoring.judge
        if judge is None:
            raise ValueError("scoring.judge: judge_single needs the judge's prompts (scoring.judge.prompts)")
        needed = ["single"] + (["multi_turn"] if spec.prompt.followups is not None else [])
        if "ref_answer_1" in spec.scoring.fields:
            needed += [f"{key}_reference" for key in needed]
        missing = [key for key in needed if key not in judge.prompts]
        if missing:
            raise ValueError(f"scoring.judge.prompts: missing {', '.join(missing)}")

    def identity(self, spec: TaskSpec, context: ScoringContext) -> dict[str, object]:
        return judge_identity(context)

    def _prompt(self, spec: TaskSpec, turn: int, reference: bool) -> JudgePrompt:
        prompts = judge_settings(spec).prompts
        return prompts[("single" if turn == 0 else "multi_turn") + ("_reference" if reference else "")]

    def score(self, spec: TaskSpec, answers: Sequence[Answer], context: ScoringContext, on_scored: OnScored) -> None:
        settings = judge_settings(spec)
        backend = context.model(GRADER)
        calls = []
        used: list[list[JudgePrompt]] = []
        for answer in answers:
            texts = answer.turns or generations_of(spec, answer)[:1]
            users = user_turns(answer.item)
            if len(texts) > 2:
                raise DataError(f"{spec.name} doc {answer.item.doc_id}: MT-Bench's judge prompts grade two turns")
            refs = [str(answer.item.extra.get(f"ref_answer_{k}", "")) for k in (1, 2)]
            fields = {"ref_answer_1": refs[0], "ref_answer_2": refs[1]}
            prompts = [self._prompt(spec, turn, bool(refs[0])) for turn in range(len(texts))]
            messages = [prompts[0].template.format(question=users[0], answer=texts[0], **fields)]
            if len(texts) == 2:
                conversation = {"question_1": users[0], "question_2": users[1], "answer_1": texts[0]}
                messages.append(prompts[1].template.format(answer_2=texts[1], **conversation, **fields))
            pairs = zip(prompts, messages, strict=True)
            calls.append([judge_request(backend, p.system, m, settings) for p, m in pairs])
            used.append(prompts)

        def parse(i: int, j: int, result: GenResult) -> float | None:
            return parse_rating(result.text)

        def finish(i: int, verdicts: Verdicts[float]) -> ItemScore:
            answer = answers[i]
            texts = answer.turns or generations_of(spec, answer)[:1]
            ratings = verdicts.verdicts
            metrics = {f"turn_{t + 1}": r / RATING_SCALE for t, r in enumerate(ratings)}
            metrics = {"score": sum(ratings) / len(ratings) / RATING_SCALE, **metrics}
            metrics = {m: v for m, v in metrics.items() if m in spec.metrics}
            details = SingleDetails(
                judge=backend.info.name,
                turns=[
                    TurnJudgement(
                        turn=t + 1,
                        prompt=used[i][t].name,
                        judgment=result.text,
                        verdict=f"{rating:g}",
                        rating=rating,
                        answer_tokens=token_len(texts[t]),
                    )
                    for t, (result, rating) in enumerate(zip(verdicts.results, ratings, strict=True))
                ],
            )
            mean = sum(ratings) / len(ratings)
            return ItemScore.for_item(
                answer.item,
                correct=mean > RATING_SCALE / 2,
                metrics=metrics,
                chance={m: CHANCE for m in metrics},
                details=details.model_dump(mode="json"),
                generation=texts[0],
                extracted=f"{mean:g}",
                judge_usage=verdicts.usage,
            )

        run_calls(context, calls, parse, finish, on_scored)
