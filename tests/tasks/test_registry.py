"""Spec loading errors and task resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from agimeter.errors import TaskSpecError, UnknownTaskError
from agimeter.tasks import load_spec, resolve_task
from agimeter.tasks.spec import SPEC_SCHEMA_VERSION

GOOD = """\
name: mine
version: "1"
dimension: reasoning
output_type: multiple_choice
source: {kind: file, path: d.jsonl}
prompt:
  doc_to_text: "{{q}}"
  doc_to_target: gold
  doc_to_choice: choices
metrics: [acc]
"""


def test_load_good_spec(tmp_path: Path) -> None:
    path = tmp_path / "my.yaml"
    path.write_text(GOOD)
    spec = load_spec(path)
    assert spec.name == "mine" and spec.schema_version == SPEC_SCHEMA_VERSION
    assert resolve_task(str(path)) == spec


def test_missing_field_names_file_and_field_path(tmp_path: Path) -> None:
    path = tmp_path / "my.yaml"
    path.write_text(GOOD.replace('  doc_to_text: "{{q}}"\n', ""))
    with pytest.raises(TaskSpecError) as err:
        load_spec(path)
    assert str(err.value) == f"{path}: prompt.doc_to_text: field required"


def test_unknown_and_wrongly_typed_fields(tmp_path: Path) -> None:
    path = tmp_path / "my.yaml"
    path.write_text(GOOD + "colour: blue\n")
    with pytest.raises(TaskSpecError, match=r"my.yaml: colour: unknown field$"):
        load_spec(path)
    path.write_text(GOOD.replace("path: d.jsonl", "path: d.jsonl, format: xml"))
    with pytest.raises(TaskSpecError, match=r"my.yaml: source.file.format: Input should be"):
        load_spec(path)
    path.write_text(GOOD.replace("metrics: [acc]", "metrics: [exact_match]"))
    with pytest.raises(
        TaskSpecError, match=r"my.yaml: metrics: 'exact_match' is not reported by scorer 'multiple_choice'"
    ):
        load_spec(path)
    path.write_text(GOOD.replace("metrics: [acc]", "metrics: [acc]\nscoring: {kind: ifeval}"))
    with pytest.raises(TaskSpecError, match=r"my.yaml: scoring.kind is for generate tasks"):
        load_spec(path)


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "my.yaml"
    path.write_text("name: [unclosed\nversion: 1\n")
    with pytest.raises(TaskSpecError) as err:
        load_spec(path)
    assert str(err.value).startswith(f"{path}:") and "invalid YAML" in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_task_lists_close_matches() -> None:
    with pytest.raises(UnknownTaskError) as err:
        resolve_task("hellaswg")
    assert "hellaswag" in str(err.value) and "did you mean" in str(err.value)
    with pytest.raises(UnknownTaskError, match="task file not found"):
        resolve_task("nowhere/x.yaml")


def test_builtins_validate() -> None:
    for name in ("mmlu", "arc_challenge", "hellaswag", "gsm8k"):
        assert resolve_task(name).name == name
