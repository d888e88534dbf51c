"""Loaders: formats, globs, file:line errors, missing files, HF offline, required fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agimeter.errors import DataError, TaskSpecError
from agimeter.tasks import Task
from agimeter.tasks.loaders import expand_paths, load_docs
from agimeter.tasks.registry import parse_spec
from agimeter.tasks.spec import FileSource, HFSource, InlineSource


def _mc_spec(path: str, **prompt: str) -> dict[str, object]:
    return {
        "name": "t",
        "version": "1",
        "dimension": "knowledge",
        "output_type": "multiple_choice",
        "source": {"kind": "file", "path": path},
        "prompt": {
            "doc_to_text": "{{question}}",
            "doc_to_target": "answer",
            "doc_to_choice": "choices",
            **prompt,
        },
        "metrics": ["acc"],
    }


def test_csv_with_header_and_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('q,a\n"multi\nline",1\nx,2\n', encoding="utf-8")
    docs = load_docs(FileSource(path="a.csv"), tmp_path)
    assert [d.fields for d in docs] == [{"q": "multi\nline", "a": "1"}, {"q": "x", "a": "2"}]
    assert [d.origin for d in docs] == ["a.csv:2", "a.csv:4"]


def test_malformed_csv_row_names_file_and_line(tmp_path: Path) -> None:
    sub = tmp_path / "mmlu" / "test"
    sub.mkdir(parents=True)
    rows = ["question,choice0,choice1,choice2,choice3,answer"] + ["q,a,b,c,d,0"] * 15 + ["q,a,b,c,0"]
    (sub / "anatomy_test.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_docs(FileSource(path="mmlu/test/*_test.csv"), tmp_path)
    assert str(err.value) == "mmlu/test/anatomy_test.csv:17: expected 6 columns, got 5"


def test_tsv_headerless_without_quoting(tmp_path: Path) -> None:
    (tmp_path / "m.tsv").write_text('He said "hi"\t18\nx\t2\n', encoding="utf-8")
    docs = load_docs(FileSource(path="m.tsv", columns=["question", "answer"]), tmp_path)
    assert docs[0].fields == {"question": 'He said "hi"', "answer": "18"}
    (tmp_path / "bad.tsv").write_text("a\t1\nb\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"^bad.tsv:2: expected 2 columns, got 1$"):
        load_docs(FileSource(path="bad.tsv", columns=["question", "answer"]), tmp_path)


def test_jsonl_json_parquet_and_glob_order(tmp_path: Path) -> None:
    (tmp_path / "b.jsonl").write_text('{"x": 2}\n\n{"x": 3}\n', encoding="utf-8")
    (tmp_path / "a.jsonl").write_text('{"x": 1}\n', encoding="utf-8")
    docs = load_docs(FileSource(path="*.jsonl", file_stem_field="stem"), tmp_path)
    assert [(d.fields["x"], d.fields["stem"], d.origin) for d in docs] == [
        (1, "a", "a.jsonl:1"),
        (2, "b", "b.jsonl:1"),
        (3, "b", "b.jsonl:3"),
    ]
    (tmp_path / "r.json").write_text(json.dumps({"examples": [{"x": 1}, {"x": 2}]}), encoding="utf-8")
    assert len(load_docs(FileSource(path="r.json", records_key="examples"), tmp_path)) == 2
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "p.parquet")
    assert [d.fields for d in load_docs(FileSource(path="p.parquet"), tmp_path)] == [{"x": 1}, {"x": 2}]


def test_bad_jsonl_line(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"x": 1}\n{"x": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"^d.jsonl:2: invalid JSON"):
        load_docs(FileSource(path="d.jsonl"), tmp_path)


def test_missing_file_hints_at_data_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_docs(FileSource(path="arc/none.jsonl"), tmp_path)
    msg = str(err.value)
    assert "arc/none.jsonl" in msg and "--data-dir" in msg and "AGIMETER_DATA_DIR" in msg
    assert "\n" not in msg
    with pytest.raises(DataError, match="no data files match"):
        expand_paths("x/*.csv", tmp_path)


def test_relative_path_without_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGIMETER_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="AGIMETER_DATA_DIR"):
        load_docs(FileSource(path="x.jsonl"), None)


def test_data_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.jsonl").write_text('{"x": 1}\n', encoding="utf-8")
    monkeypatch.setenv("AGIMETER_DATA_DIR", str(tmp_path))
    assert len(load_docs(FileSource(path="x.jsonl"), None)) == 1


def test_hellaswag_txt_malformed(tmp_path: Path) -> None:
    (tmp_path / "h.txt").write_text("Label: ctx. he\n7\na\nb\nc\nd\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"^h.txt:2: expected a gold label 0-3"):
        load_docs(FileSource(path="h.txt"), tmp_path)


def test_hf_dataset_not_cached_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"^HF dataset agimeter-test/not-there \[test\] is not in the local cache"):
        load_docs(HFSource(dataset="agimeter-test/not-there", split="test"), tmp_path)


def test_inline_records() -> None:
    docs = load_docs(InlineSource(records=[{"q": "a"}]), None, spec_name="x.yaml")
    assert docs[0].origin == "x.yaml: inline record 0"


def test_missing_template_field_names_file_and_line(tmp_path: Path) -> None:
    rows = [{"question": "q1", "choices": ["a", "b"], "answer": 0}, {"choices": ["a", "b"], "answer": 1}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    task = Task(parse_spec(_mc_spec("d.jsonl"), "t.yaml"), tmp_path)
    assert task.items(limit=1)[0].context == "q1"
    with pytest.raises(DataError) as err:
        task.items()
    # The task YAML and the field first (what to fix), then the record that showed it.
    assert str(err.value) == "t.yaml: prompt.doc_to_text: 'question' is undefined (record d.jsonl:2)"


@pytest.mark.parametrize(
    ("prompt", "source", "field"),
    [
        ({"doc_to_text": "{{question}"}, {}, "prompt.doc_to_text"),
        ({"description": "{% if x %}"}, {}, "prompt.description"),
        ({"doc_to_choice": "{{ choices | }}"}, {}, "prompt.doc_to_choice"),
        ({"fewshot_target": "{{ }}"}, {}, "prompt.fewshot_target"),
        ({}, {"where": "answer >"}, "source.where"),
    ],
)
def test_template_syntax_error_names_yaml_and_field_at_load(
    tmp_path: Path, prompt: dict[str, str], source: dict[str, str], field: str
) -> None:
    data = _mc_spec("d.jsonl", **prompt)
    data["source"] = {**data["source"], **source}  # type: ignore[dict-item]
    # Found when the YAML is read: no data file is needed (none exists here).
    with pytest.raises(TaskSpecError) as err:
        parse_spec(data, "my_task.yaml")
    assert str(err.value).startswith(f"my_task.yaml: {field}: template syntax error: ")
    assert "\n" not in str(err.value)


def test_template_syntax_error_in_scoring_fields(tmp_path: Path) -> None:
    data = _mc_spec("d.jsonl")
    data["scoring"] = {"fields": {"num_true": "{{ n "}}
    with pytest.raises(TaskSpecError, match=r"^my_task.yaml: scoring.fields.num_true: template syntax error"):
        parse_spec(data, "my_task.yaml")


def test_undefined_field_in_where_names_yaml_and_record(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(json.dumps({"question": "q", "choices": ["a"], "answer": 0}) + "\n")
    data = _mc_spec("d.jsonl")
    data["source"] = {**data["source"], "where": "level > 1"}  # type: ignore[dict-item]
    with pytest.raises(DataError) as err:
        Task(parse_spec(data, "my_task.yaml"), tmp_path).items()
    assert str(err.value) == "my_task.yaml: source.where: 'level' is undefined (record d.jsonl:1)"


@pytest.mark.parametrize(
    ("name", "text"), [("e.jsonl", ""), ("blank.jsonl", "\n\n"), ("h.csv", "question,answer\n"), ("e.json", "[]")]
)
def test_empty_data_file_is_named(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_docs(FileSource(path=name), tmp_path)
    assert str(err.value) == f"{name}: no rows"


def test_where_that_keeps_nothing_names_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(json.dumps({"question": "q", "choices": ["a"], "answer": 0}) + "\n")
    data = _mc_spec("d.jsonl")
    data["source"] = {**data["source"], "where": "answer > 5"}  # type: ignore[dict-item]
    with pytest.raises(DataError, match=r"^my_task.yaml: source: no documents"):
        Task(parse_spec(data, "my_task.yaml"), tmp_path).items()


def test_gold_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(json.dumps({"question": "q", "choices": ["a"], "answer": 3}) + "\n")
    with pytest.raises(DataError, match=r"^d.jsonl:1: gold index 3 out of range"):
        Task(parse_spec(_mc_spec("d.jsonl"), "t.yaml"), tmp_path).items()


def test_string_gold_and_template_choices(tmp_path: Path) -> None:
    row = {"question": "q", "opts": {"text": ["yes", "no"]}, "answer": "no"}
    (tmp_path / "d.jsonl").write_text(json.dumps(row) + "\n")
    spec = parse_spec(_mc_spec("d.jsonl", doc_to_choice="{{opts.text}}"), "t.yaml")
    item = Task(spec, tmp_path).items()[0]
    assert item.choice_texts == ("yes", "no") and item.target == 1
