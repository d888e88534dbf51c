"""``code_exec``: every sample's program run in the sandbox, in parallel over the cores, and pass@k
over an item's samples (``scoring.code``); each item is reported as soon as its last program ends."""

from __future__ import annotations

import os
from collections.abc import Sequence

from agimeter.scoring.base import Answer, BaseScorer, OnScored, ScoringContext, from_judged, generations_of
from agimeter.scoring.code import build_program, judge_code, limits_for
from agimeter.scoring.registry import scorer
from agimeter.scoring.sandbox import JUDGE_VERSION, ExecResult, run_many
from agimeter.tasks.spec import TaskSpec


@scorer("code_exec", version=JUDGE_VERSION)
class CodeExec(BaseScorer):
    # The sandbox judge's version was keyed under this name before scorers had versions.
    version_key = "sandbox_judge"
    metrics = ("pass@K",)

    @property
    def batch_size(self) -> int:
        """Programs per sandbox batch: enough to keep every core busy, small enough to commit often."""
        return 4 * (os.cpu_count() or 1)

    def reports(self, metric: str) -> bool:
        k = metric.removeprefix("pass@")
        return metric != k and k.isdigit() and int(k) >= 1

    def check(self, spec: TaskSpec) -> None:
        n = spec.generation.n if spec.generation is not None else 1
        for metric in spec.metrics:
            k = int(metric.removeprefix("pass@"))
            if k > n:
                raise ValueError(f"metrics: {metric} needs generation.n >= {k}")

    def score(self, spec: TaskSpec, answers: Sequence[Answer], context: ScoringContext, on_scored: OnScored) -> None:
        texts = [generations_of(spec, answer) for answer in answers]
        programs: list[str] = []
        owner: list[int] = []  # program index -> answer index
        first: list[int] = []  # answer index -> its first program
        for index, (answer, samples) in enumerate(zip(answers, texts, strict=True)):
            first.append(len(programs))
            programs += [build_program(answer.item, text) for text in samples]
            owner += [index] * len(samples)
        outcomes: list[ExecResult | None] = [None] * len(programs)
        left = [len(samples) for samples in texts]

        def on_result(program: int, result: ExecResult) -> None:
            outcomes[program] = result
            index = owner[program]
            left[index] -= 1
            if left[index] == 0:
                mine = [r for r in outcomes[first[index] : first[index] + len(texts[index])] if r is not None]
                judged = judge_code(spec, mine)
                on_scored(index, from_judged(spec, answers[index].item, texts[index], judged))

        run_many(programs, limits_for(spec), on_result=on_result)
