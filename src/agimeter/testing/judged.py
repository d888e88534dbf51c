"""A toy judged benchmark for tests: a two-turn conversation task scored by ``judge_single`` and a
pairwise task scored by ``judge_pairwise``, on N generated questions (half of them with reference
answers), plus scripted fake models that answer and judge them deterministically."""

from __future__ import annotations

import json
from pathlib import Path

from agimeter.backends.fake import FakeBackend

CONV = """\
name: conv_judged
version: "1"
dimension: instruction_following
output_type: generate
source: {kind: file, path: conv/conv.jsonl, format: jsonl}
prompt:
  doc_to_text: "{{ turns[0] }}"
  doc_to_target: "{{ qid }}"
  followups: "{{ turns[1:] }}"
  chat: true
generation: {stop: [], max_tokens: 64}
scoring:
  kind: judge_single
  fields:
    ref_answer_1: "{{ ref[0] if ref else '' }}"
    ref_answer_2: "{{ ref[1] if ref else '' }}"
  judge:
    prompts:
      single: {name: s1, system: "Judge one.", template: "[Q] {question} [A] {answer}"}
      single_reference: {name: s1r, system: "Judge one.", template: "[Q] {question} [REF] {ref_answer_1} [A] {answer}"}
      multi_turn:
        name: m1
        system: "Judge two."
        template: "[Q1] {question_1} [A1] {answer_1} [Q2] {question_2} [A2] {answer_2}"
      multi_turn_reference:
        name: m1r
        system: "Judge two."
        template: "[REF2] {ref_answer_2} [Q1] {question_1} [A1] {answer_1} [Q2] {question_2} [A2] {answer_2}"
metrics: [score, turn_1, turn_2]
subtask_field: category
subtask_dimensions: {writing: creativity}
"""

PAIR = """\
name: pair_judged
version: "1"
dimension: creativity
output_type: generate
source: {kind: file, path: conv/conv.jsonl, format: jsonl}
prompt: {doc_to_text: "{{ turns[0] }}", doc_to_target: "{{ qid }}", chat: true}
generation: {stop: [], max_tokens: 64}
scoring:
  kind: judge_pairwise
  fields: {baseline: "{{ baseline }}", category: category}
  judge:
    verdict_patterns: ['\\[\\[([AB<>=]+)\\]\\]', '\\[([AB<>=]+)\\]']
    prompts:
      writing: {name: writing, system: "Compare.", template: "<Q>{QUESTION}<A>{ANSWER_A}<B>{ANSWER_B}"}
      math: {name: math, system: "Compare.", template: "<Q>{QUESTION}<A>{ANSWER_A}<B>{ANSWER_B}"}
metrics: [win_rate]
"""

N = 4


def write_judged_toy(root: Path, n: int = N) -> dict[str, Path]:
    """Data and the two task YAMLs under ``root``: keys ``data``, ``conv``, ``pair``, ``tmp``."""
    data = root / "data" / "conv"
    data.mkdir(parents=True)
    rows = [
        {
            "qid": i,
            "category": "math" if i % 2 else "writing",
            "turns": [f"first question {i}?", f"second question {i}?"],
            "ref": [f"ref one {i}", f"ref two {i}"] if i % 2 else None,
            "baseline": f"baseline answer {i}",
        }
        for i in range(n)
    ]
    (data / "conv.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "conv.yaml").write_text(CONV)
    (root / "pair.yaml").write_text(PAIR)
    return {"data": root / "data", "conv": root / "conv.yaml", "pair": root / "pair.yaml", "tmp": root}


def candidate_responses(n: int = N) -> dict[str, str]:
    """The scripted candidate: "answer one i" to question i's first turn, "answer two i" to its second."""
    responses = {f"second question {i}?": f"answer two {i}" for i in range(n)}
    return responses | {f"first question {i}?": f"answer one {i}" for i in range(n)}


def judge_responses(**scripted: str) -> dict[str, str]:
    """The scripted MT-Bench-style judge: turn 2 prompts (holding "[A2]") rated 5, turn 1 prompts 8,
    unless ``scripted`` (prompt substring -> answer, checked first) says otherwise."""
    return {**scripted, "[A2]": "fine. [[5]]", "[A]": "good. Rating: [[8]]"}


def candidate(n: int = N) -> FakeBackend:
    return FakeBackend("cand", chat_template=True, responses=candidate_responses(n))


def judge(name: str = "judge", **scripted: str) -> FakeBackend:
    return FakeBackend(name, chat_template=True, responses=judge_responses(**scripted))
