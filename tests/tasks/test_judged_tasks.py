"""The judged built-in tasks against the benchmarks' own files: MT-Bench's conversations, references
and judge prompts (verbatim), Arena-Hard's prompts, baselines, judge settings and the style
metadata of the baseline answers; and the task features they use (follow-ups, joins)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agimeter.errors import DataError, TaskSpecError
from agimeter.scoring.judge.style import answer_style
from agimeter.tasks.registry import load_spec, resolve_task
from agimeter.tasks.task import Task


def _jsonl(path: Path) -> list[dict[str, object]]:
    # split on newlines only: the answers hold other line separators (U+2028) inside strings
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def test_mt_bench_conversations_and_references(data_dir: Path) -> None:
    task = Task(resolve_task("mt_bench"), data_dir)
    items = task.items()
    questions = _jsonl(data_dir / "mt_bench/question.jsonl")
    references = {r["question_id"]: r for r in _jsonl(data_dir / "mt_bench/reference_answer/gpt-4.jsonl")}
    assert len(items) == 80 and {i.subtask for i in items} == {q["category"] for q in questions}
    for item, q in zip(items, questions, strict=True):
        turns = q["turns"]
        assert isinstance(turns, list)
        assert item.chat_messages == (("user", turns[0]),) and item.followups == tuple(turns[1:])
        ref = references.get(q["question_id"])
        if q["category"] in ("math", "reasoning", "coding"):  # FastChat's NEED_REF_CATS
            assert ref is not None
            ref_turns = ref["choices"][0]["turns"]  # type: ignore[index]
            assert (item.extra["ref_answer_1"], item.extra["ref_answer_2"]) == tuple(ref_turns)
        else:
            assert item.extra == {"ref_answer_1": "", "ref_answer_2": ""}
    assert sum(bool(i.extra["ref_answer_1"]) for i in items) == 30


def test_mt_bench_judge_prompts_are_fastchats_verbatim(data_dir: Path) -> None:
    shipped = {p["name"]: p for p in _jsonl(data_dir / "mt_bench/judge_prompts.jsonl")}
    judge = resolve_task("mt_bench").scoring.judge
    assert judge is not None and judge.temperature == 0.0 and judge.max_tokens == 2048
    names = {"single": "single-v1", "single_reference": "single-math-v1"}
    names |= {"multi_turn": "single-v1-multi-turn", "multi_turn_reference": "single-math-v1-multi-turn"}
    for key, name in names.items():
        prompt = judge.prompts[key]
        assert prompt.name == name
        assert (prompt.system, prompt.template) == (shipped[name]["system_prompt"], shipped[name]["prompt_template"])


@pytest.mark.parametrize(
    ("name", "category", "count"),
    [("arena_hard_creative", "creative_writing", 250), ("arena_hard_hard", "hard_prompt", 500)],
)
def test_arena_hard_prompts_baselines_and_judge_settings(data_dir: Path, name: str, category: str, count: int) -> None:
    spec = resolve_task(name)
    items = Task(spec, data_dir).items()
    questions = [q for q in _jsonl(data_dir / "arena_hard_v2/question.jsonl") if q["category"] == category]
    answers = {a["uid"]: a for a in _jsonl(data_dir / "arena_hard_v2/model_answer/o3-mini-2025-01-31.jsonl")}
    assert len(items) == count
    for item, q in zip(items, questions, strict=True):
        assert item.chat_messages == (("user", q["prompt"]),)
        assert item.extra["baseline"] == answers[q["uid"]]["messages"][-1]["content"]["answer"]  # type: ignore[index]
        assert item.extra["category"] == category
    settings = json.loads((data_dir / "arena_hard_v2/judge_settings.json").read_text())
    config = yaml.safe_load((data_dir / "arena_hard_v2/arena-hard-v2.0.yaml").read_text())
    judge = spec.scoring.judge
    assert judge is not None
    assert judge.prompts[category].system == settings[category]["system_prompt"]
    assert judge.prompts[category].template == config["prompt_template"]
    assert judge.verdict_patterns == config["regex_patterns"] and judge.temperature == config["temperature"]
    assert judge.max_tokens == config["max_tokens"] and judge.strong_weight == 3


def test_answer_style_reproduces_the_shipped_baseline_metadata(data_dir: Path) -> None:
    """Token length (o200k) and markdown counts of all 750 baseline answers, as add_markdown_info.py made them."""
    for answer in _jsonl(data_dir / "arena_hard_v2/model_answer/o3-mini-2025-01-31.jsonl"):
        meta = answer["metadata"]
        assert isinstance(meta, dict)
        style = answer_style(answer["messages"][-1]["content"]["answer"])  # type: ignore[index]
        expected = (meta["token_len"], *(sum(meta[k].values()) for k in ("header_count", "list_count", "bold_count")))
        assert (style.token_len, style.header_count, style.list_count, style.bold_count) == expected, answer["uid"]


JOINED = """\
name: joined
version: "1"
dimension: knowledge
output_type: generate
source:
  kind: file
  path: j/q.jsonl
  join: [{path: j/extra.jsonl, key: key, into: extra, required: REQUIRED}]
prompt: {doc_to_text: "{{ q }}", doc_to_target: "{{ extra.answer if extra else 'none' }}"}
generation: {max_tokens: 4}
metrics: [exact_match]
"""


def _joined(tmp_path: Path, extra: list[dict[str, object]], required: bool = True) -> Task:
    (tmp_path / "j").mkdir()
    (tmp_path / "j/q.jsonl").write_text("".join(json.dumps({"key": k, "q": f"q{k}"}) + "\n" for k in (1, 2)))
    (tmp_path / "j/extra.jsonl").write_text("".join(json.dumps(r) + "\n" for r in extra))
    path = tmp_path / "joined.yaml"
    path.write_text(JOINED.replace("REQUIRED", str(required).lower()))
    return Task(load_spec(path), tmp_path)


def test_join_attaches_the_matching_record(tmp_path: Path) -> None:
    task = _joined(tmp_path, [{"key": 2, "answer": "two"}, {"key": 1, "answer": "one"}])
    assert [i.target for i in task.items()] == ["one", "two"]


def test_join_misses_and_duplicates_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"j/q.jsonl:2: no record of j/extra.jsonl has key 2 \(source.join\)"):
        _joined(tmp_path, [{"key": 1, "answer": "one"}]).items()


def test_optional_join_leaves_null(tmp_path: Path) -> None:
    task = _joined(tmp_path, [{"key": 1, "answer": "one"}], required=False)
    assert [i.target for i in task.items()] == ["one", "none"]


def test_join_duplicate_key(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"j/extra.jsonl:2: key '1' occurs twice \(source.join\)"):
        _joined(tmp_path, [{"key": 1, "answer": "one"}, {"key": 1, "answer": "uno"}]).items()


def test_a_conversation_draws_one_sample(tmp_path: Path) -> None:
    text = resolve_task("mt_bench").model_dump_json()
    spec = json.loads(text)
    spec["generation"] |= {"n": 2, "temperature": 0.7}
    path = tmp_path / "mt.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(TaskSpecError, match=r"prompt\.followups: a conversation draws one sample per turn"):
        load_spec(path)
