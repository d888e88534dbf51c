"""Short story problems: one step (level 1), two steps (level 2), three steps (level 3)."""

from __future__ import annotations

import random
from collections.abc import Callable

from agimeter.tasks.procedural._registry import Problem, generator, pick_distractors

_NAMES = (
    "Anna", "Ben", "Carla", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack",
    "Kemal", "Lena", "Maya", "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara",
)  # fmt: skip
_ITEMS = (
    "apples", "pencils", "marbles", "stickers", "cookies", "books", "shells", "cards",
    "stamps", "candles", "buttons", "coins",
)  # fmt: skip
_CONTAINERS = ("boxes", "bags", "packs", "jars", "baskets")

# Each template returns (story, answer, step-level mistakes).
_Template = Callable[[random.Random, str, str, str, str], tuple[str, int, list[int]]]


def _three_names(rng: random.Random) -> tuple[str, str, str]:
    a, b, c = rng.sample(_NAMES, 3)
    return a, b, c


# ---- level 1: one operation ---------------------------------------------------------------


def _gets_more(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    x, y = rng.randint(2, 12), rng.randint(2, 9)
    story = f"{a} has {x} {item}. {b} gives {a} {y} more {item}. How many {item} does {a} have now?"
    return story, x + y, [x - y, y]


def _gives_away(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    x = rng.randint(5, 15)
    y = rng.randint(1, x - 1)
    story = f"{a} has {x} {item} and gives {y} to {b}. How many {item} does {a} have left?"
    return story, x - y, [x + y, y]


def _together(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    x, y = rng.randint(2, 12), rng.randint(2, 12)
    story = f"{a} has {x} {item} and {b} has {y} {item}. How many {item} do they have together?"
    return story, x + y, [abs(x - y), max(x, y)]


# ---- level 2: two operations --------------------------------------------------------------


def _buy_then_give(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    x, y = rng.randint(5, 30), rng.randint(3, 20)
    z = rng.randint(2, x + y - 1)
    story = f"{a} has {x} {item}, buys {y} more, and then gives {z} to {b}. How many {item} does {a} have now?"
    return story, x + y - z, [x + y, x - y + z, x + y + z, x - z]


def _boxes_minus(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    boxes, per_box = rng.randint(2, 6), rng.randint(3, 12)
    used = rng.randint(1, boxes * per_box - 1)
    box = rng.choice(_CONTAINERS)
    story = (
        f"{a} buys {boxes} {box} of {item} with {per_box} {item} in each. "
        f"{a} gives {used} {item} to {b}. How many {item} does {a} have left?"
    )
    total = boxes * per_box
    return story, total - used, [total, boxes + per_box - used, per_box - used, (boxes - 1) * per_box]


def _more_than(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    x, y = rng.randint(3, 25), rng.randint(2, 15)
    story = f"{a} has {x} {item}. {b} has {y} more {item} than {a}. How many {item} do {a} and {b} have together?"
    return story, x + (x + y), [x + y, 2 * x, x + y + y]


# ---- level 3: three operations ------------------------------------------------------------


def _share_rest(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    while True:
        friends, each = rng.randint(2, 5), rng.randint(2, 9)
        boxes, per_box = rng.randint(3, 8), rng.randint(4, 12)
        total = boxes * per_box
        kept = total - friends * each  # chosen so that the rest splits evenly
        if kept > 0:
            break
    box = rng.choice(_CONTAINERS)
    story = (
        f"{a} buys {boxes} {box} with {per_box} {item} in each. {a} keeps {kept} {item} and shares "
        f"the rest equally among {friends} friends. How many {item} does each friend get?"
    )
    return (
        story,
        each,
        [total - kept, (total - kept) // (friends + 1), friends * each - friends, each + friends],
    )


def _twice_fewer(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    x = rng.randint(3, 20)
    y = rng.randint(1, 2 * x - 1)
    story = (
        f"{a} has {x} {item}. {b} has twice as many {item} as {a}. {c} has {y} fewer {item} than {b}. "
        f"How many {item} do the three of them have in total?"
    )
    answer = x + 2 * x + (2 * x - y)
    return story, answer, [x + 2 * x, x + 2 * x + (2 * x + y), x + (x + 2) + (x + 2 - y), 2 * x - y]


def _wages(rng: random.Random, a: str, b: str, c: str, item: str) -> tuple[str, int, list[int]]:
    rate, monday, tuesday = rng.randint(3, 15), rng.randint(2, 8), rng.randint(2, 8)
    earned = rate * (monday + tuesday)
    spent = rng.randint(1, earned - 1)
    story = (
        f"{a} earns {rate} dollars per hour. {a} works {monday} hours on Monday and {tuesday} hours "
        f"on Tuesday, then spends {spent} dollars on {item}. How many dollars does {a} have left?"
    )
    return (
        story,
        earned - spent,
        [earned, rate * monday + tuesday - spent, rate * monday - spent, earned + spent],
    )


_TEMPLATES: dict[int, tuple[_Template, ...]] = {
    1: (_gets_more, _gives_away, _together),
    2: (_buy_then_give, _boxes_minus, _more_than),
    3: (_share_rest, _twice_fewer, _wages),
}


@generator("word_problems")
def word_problems(rng: random.Random, level: int) -> Problem:
    """A story with names, objects and quantities; the answer is a whole number."""
    template = rng.choice(_TEMPLATES[level])
    a, b, c = _three_names(rng)
    story, answer, mistakes = template(rng, a, b, c, rng.choice(_ITEMS))
    return Problem(
        question=story,
        answer=str(answer),
        distractors=pick_distractors(rng, answer, mistakes),
        kind=template.__name__.lstrip("_"),
    )
