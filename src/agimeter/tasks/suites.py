"""Named task suites and task-list parsing for the command line."""

from __future__ import annotations

from pathlib import Path

from agimeter.errors import DataError, UnknownTaskError
from agimeter.tasks.registry import builtin_task_names
from agimeter.tasks.spec import TaskSpec
from agimeter.tasks.task import Task

OFFLINE_PREFIX = "offline_"


# One task per published protocol, every dimension (the data dir must hold ../shared/benchmarks).
CAPABILITY_SUITE = [
    "mmlu",
    "truthfulqa_mc1",
    "truthfulqa_mc2",
    "arc_challenge",
    "hellaswag",
    "bbh",
    "gsm8k",
    "math500",
    "humaneval",
    "mbpp",
    "mgsm",
    "pubmedqa",
    "xstest",
    "advbench",
    "ifeval",
]


def suites() -> dict[str, list[str]]:
    """``offline``: the procedurally generated default suite (no data files needed);
    ``capability``: every dimension's tasks at their published protocols."""
    return {
        "offline": [n for n in builtin_task_names() if n.startswith(OFFLINE_PREFIX)],
        "capability": list(CAPABILITY_SUITE),
    }


def expand_task_list(text: str) -> list[str]:
    """``"mmlu,offline"`` → task names/paths, suites expanded, duplicates dropped, order kept."""
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        for name in suites().get(part, [part]):
            if name not in names:
                names.append(name)
    if not names:
        raise UnknownTaskError("no tasks given: pass --tasks NAME[,NAME...] (see `agimeter tasks`)")
    return names


def task_size(spec: TaskSpec, data_dir: Path | None) -> int | None:
    """Number of documents, or None when the data is not available here."""
    try:
        return len(Task(spec, data_dir))
    except DataError:
        return None
