"""Seeded, contamination-free problem generators for tasks that need no data files.

``generate(generator, n, level, seed)`` backs ``ProceduralSource`` in task specs. The same
arguments give the same docs on every machine and Python hash seed. Questions are split into
two halves by a stable hash and a source only uses the half matching ``seed % 2``, so few-shot
exemplars drawn with a seed of the other parity never repeat a test question.
"""

from __future__ import annotations

from agimeter.tasks.procedural import arithmetic, logic, word_problems
from agimeter.tasks.procedural._registry import (
    GENERATORS,
    LEVELS,
    MIXED_LEVEL,
    Problem,
    generate,
    generator,
    generator_names,
)

# The offline default suite (YAML specs in agimeter/tasks/builtin/offline/).
OFFLINE_SUITE = (
    "offline_arith_mc",
    "offline_arith_gen",
    "offline_wordprob_mc",
    "offline_wordprob_gen",
    "offline_logic_mc",
    "offline_logic_gen",
)

__all__ = [
    "GENERATORS",
    "LEVELS",
    "MIXED_LEVEL",
    "OFFLINE_SUITE",
    "Problem",
    "generate",
    "generator",
    "generator_names",
]

del arithmetic, logic, word_problems  # imported only to register their generators
