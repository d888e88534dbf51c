"""Generator registry and the shared machinery that turns problems into seeded docs.

A plugin adds a generator with ``@generator("name")`` in a module named by an
``agimeter.generators`` entry point (see ``agimeter.registry``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from agimeter.errors import TaskSpecError, UnknownTaskError
from agimeter.registry import Registry

LEVELS = (1, 2, 3)
MIXED_LEVEL = 0  # ``level: 0`` spreads docs evenly over levels 1, 2, 3 (doc i gets level 1 + i % 3)

# Retries per doc before a duplicate question is accepted (tiny problem spaces, huge n).
_MAX_TRIES_FOR_UNIQUE = 200


@dataclass(frozen=True)
class Problem:
    """One generated problem: the correct answer plus plausible wrong answers."""

    question: str
    answer: str
    distractors: tuple[str, ...]
    kind: str
    extra: dict[str, object] = field(default_factory=dict)


ProblemFactory = Callable[[random.Random, int], Problem]

GENERATORS: Registry[ProblemFactory] = Registry(
    "procedural generator", group="agimeter.generators", error=UnknownTaskError
)


def generator(name: str) -> Callable[[ProblemFactory], ProblemFactory]:
    """``@generator("name")`` on ``factory(rng, level) -> Problem``: ``source: {kind: procedural, generator: name}``."""
    return GENERATORS.decorator(name)


def generator_names() -> list[str]:
    """Names of the registered procedural generators, sorted."""
    return GENERATORS.names()


def seed_half(question: str) -> int:
    """Which half (0 or 1) of the problem space a question belongs to.

    A source only emits questions whose half equals ``seed % 2``, so two sources whose seeds
    differ in parity (test docs vs few-shot exemplars) can never share a question.
    """
    return hashlib.sha256(question.encode("utf-8")).digest()[0] & 1


def generate(generator: str, n: int, level: int, seed: int) -> list[dict[str, object]]:
    """Generate ``n`` docs deterministically from ``seed``.

    ``level`` is 1 (easy), 2 (medium), 3 (hard) or 0 (mixed: levels 1-3 in turn). Each doc has
    ``id``, ``level``, ``kind``, ``question``, ``answer``, ``choices`` (the answer at a seeded
    position among distinct distractors) and ``gold`` (the answer's index in ``choices``).
    """
    factory = GENERATORS.get(generator)
    if level != MIXED_LEVEL and level not in LEVELS:
        raise TaskSpecError(f"procedural generator {generator!r}: level must be 0 (mixed), 1, 2 or 3, got {level}")
    if n < 0:
        raise TaskSpecError(f"procedural generator {generator!r}: n must be >= 0, got {n}")

    # A string seed is hashed with SHA-512 by ``random``, so it is stable across processes.
    rng = random.Random(f"agimeter.procedural:{generator}:{level}:{seed}")
    half = seed % 2
    seen: set[str] = set()
    docs: list[dict[str, object]] = []
    for index in range(n):
        doc_level = level if level != MIXED_LEVEL else LEVELS[index % len(LEVELS)]
        problem = _draw(factory, rng, doc_level, half, seen)
        seen.add(problem.question)
        choices = [problem.answer, *problem.distractors]
        rng.shuffle(choices)
        docs.append(
            {
                "id": f"{generator}-s{seed}-l{level}-{index:05d}",
                "level": doc_level,
                "kind": problem.kind,
                "question": problem.question,
                "answer": problem.answer,
                "choices": choices,
                "gold": choices.index(problem.answer),
                **problem.extra,
            }
        )
    return docs


def _draw(factory: ProblemFactory, rng: random.Random, level: int, half: int, seen: set[str]) -> Problem:
    tries = 0
    while True:
        problem = factory(rng, level)
        _check(problem)
        if seed_half(problem.question) != half:
            continue  # never relaxed: this is the exemplar/test separation guarantee
        tries += 1
        if problem.question not in seen or tries >= _MAX_TRIES_FOR_UNIQUE:
            return problem


def _check(problem: Problem) -> None:
    options = [problem.answer, *problem.distractors]
    if len(set(options)) != len(options) or not problem.distractors:
        raise RuntimeError(f"generator produced non-distinct choices: {options}")


def pick_distractors(rng: random.Random, answer: int, mistakes: list[int], count: int = 3) -> tuple[str, ...]:
    """``count`` distinct non-negative wrong answers: step-level mistakes first, then near misses."""
    chosen: list[int] = []
    for value in mistakes:
        if value >= 0 and value != answer and value not in chosen:
            chosen.append(value)
    rng.shuffle(chosen)
    chosen = chosen[:count]
    near = [answer + d for d in (1, -1, 2, -2, 10, -10, 3, -3, 5, -5)]
    rng.shuffle(near)
    for value in [*near, *range(answer + 11, answer + 11 + count)]:
        if len(chosen) >= count:
            break
        if value >= 0 and value != answer and value not in chosen:
            chosen.append(value)
    return tuple(str(v) for v in chosen)
