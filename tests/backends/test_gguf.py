"""gguf: backend (llama.cpp in process) against the HF backend on the same tiny random weights,
and the tiny GGUF builder against transformers' GGUF loader."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from agimeter.backends.base import Backend, GenRequest, GenResult, LoglikRequest
from agimeter.backends.gguf import GGUFBackend, create
from agimeter.backends.hf import HFBackend
from agimeter.errors import ConfigError, ModelError

pytestmark = pytest.mark.slow

Cli = Callable[..., subprocess.CompletedProcess[str]]

FEWSHOT = (
    "The following are multiple choice questions (with answers) about biology.\n\n"
    "Question: Which organ pumps blood?\nA. Lung\nB. Heart\nC. Skin\nD. Bone\nAnswer: B\n\n"
)
SAMPLES = (
    "The quick brown fox jumps over the lazy dog.",
    "In 1969, two astronauts walked on the Moon; the mission lasted 8 days, 3 hours and 18 minutes.",
    "Prices rose by 3.5% in 2021, then fell (slightly) in 2022!",
    "def add(a, b):\n    return a + b  # 0 1 2 3 42 100 2048 123456789\n",
    "Q: What is 12 + 30? A: 42.\n\n\nQ: Is it raining?   A: No, it's sunny; take a hat & some water.",
    "  leading spaces, trailing spaces  \t tabs\tand\r\nCRLF",
    "Don't, won't, they'll, I'm, we've, she'd: APOSTROPHES'S",
    "naïve café – “quotes” and emoji 🙂 in 東京",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
)


@pytest.fixture(scope="module")
def llama_cpp() -> ModuleType:
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'agimeter[gguf]')")


@pytest.fixture(scope="module")
def backend(llama_cpp: ModuleType, tiny_gguf: Path) -> Iterator[GGUFBackend]:
    # Options arrive as strings from --model-arg.
    loaded = create(str(tiny_gguf), kv_f32="true", n_threads="2", dtype="auto", device="auto")
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def hf_backend(tiny_model_dir: Path) -> HFBackend:
    return HFBackend.load(str(tiny_model_dir), dtype="float32", device="cpu")


def parity_requests() -> list[LoglikRequest]:
    questions = ("What is 12 + 30?", "Which planet is closest to the sun?", "Is water wet?")
    requests = [
        LoglikRequest(context=f"{FEWSHOT}Question: {q}\nAnswer:", continuation=f" {letter}")
        for q in questions
        for letter in "ABCD"
    ]
    requests += [
        LoglikRequest(context="A man is sitting on a roof. He", continuation=ending)
        for ending in (" is ripping tiles off the roof.", " starts pulling up roofing.", " lifts the weight.")
    ]
    requests += [
        LoglikRequest(context="The quick brown fox ", continuation="jumps over the lazy dog."),
        LoglikRequest(context="Answer:  ", continuation="42"),
        LoglikRequest(context="", continuation="The man walks to the river."),
        LoglikRequest(context="", continuation=" A"),
        LoglikRequest(context="Q: Is it raining? A:", continuation=" No, it's sunny."),
    ]
    return requests


def greedy_requests(hf_backend: HFBackend) -> list[LoglikRequest]:
    """Continuations the model itself produces, so that is_greedy is True for some requests."""
    prompts = ["The teacher studies", "Question: Which planet", "The man walks to", "Answer:"]
    outputs = hf_backend.generate([GenRequest(prompt=p, max_tokens=1) for p in prompts])
    return [LoglikRequest(context=p, continuation=o.text) for p, o in zip(prompts, outputs, strict=True) if o.text]


def test_built_gguf_loads_in_transformers_with_identical_weights(tiny_gguf: Path, tiny_model_dir: Path) -> None:
    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agimeter.testing.gguf_model import TOKENIZER_PRE

    reader = gguf.GGUFReader(tiny_gguf)
    fields = {name: reader.get_field(name) for name in ("general.architecture", "tokenizer.ggml.pre")}
    assert {k: v.contents() for k, v in fields.items() if v} == {
        "general.architecture": "qwen2",
        "tokenizer.ggml.pre": TOKENIZER_PRE,
    }
    assert sorted(p.name for p in tiny_gguf.parent.iterdir()) == [tiny_gguf.name]  # no temporary left behind

    loaded = AutoModelForCausalLM.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name, dtype=torch.float32)
    AutoTokenizer.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name)
    reference = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    ours, theirs = loaded.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    for name, tensor in theirs.items():
        assert torch.equal(ours[name], tensor), name


def test_tokenization_matches_hf(backend: GGUFBackend, hf_backend: HFBackend) -> None:
    for text in SAMPLES:
        assert backend.tok_encode(text) == hf_backend.tok_encode(text), text
    for request in parity_requests():
        assert backend.encode_pair(request.context, request.continuation) == hf_backend.encode_pair(
            request.context, request.continuation
        ), request


def test_loglikelihood_matches_hf_backend(backend: GGUFBackend, hf_backend: HFBackend) -> None:
    requests = parity_requests() + greedy_requests(hf_backend)
    assert len(requests) >= 20
    ours = backend.loglikelihood(requests)
    reference = hf_backend.loglikelihood(requests)
    deltas = [abs(a.logprob - b.logprob) for a, b in zip(ours, reference, strict=True)]
    print(f"max |logprob gguf - hf| = {max(deltas):.2e}")
    for request, a, b, delta in zip(requests, ours, reference, deltas, strict=True):
        assert delta < 1e-4, request
        assert (a.is_greedy, a.num_tokens, a.usage.prompt_tokens) == (b.is_greedy, b.num_tokens, b.usage.prompt_tokens)
    assert any(r.is_greedy for r in ours) and not all(r.is_greedy for r in ours)


def test_shared_prefix_is_computed_once_and_order_does_not_matter(
    llama_cpp: ModuleType, tiny_gguf: Path, request: pytest.FixtureRequest
) -> None:
    fresh = create(str(tiny_gguf), kv_f32="1")
    request.addfinalizer(fresh.close)
    context = FEWSHOT * 4 + "Question: Which planet is closest to the sun?\nAnswer:"
    choices = [LoglikRequest(context=context, continuation=f" {c}. {w}") for c, w in zip("ABCD", "abcd", strict=True)]
    context_tokens = len(fresh.tok_encode(context))
    assert context_tokens > 100
    results = fresh.loglikelihood(choices)
    computed = [r.usage.computed_prompt_tokens or 0 for r in results]
    assert sum(computed) < 1.5 * context_tokens, computed
    assert all(0 <= c <= r.usage.prompt_tokens for c, r in zip(computed, results, strict=True))

    requests = parity_requests() + choices
    baseline = fresh.loglikelihood(requests)
    permutation = list(range(len(requests)))
    random.Random(0).shuffle(permutation)
    shuffled = fresh.loglikelihood([requests[i] for i in permutation])
    for position, index in enumerate(permutation):
        assert shuffled[position].logprob == baseline[index].logprob, requests[index]
        assert shuffled[position].is_greedy == baseline[index].is_greedy


def test_loglikelihood_callbacks_usage_and_timing(backend: GGUFBackend) -> None:
    requests = parity_requests()
    seen: dict[int, float] = {}
    results = backend.loglikelihood(requests, on_result=lambda i, r: seen.__setitem__(i, r.logprob))
    assert seen == {i: r.logprob for i, r in enumerate(results)}
    for result in results:
        assert result.usage.computed_prompt_tokens is not None
        assert 0 <= result.usage.computed_prompt_tokens <= result.usage.prompt_tokens
        assert result.timing.total_s > 0 and result.timing.prefill_s == result.timing.total_s


GEN_PROMPTS = (
    "The man walks to",
    "Question: Which planet is closest to the sun?\nAnswer:",
    "A",
    "Water boils at 100 degrees Celsius at sea level.",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
)


def outcome(result: GenResult) -> tuple[object, ...]:
    """A generation result without its timing and cache-dependent usage."""
    return result.text, result.finish_reason, result.usage.prompt_tokens, result.usage.completion_tokens


def test_greedy_generation_matches_hf_backend(backend: GGUFBackend, hf_backend: HFBackend) -> None:
    requests = [GenRequest(prompt=p, max_tokens=12) for p in GEN_PROMPTS]
    ours = backend.generate(requests)
    reference = hf_backend.generate(requests)
    for request, a, b in zip(requests, ours, reference, strict=True):
        assert outcome(a) == outcome(b), request


def test_generation_stops_limits_and_repeats(backend: GGUFBackend) -> None:
    prompt = "The man walks to"
    free = backend.generate([GenRequest(prompt=prompt, max_tokens=16)])[0]
    assert len(free.text) > 4
    # Cut at the earliest stop string in the text, not at the first one listed.
    stops = ("\x00never", free.text[-2:], free.text[2:4])
    stopped = backend.generate([GenRequest(prompt=prompt, stop=stops, max_tokens=16)])[0]
    assert stopped.text == free.text[: min(free.text.index(s) for s in stops[1:])]
    assert stopped.finish_reason == "stop"
    assert stopped.usage.completion_tokens < free.usage.completion_tokens

    requests = [GenRequest(prompt=p, max_tokens=n) for p, n in zip(GEN_PROMPTS, (1, 3, 7, 5, 9), strict=False)]
    first, second = backend.generate(requests), backend.generate(requests)
    assert [outcome(r) for r in first] == [outcome(r) for r in second]
    for request, result in zip(requests, first, strict=True):
        assert 1 <= result.usage.completion_tokens <= request.max_tokens
        if result.finish_reason == "length":
            assert result.usage.completion_tokens == request.max_tokens
        assert result.usage.prompt_tokens > 0
        assert result.timing.first_token_s is not None and result.timing.first_token_s > 0
        assert result.timing.total_s == pytest.approx(result.timing.prefill_s + result.timing.decode_s)


def test_model_info_options_and_chat_template(backend: GGUFBackend, hf_backend: HFBackend, tiny_gguf: Path) -> None:
    info = backend.info
    assert isinstance(backend, Backend)
    assert info.identity == "sha256:" + hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    assert (info.backend, info.name, info.dtype, info.device) == ("gguf", "tiny-qwen2", "F32", "cpu")
    assert info.num_parameters == hf_backend.info.num_parameters
    assert info.max_length == 2048 and info.extra["kv_cache"] == "f32"
    assert info.has_chat_template
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert backend.apply_chat_template(messages) == hf_backend.apply_chat_template(messages)

    short = create(str(tiny_gguf), n_ctx="256")  # llama.cpp rounds the context up to a multiple of 256
    assert short.info.max_length == 256 and short.info.extra["kv_cache"] == "f16"
    # Too long for the context: truncated from the left, still scored and generated.
    long = LoglikRequest(context="The man walks to the river. " * 60, continuation=" again")
    assert short.loglikelihood([long])[0].usage.prompt_tokens == 257
    assert short.generate([GenRequest(prompt=long.context, max_tokens=8)])[0].usage.prompt_tokens == 248
    short.close()
    for bad in ({"kv_f32": "maybe"}, {"n_ctx": "0"}, {"flash": "1"}, {"device": "cuda"}):
        with pytest.raises(ConfigError, match="invalid gguf backend option"):
            create(str(tiny_gguf), **bad)


def test_default_context_is_the_models_capped_at_4096(
    llama_cpp: ModuleType, tiny_model_dir: Path, tmp_path: Path
) -> None:
    from agimeter.testing.gguf_model import build_tiny_gguf

    long_dir = tmp_path / "long-context"
    shutil.copytree(tiny_model_dir, long_dir)
    config = json.loads((long_dir / "config.json").read_text())
    (long_dir / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 8192}))
    loaded = create(str(build_tiny_gguf(long_dir, tmp_path / "long.gguf")))
    assert loaded.info.max_length == 4096
    loaded.close()


def test_missing_file_or_library_is_a_one_line_model_error(
    tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelError, match="not found") as err:
        create(str(tmp_path / "absent.gguf"))
    assert str(tmp_path / "absent.gguf") in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(ModelError, match=r"pip install 'agimeter\[gguf\]'"):
        create(str(tiny_gguf))


def cli_args(toy: dict[str, Path], model: str) -> list[str]:
    return [
        "run",
        "--model",
        model,
        "--data-dir",
        str(toy["data"]),
        "--store",
        f"sqlite:///{toy['store']}",
        "--tasks",
        f"{toy['mc']},{toy['gen']}",
        "--limit",
        "6",
    ]


def test_cli_run_end_to_end(llama_cpp: ModuleType, agimeter: Cli, toy_env: dict[str, Path], tiny_gguf: Path) -> None:
    res = agimeter(*cli_args(toy_env, f"gguf:{tiny_gguf}"), "--model-arg", "kv_f32=true", "--format", "json")
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["run"]["status"] == "finished"
    assert payload["measurement"]["items_computed"] == 12
    export = agimeter("export", payload["run"]["id"], "--store", f"sqlite:///{toy_env['store']}")
    rows = [json.loads(line) for line in export.stdout.splitlines()]
    assert sorted((r["task"], r["doc_id"]) for r in rows) == [(t, i) for t in ("toy_gen", "toy_mc") for i in range(6)]
    for row in rows:
        assert row["prompt_tokens"] > 0
        if row["task"] == "toy_mc":
            assert len(row["loglikelihoods"]) == 4 and all(lp < 0 for lp in row["loglikelihoods"])


def test_cli_missing_file_fails_with_one_line(agimeter: Cli, toy_env: dict[str, Path]) -> None:
    missing = toy_env["tmp"] / "nowhere.gguf"
    res = agimeter(*cli_args(toy_env, f"gguf:{missing}"))
    assert res.returncode != 0
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "not found" in lines[0] and str(missing) in lines[0], res.stderr
