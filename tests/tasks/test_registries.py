"""One registry style for every extension point (``agimeter.registry``), and one dimension list."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agimeter.analysis.benchmarks import BENCHMARKS
from agimeter.backends.registry import BACKENDS
from agimeter.errors import ConfigError, ModelError, TaskSpecError, UnknownTaskError
from agimeter.registry import Registry
from agimeter.report.tables import dimensions_of
from agimeter.server import query
from agimeter.tasks.dimensions import DIMENSIONS
from agimeter.tasks.preprocess import PREPROCESSORS, get_preprocessor, hellaswag
from agimeter.tasks.procedural import GENERATORS, generate
from agimeter.tasks.registry import builtin_task_names, load_spec, parse_spec, resolve_task
from agimeter.tasks.task import Task
from agimeter.testing.plugins import fresh_registries, write_distribution

GOOD = """\
name: mine
version: "1"
dimension: reasoning
output_type: generate
source: {kind: file, path: d.jsonl}
prompt:
  doc_to_text: "{{q}}"
  doc_to_target: "{{a}}"
generation: {n: 1}
metrics: [exact_match]
"""


def _spec_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(TaskSpecError) as err:
        load_spec(path)
    return str(err.value)


# ------------------------------------------------------------------ unknown names


def test_unknown_names_are_one_line_listing_the_known_ones(tmp_path: Path) -> None:
    assert _spec_error(tmp_path, GOOD + "scoring: {kind: rubric}\n") == (
        f"{tmp_path / 'my.yaml'}: scoring.kind: unknown scorer 'rubric' "
        "(known: code_exec, exact_match, ifeval, judge_pairwise, judge_single, math_equiv, multiple_choice, refusal)"
    )
    with pytest.raises(TaskSpecError) as err:
        get_preprocessor("shout")
    assert str(err.value) == "prompt.preprocess: unknown preprocessor 'shout' (known: hellaswag, truthfulqa)"
    with pytest.raises(UnknownTaskError) as unknown_generator:
        generate("dice", 3, 1, 0)
    assert str(unknown_generator.value) == (
        "unknown procedural generator 'dice' (known: arithmetic, logic, word_problems)"
    )
    with pytest.raises(ModelError) as unknown_backend:
        BACKENDS.get("vllm")
    assert str(unknown_backend.value) == "unknown backend 'vllm' (known: fake, gguf, hf, openai)"


def test_scorer_and_output_type_must_agree(tmp_path: Path) -> None:
    assert _spec_error(tmp_path, GOOD + "scoring: {kind: multiple_choice}\n").endswith(
        "my.yaml: scoring.kind: 'multiple_choice' scores multiple-choice tasks, not generated answers"
    )
    code = GOOD.replace("[exact_match]", "[pass@1, pass@5]") + "scoring: {kind: code_exec}\n"
    assert _spec_error(tmp_path, code).endswith("my.yaml: metrics: pass@5 needs generation.n >= 5")
    assert _spec_error(tmp_path, code.replace("pass@5", "pass@x")).endswith(
        "my.yaml: metrics: 'pass@x' is not reported by scorer 'code_exec' (it has: pass@K)"
    )
    mc = GOOD.replace("output_type: generate", "output_type: multiple_choice").replace("generation: {n: 1}\n", "")
    mc = mc.replace('doc_to_target: "{{a}}"', "doc_to_target: gold\n  doc_to_choice: choices")
    mc2 = mc.replace("[exact_match]", "[mc2]")
    assert _spec_error(tmp_path, mc2).endswith(
        "my.yaml: metrics: mc2 needs scoring.fields.num_true (how many leading choices are true)"
    )
    assert parse_spec(yaml.safe_load(mc.replace("[exact_match]", "[acc]")), "x").scorer == "multiple_choice"


# ------------------------------------------------------------------ registry behaviour


def test_a_name_is_registered_once() -> None:
    with PREPROCESSORS.isolated():
        PREPROCESSORS.add("hellaswag", hellaswag)  # the same object again: nothing changes
        with pytest.raises(ValueError, match="preprocessor 'hellaswag' is registered twice"):
            PREPROCESSORS.add("hellaswag", dict)
        with pytest.raises(ValueError, match="must be non-empty"):
            PREPROCESSORS.add(" shout", dict)
    assert PREPROCESSORS.get("hellaswag") is hellaswag


def test_lazy_references_are_imported_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "agimeter_lazy_demo.py").write_text("LOADED = True\ndef make(spec, **options):\n    return spec\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "agimeter_lazy_demo", raising=False)
    things: Registry[Any] = Registry("thing", group="agimeter.test-things", error=ConfigError)
    things.add_lazy("demo", "agimeter_lazy_demo:make")
    assert things.names() == ["demo"] and "agimeter_lazy_demo" not in sys.modules
    assert things.get("demo")("x") == "x" and "agimeter_lazy_demo" in sys.modules
    with pytest.raises(ValueError, match="module:attribute"):
        things.add_lazy("bad", "agimeter_lazy_demo.make")
    sys.modules.pop("agimeter_lazy_demo")


def test_listing_and_resolving_backends_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom agimeter.backends.registry import backend_prefixes, create_backend\n"
        "import agimeter.scoring\nfrom agimeter.tasks.registry import resolve_task\n"
        "backend_prefixes(); create_backend('fake:m'); resolve_task('mmlu')\n"
        "print(sorted(m for m in ('torch', 'llama_cpp', 'math_verify') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


PLUGIN = '''\
"""A plugin adding a record preprocessor and a procedural generator."""

from agimeter.tasks.preprocess import preprocessor
from agimeter.tasks.procedural import Problem, generator


@preprocessor("shout")
def shout(doc):
    return {**doc, "q": str(doc["q"]).upper()}


@generator("constant")
def constant(rng, level):
    value = rng.randint(1, 10**6)
    return Problem(question=f"Say {value}.", answer=str(value), distractors=(str(value + 1),), kind="echo")
'''


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    entry_points = {
        "agimeter.preprocessors": {"shout": "agimeter_task_plugin"},
        "agimeter.generators": {"constant": "agimeter_task_plugin"},
    }
    root = write_distribution(tmp_path / "site", "agimeter_task_plugin", PLUGIN, entry_points)
    monkeypatch.syspath_prepend(str(root))
    with fresh_registries("agimeter_task_plugin"):
        yield root


def test_plugins_add_preprocessors_and_generators(plugin: Path, tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"q": "why?", "a": "because"}\n')
    path = tmp_path / "plugin_task.yaml"
    path.write_text(GOOD.replace('doc_to_text: "{{q}}"', 'doc_to_text: "{{q}}"\n  preprocess: shout'))
    (item,) = Task(load_spec(path), tmp_path).items()
    assert item.context == "WHY?"
    docs = generate("constant", 4, 1, 7)
    assert [d["kind"] for d in docs] == ["echo"] * 4 and docs == generate("constant", 4, 1, 7)
    assert "constant" in GENERATORS.names() and "shout" in PREPROCESSORS.names()


# ------------------------------------------------------------------ one dimension list


def test_one_dimension_list_everywhere(tmp_path: Path) -> None:
    assert "long_context" not in DIMENSIONS  # no task has it (the report's own list had drifted)
    assert query.DIMENSIONS is DIMENSIONS
    assert {b.dimension for b in BENCHMARKS.values()} <= set(DIMENSIONS)
    assert {resolve_task(name).dimension for name in builtin_task_names()} <= set(DIMENSIONS)
    entries = [type("Entry", (), {"dimensions": {d: 1.0}})() for d in reversed(DIMENSIONS)]
    assert dimensions_of(entries) == list(DIMENSIONS)  # the report shows them in the list's order
    error = _spec_error(tmp_path, GOOD.replace("dimension: reasoning", "dimension: long_context"))
    assert error.startswith(f"{tmp_path / 'my.yaml'}: dimension: Input should be 'knowledge', 'reasoning'")
