"""Procedural generators: determinism, valid choices, independently recomputed answers, YAML specs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agimeter.errors import TaskSpecError, UnknownTaskError
from agimeter.scoring.extraction import exact_match
from agimeter.scoring.score import extract_answer
from agimeter.tasks.procedural import OFFLINE_SUITE, generate, generator_names
from agimeter.tasks.procedural._registry import seed_half
from agimeter.tasks.registry import load_spec
from agimeter.tasks.spec import ProceduralSource, TaskSpec
from agimeter.tasks.task import Task

OFFLINE_DIR = Path(__file__).parents[2] / "src" / "agimeter" / "tasks" / "builtin" / "offline"
N = 150  # 50 docs per level with level=0


def _docs(generator: str, seed: int = 7, level: int = 0, n: int = N) -> list[dict[str, object]]:
    return generate(generator, n, level, seed)


def test_generator_names() -> None:
    assert {"arithmetic", "word_problems", "logic"} <= set(generator_names())


@pytest.mark.parametrize("generator", generator_names())
def test_same_seed_same_docs_and_different_seed_different(generator: str) -> None:
    assert _docs(generator, seed=11) == _docs(generator, seed=11)
    a = [d["question"] for d in _docs(generator, seed=11)]
    b = [d["question"] for d in _docs(generator, seed=13)]
    assert a != b
    # The first docs do not depend on how many are asked for.
    assert _docs(generator, seed=11, n=10) == _docs(generator, seed=11)[:10]


def test_docs_do_not_depend_on_python_hash_seed() -> None:
    code = (
        "import json; from agimeter.tasks.procedural import generate, generator_names; "
        "print(json.dumps([generate(g, 30, 0, 5) for g in generator_names()]))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
    expected = [generate(g, 30, 0, 5) for g in generator_names()]
    assert json.loads(outputs.pop()) == expected


@pytest.mark.parametrize("generator", generator_names())
def test_docs_are_well_formed(generator: str) -> None:
    docs = _docs(generator)
    assert len(docs) == N
    assert len({d["id"] for d in docs}) == N
    assert len({d["question"] for d in docs}) == N  # no repeats within a source
    for doc in docs:
        choices = doc["choices"]
        assert isinstance(choices, list) and all(isinstance(c, str) and c for c in choices)
        assert len(choices) >= 2 and len(set(choices)) == len(choices)
        assert isinstance(doc["gold"], int) and 0 <= doc["gold"] < len(choices)
        assert choices[doc["gold"]] == doc["answer"]
        assert isinstance(doc["question"], str) and doc["question"]
    # The gold answer is not always in the same position.
    assert len({d["gold"] for d in docs}) > 1


@pytest.mark.parametrize("generator", ["arithmetic", "word_problems"])
def test_numeric_tasks_have_four_numeric_choices(generator: str) -> None:
    for doc in _docs(generator):
        choices = doc["choices"]
        assert isinstance(choices, list) and len(choices) == 4
        assert all(re.fullmatch(r"\d+", str(c)) for c in choices)


@pytest.mark.parametrize("generator", generator_names())
def test_levels(generator: str) -> None:
    mixed = _docs(generator)
    assert [d["level"] for d in mixed[:6]] == [1, 2, 3, 1, 2, 3]
    for level in (1, 2, 3):
        assert {d["level"] for d in _docs(generator, level=level, n=20)} == {level}


def test_levels_get_harder() -> None:
    def mean_length(generator: str, level: int) -> float:
        docs = _docs(generator, level=level, n=60)
        return sum(len(str(d["question"])) for d in docs) / len(docs)

    for generator in generator_names():
        lengths = [mean_length(generator, level) for level in (1, 2, 3)]
        assert lengths == sorted(lengths), (generator, lengths)
    answers = {lvl: [int(str(d["answer"])) for d in _docs("arithmetic", level=lvl, n=60)] for lvl in (1, 2, 3)}
    assert max(answers[1]) <= 29 < max(answers[2]) and max(answers[2]) < max(answers[3])


def test_seed_parity_separates_test_docs_from_exemplars() -> None:
    for generator in generator_names():
        even = {str(d["question"]) for d in _docs(generator, seed=2024, n=300)}
        odd = {str(d["question"]) for d in _docs(generator, seed=2025, n=300)}
        assert not even & odd
        assert {seed_half(q) for q in even} == {0} and {seed_half(q) for q in odd} == {1}


def test_arithmetic_answers() -> None:
    for doc in _docs("arithmetic"):
        expression = str(doc["expression"])
        assert re.fullmatch(r"[\d+\-*() ]+", expression)
        assert doc["question"] == f"What is {expression}?"
        assert int(str(doc["answer"])) == eval(expression)


def _boolean_answer(question: str) -> str:
    expression = re.fullmatch(r'Is "(.+)" True or False\?', question)
    assert expression is not None
    assert re.fullmatch(r"(True|False|and|or|not|[() ])+", expression.group(1))
    return str(bool(eval(expression.group(1))))


_SCALES = {"taller": 1, "shorter": -1, "older": 1, "younger": -1, "faster": 1, "slower": -1,
           "heavier": 1, "lighter": -1}  # fmt: skip


def _ordering_answer(question: str) -> str:
    above: dict[str, set[str]] = {}  # person -> people ranked above them ("more")
    for x, word, y in re.findall(r"(\w+) is (\w+) than (\w+)\.", question):
        upper, lower = (x, y) if _SCALES[word] > 0 else (y, x)
        above.setdefault(upper, set())
        above.setdefault(lower, set()).add(upper)
    # Transitive closure, then rank by how many people are above each person.
    changed = True
    while changed:
        changed = False
        for person, ups in above.items():
            closure = set(ups).union(*(above[u] for u in ups)) if ups else set()
            if closure != ups:
                above[person], changed = closure, True
    ranking = sorted(above, key=lambda p: len(above[p]))
    assert [len(above[p]) for p in ranking] == list(range(len(ranking)))  # a total order
    ask = re.search(r"Who is (?:the )?(second )?(\w+)\?$", question)
    assert ask is not None
    second, word = ask.group(1) is not None, ask.group(2)
    if word in _SCALES:  # level 1: "Who is taller?"
        return ranking[0] if _SCALES[word] > 0 else ranking[-1]
    comparative = {
        "tallest": "taller",
        "shortest": "shorter",
        "oldest": "older",
        "youngest": "younger",
        "fastest": "faster",
        "slowest": "slower",
        "heaviest": "heavier",
        "lightest": "lighter",
    }
    more = _SCALES[comparative[word]] > 0
    order = ranking if more else ranking[::-1]
    return order[1 if second else 0]


def _syllogism_answer(question: str) -> str:
    subject = re.search(r"(\w+) is a (\w+)\. Is \1 a (\w+)\?$", question)
    assert subject is not None
    _name, start, goal = subject.groups()
    rules = re.findall(r"(All|No) (\w+) are (\w+)\.", question)

    def singular(plural: str) -> str:
        return plural[:-2] if plural.endswith("xes") else plural[:-1]

    member: set[str] = {start}
    not_member: set[str] = set()
    for _ in rules:  # forward chaining; one pass per rule is enough for a chain
        for quantifier, a, b in rules:
            if singular(a) in member:
                (member if quantifier == "All" else not_member).add(singular(b))
    assert (goal in member) != (goal in not_member), question  # decidable
    return "Yes" if goal in member else "No"


def test_logic_answers() -> None:
    solvers: dict[str, Callable[[str], str]] = {
        "boolean": _boolean_answer,
        "ordering": _ordering_answer,
        "syllogism": _syllogism_answer,
    }
    kinds = set()
    for doc in _docs("logic", n=300):
        kind = str(doc["kind"])
        kinds.add(kind)
        assert solvers[kind](str(doc["question"])) == doc["answer"], doc
    assert kinds == set(solvers)


def test_logic_yes_no_and_true_false_are_balanced() -> None:
    docs = _docs("logic", n=300)
    for answers in (("True", "False"), ("Yes", "No")):
        counts = [sum(d["answer"] == a for d in docs) for a in answers]
        assert min(counts) > 0.3 * sum(counts), (answers, counts)


_WORD_FORMULAS: dict[str, Callable[[list[int]], int]] = {
    "gets_more": lambda v: v[0] + v[1],
    "gives_away": lambda v: v[0] - v[1],
    "together": lambda v: v[0] + v[1],
    "buy_then_give": lambda v: v[0] + v[1] - v[2],
    "boxes_minus": lambda v: v[0] * v[1] - v[2],
    "more_than": lambda v: v[0] + v[0] + v[1],
    "share_rest": lambda v: (v[0] * v[1] - v[2]) // v[3],
    "twice_fewer": lambda v: v[0] + 2 * v[0] + 2 * v[0] - v[1],
    "wages": lambda v: v[0] * (v[1] + v[2]) - v[3],
}


def test_word_problem_answers() -> None:
    kinds = set()
    for doc in _docs("word_problems", n=300):
        kind = str(doc["kind"])
        kinds.add(kind)
        numbers = [int(x) for x in re.findall(r"\d+", str(doc["question"]))]
        assert int(str(doc["answer"])) == _WORD_FORMULAS[kind](numbers), doc
        if kind == "share_rest":
            assert (numbers[0] * numbers[1] - numbers[2]) % numbers[3] == 0
    assert kinds == set(_WORD_FORMULAS)


def test_unknown_generator_names_the_known_ones() -> None:
    with pytest.raises(UnknownTaskError, match="arithmetic"):
        generate("no_such_generator", 3, 1, 0)


@pytest.mark.parametrize("level", [-1, 4])
def test_bad_level_is_a_spec_error(level: int) -> None:
    with pytest.raises(TaskSpecError, match="level"):
        generate("arithmetic", 3, level, 0)


def _offline_specs() -> list[TaskSpec]:
    return [TaskSpec.model_validate(yaml.safe_load(p.read_text())) for p in sorted(OFFLINE_DIR.glob("*.yaml"))]


def test_offline_yamls_validate_and_form_the_suite() -> None:
    specs = _offline_specs()
    assert sorted(s.name for s in specs) == sorted(OFFLINE_SUITE)
    for spec in specs:
        assert spec.subtask_field == "level"
        assert isinstance(spec.source, ProceduralSource)
        assert spec.source.generator in generator_names()
        fewshot = spec.fewshot.source
        assert isinstance(fewshot, ProceduralSource)
        assert fewshot.generator == spec.source.generator
        assert fewshot.seed % 2 != spec.source.seed % 2  # exemplars never repeat a test doc
        expected = ["acc", "acc_norm"] if spec.output_type == "multiple_choice" else ["exact_match"]
        assert spec.metrics == expected
    forms = {(s.source.generator, s.output_type) for s in specs if isinstance(s.source, ProceduralSource)}
    assert forms == {(g, o) for g in generator_names() for o in ("multiple_choice", "generate")}


@pytest.mark.parametrize(
    ("name", "generation", "target", "correct"),
    [
        ("offline_logic_gen", " Yes", "Yes", True),
        ("offline_logic_gen", " alice is taller.", "Alice", True),
        ("offline_logic_gen", " False and True", "True", False),
        ("offline_arith_gen", " 28.", "28", True),
        ("offline_arith_gen", " 1,028", "1028", True),
        ("offline_arith_gen", " 27", "28", False),
        ("offline_wordprob_gen", " 12 apples", "12", True),
    ],
)
def test_generative_extraction(name: str, generation: str, target: str, correct: bool) -> None:
    spec = next(s for s in _offline_specs() if s.name == name)
    assert spec.extraction is not None
    answer = extract_answer(generation, spec.extraction)
    ext = spec.extraction
    assert exact_match(answer, target, ignore_regexes=ext.ignore_regexes, ignore_case=ext.ignore_case) is correct


def test_offline_tasks_render() -> None:
    for path in sorted(OFFLINE_DIR.glob("*.yaml")):
        task = Task(load_spec(path))
        items = task.items(limit=6)
        assert [item.subtask for item in items] == ["1", "2", "3", "1", "2", "3"]
        for item in items:
            assert item.context.count("Question:") == 4  # three exemplars + the question
            assert item.context.endswith("\nAnswer:")
