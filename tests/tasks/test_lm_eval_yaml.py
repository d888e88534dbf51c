"""lm-eval task YAMLs as agimeter tasks: the supported subset, includes, --include-path, and a
one-line error naming the file and field for everything outside the subset."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agimeter.errors import ConfigError, TaskSpecError, UnknownTaskError
from agimeter.scoring.extraction import INVALID, LAST_NUMBER_PATTERN, exact_match
from agimeter.tasks import Task, resolve_task
from agimeter.tasks import lm_eval_scoring as scoring

ROWS = [
    {
        "question": f"What is {i} + 1?",
        "options": {"a": str(i), "b": str(i + 1), "c": str(i + 2)},
        "label": 1,
        "answer": f"It is {i + 1}. #### {i + 1}",
    }
    for i in range(12)
]
MC = {
    "task": "toy_mc",
    "dataset_path": "json",
    "dataset_kwargs": {"data_files": {"test": "toy/test.jsonl", "train": "toy/train.jsonl"}},
    "test_split": "test",
    "training_split": "train",
    "output_type": "multiple_choice",
    "description": "Questions about {{ 'sums' }}.\n\n",
    "doc_to_text": "Q: {{question}}\nA:",
    "doc_to_choice": "{{[options.a, options.b, options.c]}}",
    "doc_to_target": "label",
    "target_delimiter": " ",
    "fewshot_delimiter": "\n###\n",
    "num_fewshot": 2,
    "fewshot_config": {"sampler": "first_n"},
    "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    "tag": ["toys"],
    "metadata": {"version": 2.0, "dimension": "math"},
}
GEN = {
    "task": "toy_gen",
    "dataset_path": "json",
    "dataset_kwargs": {"data_files": {"test": "toy/test.jsonl"}},
    "test_split": "test",
    "output_type": "generate_until",
    "doc_to_text": "question",
    "doc_to_target": "{{answer.split('#### ')[-1]}}",
    "generation_kwargs": {"until": "\n", "max_gen_toks": 32, "do_sample": False},
    "filter_list": [
        {
            "name": "strict",
            "filter": [{"function": "regex", "regex_pattern": "#### (\\d+)"}, {"function": "take_first"}],
        }
    ],
    "metric_list": [{"metric": "exact_match", "ignore_case": True, "regexes_to_ignore": [","]}],
}


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data" / "toy"
    data.mkdir(parents=True)
    for split, rows in (("test", ROWS[4:]), ("train", ROWS[:4])):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "tasks").mkdir()
    return {"data": tmp_path / "data", "tasks": tmp_path / "tasks"}


def _write(env: dict[str, Path], config: dict[str, Any], name: str = "task.yaml") -> Path:
    """Dump ``config``; a string value ``"!function x.y"`` becomes the YAML tag itself."""
    path = env["tasks"] / name
    text = re.sub(r"'(!function [\w.]+)'", r"\1", yaml.safe_dump(config))
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, include_paths: tuple[str, ...] = ()) -> str:
    with pytest.raises(TaskSpecError) as err:
        resolve_task(str(path), include_paths)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_multiple_choice_yaml_renders_lm_eval_prompts(env: dict[str, Path]) -> None:
    spec = resolve_task(str(_write(env, MC)))
    assert (spec.name, spec.version, spec.dimension, spec.metrics) == ("toy_mc", "2.0", "math", ["acc"])
    items = Task(spec, env["data"]).items()
    assert len(items) == 8
    first = items[0]
    # description + the first two train docs (first_n) + this doc, lm-eval's delimiters
    assert first.context == (
        "Questions about sums.\n\nQ: What is 0 + 1?\nA: 1\n###\nQ: What is 1 + 1?\nA: 2\n###\nQ: What is 4 + 1?\nA:"
    )
    assert first.continuations == (" 4", " 5", " 6") and first.target == 1
    description = "Questions about sums.\n\n"
    assert first.chat_messages == (("system", description), ("user", first.context.removeprefix(description)))


def test_generate_yaml_maps_generation_filters_and_exact_match_options(env: dict[str, Path]) -> None:
    spec = resolve_task(str(_write(env, GEN)))
    assert spec.output_type == "generate" and spec.metrics == ["exact_match"]
    assert spec.generation is not None and (spec.generation.stop, spec.generation.max_tokens) == (["\n"], 32)
    assert spec.generation.temperature == 0.0
    ext = spec.extraction
    assert ext is not None and (ext.pattern, ext.group_select, ext.miss_value) == ("#### (\\d+)", 0, INVALID)
    assert (ext.ignore_regexes, ext.ignore_case, ext.flexible) == ([","], True, False)
    assert "lm-eval's filter 'strict' is reported as exact_match." in spec.deviations
    item = Task(spec, env["data"]).items(limit=1)[0]
    assert (item.context, item.target, item.stop) == ("What is 4 + 1?", "5", ("\n",))


def test_generation_defaults_and_sampling_follow_lm_eval(env: dict[str, Path]) -> None:
    config = {k: v for k, v in GEN.items() if k not in ("generation_kwargs", "filter_list", "metric_list")}
    spec = resolve_task(str(_write(env, {**config, "fewshot_delimiter": "\n\n\n"})))
    # no generation_kwargs: lm-eval stops at the few-shot delimiter, 256 tokens, greedy
    assert spec.generation is not None and spec.generation.stop == ["\n\n\n"] and spec.generation.max_tokens == 256
    assert spec.extraction is None and spec.metrics == ["exact_match"]  # raw output, lm-eval's take_first
    sampled = resolve_task(str(_write(env, {**config, "generation_kwargs": {"temperature": 0.7, "top_p": 0.9}})))
    assert sampled.generation is not None and (sampled.generation.temperature, sampled.generation.top_p) == (0.7, 0.9)
    greedy = resolve_task(str(_write(env, {**config, "generation_kwargs": {"do_sample": False, "temperature": 0.7}})))
    assert greedy.generation is not None and greedy.generation.temperature == 0.0


def test_gsm8k_style_second_filter_is_the_flexible_metric(env: dict[str, Path]) -> None:
    flexible = {
        "name": "flexible-extract",
        "filter": [
            {"function": "regex", "group_select": -1, "regex_pattern": LAST_NUMBER_PATTERN},
            {"function": "take_first"},
        ],
    }
    spec = resolve_task(str(_write(env, {**GEN, "filter_list": [*GEN["filter_list"], flexible]})))
    assert spec.extraction is not None and spec.extraction.flexible
    assert scoring.LAST_NUMBER_PATTERN == LAST_NUMBER_PATTERN and scoring.INVALID == INVALID
    other = {**flexible, "filter": [{"function": "regex", "regex_pattern": "(\\d+)"}, {"function": "take_first"}]}
    message = _error(_write(env, {**GEN, "filter_list": [*GEN["filter_list"], other]}))
    assert message.endswith(
        "task.yaml: filter_list[1]: only gsm8k's flexible-extract (the last number) is supported second"
    )


@pytest.mark.parametrize(
    ("options", "pairs"),
    [
        ({"ignore_punctuation": True}, [("Paris.", "paris"), ("a,b!", "ab"), ("x-y", "xy")]),
        ({"ignore_punctuation": True, "ignore_case": True}, [("Paris.", "paris"), ("N.Y.", "ny"), ("É!", "é")]),
        ({"ignore_numbers": True, "regexes_to_ignore": ["\\s+"]}, [("a 1 b", "ab2"), ("12", ""), ("a", "b")]),
    ],
)
def test_exact_match_options_agree_with_lm_evals_metric(
    env: dict[str, Path], options: dict[str, Any], pairs: list[tuple[str, str]]
) -> None:
    metrics = pytest.importorskip("lm_eval.api.metrics")
    spec = resolve_task(str(_write(env, {**GEN, "metric_list": [{"metric": "exact_match", **options}]})))
    ext = spec.extraction
    assert ext is not None
    for prediction, reference in pairs:
        theirs = metrics.exact_match_hf_evaluate([prediction], [reference], **options)["exact_match"]
        ours = exact_match(prediction, reference, ignore_regexes=ext.ignore_regexes, ignore_case=ext.ignore_case)
        assert float(ours) == theirs, (prediction, reference)


def test_includes_merge_under_local_keys_and_are_recorded(env: dict[str, Path]) -> None:
    base = {k: v for k, v in MC.items() if k != "task"}
    (env["tasks"] / "_template_yaml").write_text(yaml.safe_dump(base))
    path = _write(env, {"include": "_template_yaml", "task": "toy_sub", "num_fewshot": 0})
    spec = resolve_task(str(path))
    assert spec.name == "toy_sub" and spec.fewshot.num_fewshot == 0 and spec.fewshot.sampler == "first_n"
    protocol = Task(spec, env["data"]).protocol()
    files = protocol["imported_from"]["files"]
    assert [Path(f["path"]).name for f in files] == ["task.yaml", "_template_yaml"]
    assert all(re.fullmatch("[0-9a-f]{64}", f["sha256"]) for f in files)
    # an error in the included file names the included file
    (env["tasks"] / "_template_yaml").write_text(yaml.safe_dump({**base, "metric_list": [{"metric": "bleu"}]}))
    assert _error(path).startswith(f"{env['tasks'] / '_template_yaml'}: metric_list[0].metric: 'bleu' is not supported")


def test_include_found_under_include_path_and_cycles_refused(env: dict[str, Path], tmp_path: Path) -> None:
    shared = tmp_path / "shared_templates" / "mmlu"
    shared.mkdir(parents=True)
    (shared / "_template_yaml").write_text(yaml.safe_dump({k: v for k, v in MC.items() if k != "task"}))
    path = _write(env, {"include": "_template_yaml", "task": "toy_sub"})
    assert _error(path) == f"{path}: include: '_template_yaml' not found (next to it)"
    assert resolve_task(str(path), (str(tmp_path / "shared_templates"),)).name == "toy_sub"
    _write(env, {"include": "b.yaml", "task": "a"}, "a.yaml")
    _write(env, {"include": "a.yaml"}, "b.yaml")
    assert "include: cycle (a.yaml -> b.yaml -> a.yaml)" in _error(env["tasks"] / "a.yaml")


def test_include_path_task_names_take_precedence_over_builtins(env: dict[str, Path]) -> None:
    _write(env, {**MC, "task": "arc_challenge"}, "mine.yaml")
    _write(env, {"group": "my_group", "task": ["arc_challenge"]}, "group.yaml")
    _write(env, {"task": "broken", "include": "missing.yaml"}, "broken.yaml")  # skipped by the index
    include = (str(env["tasks"]),)
    assert resolve_task("arc_challenge", include).imported_from is not None
    assert resolve_task("arc_challenge").imported_from is None  # the built-in without --include-path
    with pytest.raises(TaskSpecError, match=r"group\.yaml: group: lm-eval groups are not supported"):
        resolve_task("my_group", include)
    with pytest.raises(UnknownTaskError, match="not a built-in task, a task under --include-path, or a YAML"):
        resolve_task("arc_challeng", include)
    with pytest.raises(ConfigError, match=r"--include-path: .*nowhere is not a directory"):
        resolve_task("arc_challenge", (str(env["tasks"] / "nowhere"),))


def test_fewshot_pool_and_exclusion_follow_lm_evals_split_rule(env: dict[str, Path]) -> None:
    random_mc = {**MC, "fewshot_config": {"sampler": "default"}}
    # fewshot_split == test_split: the evaluated docs, current doc excluded (lm-eval's n + 1 draw)
    same = resolve_task(str(_write(env, {**random_mc, "fewshot_split": "test"})))
    assert same.fewshot.source is None and same.fewshot.exclude_eval_doc is True
    assert Task(same, env["data"]).protocol()["fewshot"]["source"] == "evaluated docs, current doc excluded"
    # no train/validation split: lm-eval falls back to the test docs and does NOT exclude
    config = {k: v for k, v in random_mc.items() if k != "training_split"}
    fallback = resolve_task(str(_write(env, config)))
    assert fallback.fewshot.source is None and fallback.fewshot.exclude_eval_doc is False
    protocol = Task(fallback, env["data"]).protocol()
    assert protocol["fewshot"]["source"] == "evaluated docs, current doc included"
    assert protocol["fewshot"]["exclude_eval_doc"] is False
    # validation evaluated, train pool: None == None in lm-eval's rule, so it excludes
    val = {**random_mc, "test_split": None, "validation_split": "test"}
    assert resolve_task(str(_write(env, val))).fewshot.exclude_eval_doc is True
    # the built-ins' protocols carry neither key (their hashes do not move)
    builtin = Task(resolve_task("arc_challenge"), env["data"]).protocol()
    assert "exclude_eval_doc" not in builtin["fewshot"] and "imported_from" not in builtin


def test_inline_samples_and_fewshot_target(env: dict[str, Path]) -> None:
    samples = [{"question": "Q1?", "answer": "#### 7", "cot": "because. 7"}]
    config = {
        **GEN,
        "num_fewshot": 1,
        "fewshot_config": {"sampler": "first_n", "samples": samples, "doc_to_target": "{{cot}}"},
    }
    spec = resolve_task(str(_write(env, config)))
    assert spec.prompt.fewshot_target == "{{cot}}"
    item = Task(spec, env["data"]).items(limit=1)[0]
    assert item.context == "Q1? because. 7\n\nWhat is 4 + 1?"


def test_csv_dataset_records_the_text_cells_deviation(env: dict[str, Path]) -> None:
    (env["data"] / "toy" / "test.csv").write_text("question,label\nWhat?,1\n")
    config = {
        **MC,
        "dataset_path": "csv",
        "dataset_kwargs": {"data_files": "toy/test.csv"},
        "test_split": "train",
        "doc_to_choice": ["no", "yes"],
        "num_fewshot": 0,
    }
    config.pop("training_split")
    spec = resolve_task(str(_write(env, config)))
    assert spec.source.model_dump()["format"] == "csv"
    assert any("CSV cells are read as text" in d for d in spec.deviations)
    assert Task(spec, env["data"]).items()[0].continuations == (" no", " yes")


def test_hub_dataset_maps_to_the_offline_hf_source(env: dict[str, Path]) -> None:
    config = {
        **MC,
        "dataset_path": "allenai/ai2_arc",
        "dataset_name": "ARC-Challenge",
        "dataset_kwargs": {"revision": "abc"},
    }
    spec = resolve_task(str(_write(env, config)))
    assert spec.source.model_dump() == {
        "kind": "hf",
        "dataset": "allenai/ai2_arc",
        "name": "ARC-Challenge",
        "split": "test",
        "revision": "abc",
    }
    assert spec.fewshot.source is not None and spec.fewshot.source.model_dump()["split"] == "train"


FN = "!function utils.fn"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"process_docs": FN}, "process_docs: !function utils.fn: Python code is not supported"),
        ({"doc_to_text": FN}, "doc_to_text: !function utils.fn: Python code is not supported"),
        ({"metric_list": [{"metric": FN}]}, "metric_list[0].metric: !function utils.fn: Python code is not"),
        ({"metric_list": [{"metric": "bleu"}]}, "metric_list[0].metric: 'bleu' is not supported here"),
        (
            {"metric_list": [{"metric": "acc", "aggregation": "median"}]},
            "metric_list[0].aggregation: 'median' is not supported",
        ),
        (
            {"metric_list": [{"metric": "acc", "higher_is_better": False}]},
            "metric_list[0].higher_is_better: only true is supported",
        ),
        ({"process_results": "x"}, "process_results: not supported (custom scoring code)"),
        ({"gen_prefix": "Answer:"}, "gen_prefix: not supported (an assistant prefix)"),
        ({"frobnicate": 1}, "frobnicate: not in agimeter's supported subset of lm-eval task fields"),
        ({"output_type": "loglikelihood"}, "output_type: 'loglikelihood' is not supported"),
        ({"fewshot_config": {"sampler": "balanced"}}, "fewshot_config.sampler: 'balanced' is not supported"),
        ({"fewshot_config": {"fewshot_indices": [1]}}, "fewshot_config.fewshot_indices: not supported"),
        ({"fewshot_config": {"target_delimiter": ": "}}, "fewshot_config.target_delimiter: differs from"),
        ({"dataset_path": "text"}, "dataset_path: 'text' is not supported"),
        (
            {"dataset_kwargs": {"data_files": {"dev": "x.jsonl"}}},
            "test_split: split 'test' is not in dataset_kwargs.data_files (it has: dev)",
        ),
        (
            {"dataset_kwargs": {"data_files": {"test": ["a.jsonl", "b.jsonl"], "train": "t.jsonl"}}},
            "dataset_kwargs.data_files.test: several files per split are not supported",
        ),
        ({"dataset_kwargs": {"data_files": "x.jsonl", "sep": ";"}}, "dataset_kwargs.sep: not supported"),
        ({"doc_to_text": 0}, "doc_to_text: an index (one context per choice"),
        ({"doc_to_target": ["a", "b"]}, "doc_to_target: a list (several targets) is not supported"),
        ({"doc_to_text": "{{question"}, "doc_to_text: template syntax error"),
        ({"task": ["a", "b"]}, "task: a list of tasks (an lm-eval group) is not supported"),
        ({"repeats": 2}, "repeats: only 1 is supported, got 2"),
        (
            {"filter_list": [{"name": "x", "filter": [{"function": "take_first"}]}]},
            "filter_list: filters apply to generate_until tasks only",
        ),
        ({"metadata": {"dimension": "vibes"}}, "metadata.dimension: must be one of knowledge"),
        ({"test_split": None}, "test_split: neither test_split nor validation_split is set"),
    ],
)
def test_outside_the_subset_is_one_line_naming_file_and_field(
    env: dict[str, Path], change: dict[str, Any], expected: str
) -> None:
    path = _write(env, {**MC, **change})
    assert _error(path).startswith(f"{path}: {expected}")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"generation_kwargs": {"top_k": 5}}, "generation_kwargs.top_k: not supported"),
        ({"generation_kwargs": {"do_sample": True}}, "generation_kwargs.do_sample: true needs temperature > 0"),
        (
            {"filter_list": [{"name": "x", "filter": [{"function": "lowercase"}, {"function": "take_first"}]}]},
            "filter_list[0].filter: ['lowercase', 'take_first'] is not supported",
        ),
        (
            {
                "filter_list": [
                    {"name": "x", "filter": [{"function": "regex", "regex_pattern": "(a"}, {"function": "take_first"}]}
                ]
            },
            "filter_list[0].filter[0].regex_pattern: invalid regular expression '(a'",
        ),
        ({"filter_list": None}, "metric_list[0]: exact_match options need a regex filter in filter_list"),
        (
            {"metric_list": [{"metric": "exact_match", "ignore_whitespace": True}]},
            "metric_list[0].ignore_whitespace: not supported for exact_match",
        ),
    ],
)
def test_generation_outside_the_subset_is_one_line(env: dict[str, Path], change: dict[str, Any], expected: str) -> None:
    config = {k: v for k, v in {**GEN, **change}.items() if v is not None}
    path = _write(env, config)
    assert _error(path).startswith(f"{path}: {expected}")


def test_hellaswag_process_docs_is_recognised_only_by_content(env: dict[str, Path]) -> None:
    lm_eval = pytest.importorskip("lm_eval")
    utils = Path(lm_eval.__file__).parent / "tasks" / "hellaswag" / "utils.py"
    config = {k: v for k, v in MC.items() if k not in ("doc_to_choice", "doc_to_target")}
    config.update(doc_to_choice="choices", doc_to_target="{{label}}")
    path = _write(env, {**config, "process_docs": "!function utils.process_docs"})
    (env["tasks"] / "utils.py").write_bytes(utils.read_bytes())
    assert resolve_task(str(path)).prompt.preprocess == "hellaswag"
    (env["tasks"] / "utils.py").write_bytes(utils.read_bytes() + b"\nprint('side effect')\n")
    assert "process_docs: !function utils.process_docs: Python code is not supported" in _error(path)


def test_function_tag_in_an_agimeter_spec_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "native.yaml"
    path.write_text("name: x\nversion: '1'\nprompt:\n  doc_to_text: !function utils.f\n")
    assert _error(path) == f"{path}: prompt.doc_to_text: !function (Python code) is not supported in a task spec"
