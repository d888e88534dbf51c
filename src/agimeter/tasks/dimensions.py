"""The capability dimensions, in display order: the one list that task specs are validated
against and that analysis, reports and the server's ``Dimension`` type all import.

Adding a dimension is one line here; the README's capability-map section says how its tasks'
chance level and ceiling are set (normalised to chance = 0, perfect = 100).
"""

from __future__ import annotations

from typing import Literal, get_args

Dimension = Literal[
    "knowledge",
    "reasoning",
    "math",
    "coding",
    "instruction_following",
    "multilingual",
    "medical",
    "safety",
    "creativity",
]

DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
