"""Symbolic and logical reasoning: Boolean expressions, orderings of people, syllogisms."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from agimeter.tasks.procedural._registry import Problem, generator

_NAMES = (
    "Alice", "Bob", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jade",
    "Kofi", "Luis", "Mila", "Nina", "Oscar", "Pavel", "Rita", "Sofia", "Theo", "Yuki",
)  # fmt: skip

# (more, less, most, least): "X is <more> than Y" ranks X above Y.
_SCALES = (
    ("taller", "shorter", "tallest", "shortest"),
    ("older", "younger", "oldest", "youngest"),
    ("faster", "slower", "fastest", "slowest"),
    ("heavier", "lighter", "heaviest", "lightest"),
)

# Nonsense categories, so that world knowledge cannot stand in for the inference.
_CATEGORIES = (
    ("wug", "wugs"), ("blicket", "blickets"), ("dax", "daxes"), ("fep", "feps"), ("zorp", "zorps"),
    ("tove", "toves"), ("glim", "glims"), ("snark", "snarks"), ("mip", "mips"), ("vorp", "vorps"),
)  # fmt: skip


# ---- Boolean expressions ------------------------------------------------------------------


@dataclass(frozen=True)
class _Expr:
    op: str  # "const", "not", "and", "or"
    args: tuple[_Expr, ...] = ()
    value: bool = False

    def evaluate(self) -> bool:
        if self.op == "const":
            return self.value
        if self.op == "not":
            return not self.args[0].evaluate()
        if self.op == "and":
            return self.args[0].evaluate() and self.args[1].evaluate()
        return self.args[0].evaluate() or self.args[1].evaluate()

    def render(self) -> str:
        """Python syntax; binary sub-expressions are parenthesized so precedence never matters."""
        if self.op == "const":
            return str(self.value)
        parts = [a.render() if a.op in ("const", "not") else f"({a.render()})" for a in self.args]
        if self.op == "not":
            return f"not {parts[0]}"
        return f" {self.op} ".join(parts)


def _random_expr(rng: random.Random, operators: int) -> _Expr:
    if operators == 0:
        return _Expr("const", value=rng.random() < 0.5)
    op = rng.choice(("not", "and", "or", "and", "or"))
    if op == "not":
        return _Expr("not", (_random_expr(rng, operators - 1),))
    left = rng.randint(0, operators - 1)
    return _Expr(op, (_random_expr(rng, left), _random_expr(rng, operators - 1 - left)))


def _boolean(rng: random.Random, level: int) -> Problem:
    target = rng.random() < 0.5  # balance True and False answers
    operators = {1: 1, 2: 2, 3: rng.choice((3, 4))}[level]
    while True:
        expr = _random_expr(rng, operators)
        if expr.evaluate() == target and expr.render() not in ("not not True", "not not False"):
            break
    answer = str(target)
    return Problem(
        question=f'Is "{expr.render()}" True or False?',
        answer=answer,
        distractors=(str(not target),),
        kind="boolean",
        extra={"expression": expr.render()},
    )


# ---- orderings ----------------------------------------------------------------------------


def _ordering(rng: random.Random, level: int) -> Problem:
    more, less, most, least = rng.choice(_SCALES)
    people = rng.sample(_NAMES, level + 1)  # ranked: people[0] has the most of the quality
    facts = []
    for upper, lower in itertools.pairwise(people):
        if rng.random() < 0.5:
            facts.append(f"{upper} is {more} than {lower}.")
        else:
            facts.append(f"{lower} is {less} than {upper}.")
    rng.shuffle(facts)
    if level == 1:
        asks_most = rng.random() < 0.5
        ask, answer = (f"Who is {more}?", people[0]) if asks_most else (f"Who is {less}?", people[1])
    else:
        rank = rng.randrange(len(people)) if level == 3 else rng.choice((0, len(people) - 1))
        if rank == 0:
            ask = f"Who is the {most}?"
        elif rank == len(people) - 1:
            ask = f"Who is the {least}?"
        elif rank == 1:
            ask = f"Who is the second {most}?"
        else:
            ask = f"Who is the second {least}?"
        answer = people[rank]
    return Problem(
        question=" ".join([*facts, ask]),
        answer=answer,
        distractors=tuple(p for p in people if p != answer),
        kind="ordering",
    )


# ---- syllogisms ---------------------------------------------------------------------------


def _syllogism(rng: random.Random, level: int) -> Problem:
    chain = rng.sample(_CATEGORIES, level + 2)  # level + 1 links, plus one spare category
    links, spare = chain[:-1], chain[-1]
    holds = rng.random() < 0.5
    premises = [f"All {a[1]} are {b[1]}." for a, b in itertools.pairwise(links)]
    if not holds:
        # Only the last link may be negative: "No B are C" with X a B decides "X is not a C".
        premises[-1] = premises[-1].replace("All ", "No ", 1)
    if level == 3:
        premises.append(f"All {spare[1]} are {links[0][1]}.")  # true but irrelevant to the question
    rng.shuffle(premises)
    name = rng.choice(_NAMES)
    answer = "Yes" if holds else "No"
    question = " ".join([*premises, f"{name} is a {links[0][0]}.", f"Is {name} a {links[-1][0]}?"])
    return Problem(
        question=question,
        answer=answer,
        distractors=("No" if holds else "Yes",),
        kind="syllogism",
    )


@generator("logic")
def logic(rng: random.Random, level: int) -> Problem:
    """Boolean expressions (True/False), orderings (a name) or syllogisms (Yes/No), in equal shares."""
    return rng.choice((_boolean, _ordering, _syllogism))(rng, level)
