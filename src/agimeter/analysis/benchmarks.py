"""Which published benchmark each agimeter task measures, and where they differ.

Published tables name benchmarks (``mmlu``, ``math``...); agimeter names tasks (``mmlu``,
``math500``...). This table links the two so that a measured score can stand next to a
reported one, always with the protocol difference spelled out, never silently merged.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from agimeter.tasks.dimensions import Dimension


class Benchmark(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dimension: Dimension
    chance: float  # percent: what a random guesser scores (0 for generated answers)
    tasks: tuple[str, ...] = ()  # agimeter tasks that measure it (first = closest)
    task_note: str = ""  # how the task differs from the usual published protocol


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in [
        Benchmark(name="mmlu", dimension="knowledge", chance=25.0, tasks=("mmlu",)),
        Benchmark(name="mmlu_pro", dimension="knowledge", chance=10.0),
        Benchmark(name="gpqa", dimension="knowledge", chance=25.0),
        Benchmark(
            name="truthfulqa",
            dimension="knowledge",
            chance=0.0,
            tasks=("truthfulqa_mc2", "truthfulqa_mc1"),
            task_note="reports differ between MC1 and MC2; agimeter's chance level for MC2 is per item",
        ),
        Benchmark(name="arc_challenge", dimension="reasoning", chance=25.0, tasks=("arc_challenge",)),
        Benchmark(name="hellaswag", dimension="reasoning", chance=25.0, tasks=("hellaswag",)),
        Benchmark(name="winogrande", dimension="reasoning", chance=50.0),
        Benchmark(
            name="bbh", dimension="reasoning", chance=0.0, tasks=("bbh",), task_note="agimeter ships 13 of 27 tasks"
        ),
        Benchmark(name="gsm8k", dimension="math", chance=0.0, tasks=("gsm8k",)),
        Benchmark(
            name="math",
            dimension="math",
            chance=0.0,
            tasks=("math500",),
            task_note="agimeter measures MATH-500 (a 500-problem subset), reports use the 5,000-problem test set",
        ),
        Benchmark(
            name="humaneval",
            dimension="coding",
            chance=0.0,
            tasks=("humaneval", "humaneval_sampled", "humaneval_instruct"),
        ),
        Benchmark(
            name="mbpp",
            dimension="coding",
            chance=0.0,
            tasks=("mbpp", "mbpp_instruct"),
            task_note=(
                "reports name two MBPPs: the 500-problem test split (mbpp, 3-shot) "
                "and EvalPlus's 378-problem subset (mbpp_instruct)"
            ),
        ),
        Benchmark(
            name="mgsm",
            dimension="multilingual",
            chance=0.0,
            tasks=("mgsm",),
            task_note="agimeter uses English GSM8K exemplars, not native-language ones",
        ),
        Benchmark(name="ifeval", dimension="instruction_following", chance=0.0, tasks=("ifeval",)),
        Benchmark(name="pubmedqa", dimension="medical", chance=33.3, tasks=("pubmedqa",)),
    ]
}


def benchmark_of_task(task: str) -> Benchmark | None:
    for bench in BENCHMARKS.values():
        if task in bench.tasks:
            return bench
    return None


def normalized(value_pct: float, chance_pct: float) -> float:
    """0 = chance, 100 = perfect, clipped at 0 (as for measured tasks)."""
    if chance_pct >= 100.0:
        return float("nan")
    return min(100.0, max(0.0, (value_pct - chance_pct) * 100.0 / (100.0 - chance_pct)))
